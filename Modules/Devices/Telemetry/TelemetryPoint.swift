/// One telemetry point as a request gave it, validated: a full agri_id, the value and its time (Unix seconds).
public struct TelemetryPoint: Sendable, Equatable {
    public let agriID: String
    public let value: Double
    public let t: Int64

    public init(agriID: String, value: Double, t: Int64) {
        self.agriID = agriID
        self.value = value
        self.t = t
    }
}
