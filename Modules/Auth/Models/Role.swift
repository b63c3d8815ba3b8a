/// A user's role in their organization; tokens carry a role no higher than their user's.
public enum Role: String, Sendable, Comparable, CaseIterable {
    case viewer, manager, owner

    var rank: Int {
        switch self {
        case .viewer: 0
        case .manager: 1
        case .owner: 2
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}
