import Core

/// The errors of the Factors module (factors and the sensor-module catalog); each case's code, status and detail
/// are mapped here only.
public enum FactorError: PlatformError, Equatable {
    /// 404 `FACTOR_NOT_FOUND`: no such factor on this device.
    case notFound(id: Int64)
    /// 404 `FACTOR_NOT_FOUND`: a `factor_id` path segment that is not a positive integer names no factor.
    case malformedID(String)
    /// 409 `AGRI_ID_EXISTS`: another factor uses this agri_id.
    case agriIDTaken(String)
    /// 404 `MODULE_NOT_FOUND`: no such module in the catalog.
    case moduleNotFound(id: Int64)
    /// 404 `MODULE_NOT_FOUND`: a `module_id` path segment that is not a positive integer names no module.
    case malformedModuleID(String)

    public var status: Int {
        switch self {
        case .notFound, .malformedID, .moduleNotFound, .malformedModuleID: 404
        case .agriIDTaken: 409
        }
    }

    public var code: String {
        switch self {
        case .notFound, .malformedID: "FACTOR_NOT_FOUND"
        case .agriIDTaken: "AGRI_ID_EXISTS"
        case .moduleNotFound, .malformedModuleID: "MODULE_NOT_FOUND"
        }
    }

    public var detail: String {
        switch self {
        case .notFound(let id): "Factor \(id) does not exist on this device"
        case .malformedID(let text): "No resource with factor_id \(text)"
        case .agriIDTaken(let agriID): "agri_id \(agriID) is already used by another factor"
        case .moduleNotFound(let id): "Module \(id) does not exist"
        case .malformedModuleID(let text): "No resource with module_id \(text)"
        }
    }
}
