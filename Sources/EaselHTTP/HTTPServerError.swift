import Glibc

/// Why the server could not start.
public enum HTTPServerError: Error, CustomStringConvertible, Equatable {
    case invalidAddress(String)
    case system(String, Int32)
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidAddress(let what): return "invalid listen address: \(what)"
        case .system(let call, let code): return "\(call) failed: \(String(cString: strerror(code)))"
        case .alreadyStarted: return "server already started"
        }
    }
}
