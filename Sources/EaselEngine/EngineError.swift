import Foundation

/// Every failure the engine reports: a message that names the file, tensor or config key at fault.
public struct EngineError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
