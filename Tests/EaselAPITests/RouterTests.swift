import XCTest
@testable import EaselAPI

final class RouterTests: XCTestCase {
    func found(_ method: String, _ path: String) -> (Route.Handler, [String: String])? {
        guard case .found(let route, let params) = Router.match(method: method, path: path) else { return nil }
        return (route.handler, params)
    }

    func testParametersSuffixesAndEscapes() {
        XCTAssertEqual(found("GET", "/v1/jobs/job_1")?.0, .getJob)
        XCTAssertEqual(found("GET", "/v1/jobs/job_1")?.1, ["id": "job_1"])
        XCTAssertEqual(found("HEAD", "/v1/jobs/job_1")?.0, .getJob)
        XCTAssertEqual(found("DELETE", "/v1/jobs/job_1")?.0, .cancelJob)
        XCTAssertEqual(found("GET", "/v1/jobs/j/images/3.png")?.1, ["id": "j", "index": "3"])
        XCTAssertNil(found("GET", "/v1/jobs/j/images/.png"), "an empty parameter is no match")
        XCTAssertNil(found("GET", "/v1/jobs/j/images/3.jpg"))
        XCTAssertEqual(found("GET", "/v1/models/my%20model")?.1, ["id": "my model"])
        XCTAssertEqual(found("GET", "/v1/models/caf%C3%A9")?.1, ["id": "café"])
        XCTAssertEqual(found("GET", "/v1/models/café")?.1, ["id": "café"])
        XCTAssertNil(found("GET", "/v1/models/bad%zz"), "a malformed escape is no match")
        XCTAssertNil(found("GET", "/v1/jobs/a/b"))
        XCTAssertNil(found("GET", "/V1/jobs/a"), "literals match byte for byte")
        XCTAssertEqual(Router.match(method: "PUT", path: "/v1/jobs/x"),
                       .methodNotAllowed(allowed: ["GET", "DELETE", "HEAD"]))
        XCTAssertEqual(Router.match(method: "GET", path: "/nope"), .notFound)
        XCTAssertEqual(Router.match(method: "GET", path: "/healthz/"), .notFound)
    }
}
