/// A Prometheus histogram: cumulative bucket counts, sum and count.
public struct Histogram: Sendable {
    public let bounds: [Double]
    public private(set) var counts: [Int]
    public private(set) var sum: Double = 0
    public private(set) var count = 0

    public init(bounds: [Double]) {
        self.bounds = bounds.sorted()
        counts = Array(repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ value: Double) {
        for (i, b) in bounds.enumerated() where value <= b { counts[i] += 1 }
        sum += value
        count += 1
    }

    func render(name: String, into out: inout String) {
        for (b, c) in zip(bounds, counts) { out += "\(name)_bucket{le=\"\(Metrics.format(b))\"} \(c)\n" }
        out += "\(name)_bucket{le=\"+Inf\"} \(count)\n"
        out += "\(name)_sum \(Metrics.format(sum))\n"
        out += "\(name)_count \(count)\n"
    }
}
