import Auth
import Core
import Foundation
import Persistence
import Projects

extension DeviceService {
    /// Queues a control action (DESIGN §5.2) after, in order: the scope check (404/403), the parameters
    /// (already validated into `action`), the capability (422 `INVALID_COMMAND`) and the online check
    /// (503 `DEVICE_OFFLINE`). Returns the queued commands.
    public func queue(_ action: ControlAction, projectID: String, pk: Int64, caller: Caller) throws -> [DeviceCommand] {
        let (project, device) = try resolveDevice(projectID: projectID, pk: pk, caller: caller, access: .write)
        if let capability = action.requiredCapability, !device.hasCapability(capability) {
            throw DeviceError.unsupportedCommand(pk: device.id, capability: capability)
        }
        let nowSeconds = clock.unixSeconds()
        guard device.isOnline(now: nowSeconds, offlineAfter: offlineAfter) else {
            throw DeviceError.offline(pk: device.id, offlineAfter: offlineAfter)
        }
        let time = now
        let expiresAt = nowSeconds + commandLifetime
        return try db.write { tx in
            try ensureDevice(device.id, in: project, tx: tx)   // a racing unbind or move wins: nothing is queued
            let store = CommandStore(db: tx)
            var queued: [DeviceCommand] = []
            for (kind, text) in action.commands {
                let command = try store.insert(devicePK: device.id, projectPK: project.pk, kind: kind, command: text,
                                               createdBy: caller.username, createdAt: time,
                                               expiresAt: expiresAt)
                try bus.publish(DeviceCommandQueued(devicePK: device.id, commandID: command.id, kind: kind), in: tx)
                queued.append(command)
            }
            return queued
        }
    }

    /// A device's command history in this project (commands queued while it was in another project stay there),
    /// newest first.
    public func commands(projectID: String, pk: Int64, caller: Caller, page: PageRequest) throws -> PageResult<DeviceCommand> {
        let (project, device) = try resolveDevice(projectID: projectID, pk: pk, caller: caller, access: .read)
        try expireCommands(devicePK: device.id)
        let (count, items) = try db.read {
            try CommandStore(db: $0).history(devicePK: device.id, projectPK: project.pk, limit: page.limit, offset: page.offset)
        }
        return PageResult(count: count, items: items)
    }

    /// Expires unfinished commands past their lifetime (one device, or all with nil: the scheduler job).
    public func expireCommands(devicePK: Int64? = nil) throws {
        let nowSeconds = clock.unixSeconds()
        let time = now
        try db.write { tx in try CommandStore(db: tx).expire(devicePK: devicePK, now: nowSeconds, at: time) }
    }
}
