import XCTest
@testable import EaselEngine

final class TensorTests: XCTestCase {
    func test_reshape_inferredDimension_keepsData() {
        let t = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]).reshaped([3, -1])
        XCTAssertEqual(t.shape, [3, 2])
        XCTAssertEqual(t.data, [1, 2, 3, 4, 5, 6])
    }
}
