import EaselJSON
import Foundation
import XCTest

/// The job calls the daemon tests make over loopback.
extension LoopbackClient {
    /// POSTs a generate body; fails the test unless it is accepted (202) and returns the job id.
    public static func submit(port: Int, _ body: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let a = try json(port: port, "POST", "/v1/generate", body)
        XCTAssertEqual(a.status, 202, a.text, file: file, line: line)
        return try XCTUnwrap(a.json["id"]?.stringValue, file: file, line: line)
    }

    /// The job object, or null when it cannot be read.
    public static func job(port: Int, _ id: String) throws -> JSONValue {
        try request(port: port, "GET", "/v1/jobs/\(id)").json
    }

    /// Waits until every job has `status`.
    public static func wait(port: Int, _ ids: [String], for status: String = "succeeded", timeout: TimeInterval = 120,
                            file: StaticString = #filePath, line: UInt = #line) {
        eventually(timeout: timeout, "jobs \(status)", file: file, line: line) {
            ids.allSatisfy { (try? job(port: port, $0)["status"]?.stringValue) == status }
        }
    }
}
