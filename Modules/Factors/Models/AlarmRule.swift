import Core

/// The threshold rule of one alarm-enabled factor, as Alerts' rule engine holds it in memory: a value above
/// `max` or below `min` is out of band; a value equal to a threshold is inside.
public struct AlarmRule: Sendable, Equatable {
    public let factorID: Int64
    public let devicePK: Int64
    public let projectPK: Int64
    public let agriID: String
    public let name: String
    public let unit: String
    public let decimals: Int64
    public let min: Double?
    public let max: Double?

    public init(factorID: Int64, devicePK: Int64, projectPK: Int64, agriID: String, name: String, unit: String, decimals: Int64,
                min: Double?, max: Double?) {
        self.factorID = factorID
        self.devicePK = devicePK
        self.projectPK = projectPK
        self.agriID = agriID
        self.name = name
        self.unit = unit
        self.decimals = decimals
        self.min = min
        self.max = max
    }
}
