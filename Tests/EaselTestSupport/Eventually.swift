import Foundation
import XCTest

/// Waits, polling every few milliseconds (never one long sleep), until `condition` holds; fails the test after
/// `timeout` seconds.
public func eventually(timeout: TimeInterval = 20, _ message: String = "condition", file: StaticString = #filePath,
                       line: UInt = #line, _ condition: () throws -> Bool) rethrows {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if try condition() { return }
        usleep(5_000)
    }
    XCTFail("timed out waiting for \(message)", file: file, line: line)
}

/// A fresh folder under the system's temporary directory, named after the test.
public func makeTempDir(_ name: String = #function) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("easel-tests-\(UUID().uuidString.prefix(8))-\(name.filter(\.isLetter))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}
