import Core
import HTTP

extension DeviceService {
    /// Routes of the gateway API: the handler receives the `Device` whose `device_id:device_key` came in HTTP Basic
    /// (401 with a `WWW-Authenticate` challenge before the handler otherwise).
    public var deviceBasic: Authenticator<Device> {
        Authenticator(scheme: .deviceBasic) { [self] request in
            let unauthorized = APIError.unauthorized("Device credentials required: HTTP Basic device_id:device_key",
                                                     challenge: "Basic realm=\"gateway\"")
            guard let (deviceID, key) = AuthorizationHeader.basic(request),
                  let device = try authenticateDevice(deviceID: deviceID, key: key) else { throw unauthorized }
            return device
        }
    }
}
