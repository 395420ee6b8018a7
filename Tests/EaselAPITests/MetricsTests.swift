import XCTest
@testable import EaselAPI

final class MetricsTests: XCTestCase {
    func testLabelValuesAreEscaped() {
        XCTAssertEqual(Metrics.labelText([("a", "x\"y\\z\nw"), ("b", "plain"), ("c", "é")]),
                       #"{a="x\"y\\z\nw",b="plain",c="é"}"#)
        XCTAssertEqual(Metrics.labelText([]), "")
        let m = Metrics()
        m.increment(Metrics.httpRequests, [("route", "/v1/jobs/{id}"), ("code", "200")])
        m.increment(Metrics.httpRequests, [("route", "/v1/jobs/{id}"), ("code", "200")], by: 2)
        XCTAssertEqual(m.counter(Metrics.httpRequests, [("route", "/v1/jobs/{id}"), ("code", "200")]), 3)
        XCTAssertTrue(m.render(queueDepths: [:], models: [])
            .contains(#"easel_http_requests_total{route="/v1/jobs/{id}",code="200"} 3"#))
    }
}
