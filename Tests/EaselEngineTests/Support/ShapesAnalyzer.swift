import Foundation

/// Swift port of `Training/easel-shapes/analyzer.py` (the deterministic reader of shapes-world images), for tests.
///
/// Same method, same constants, same f32/f64 split as the numpy code:
///  1. background = per-channel median of the 2-pixel border ring (rows 0-1, the last two rows, columns 0-1 and
///     the last two columns, corners counted twice, as `np.concatenate` does), snapped to the nearest named colour;
///  2. rough foreground = pixels more than 40 RGB units from it; foreground colour = their median, snapped;
///  3. sharp mask = projection on the bg→fg segment > 0.5, reduced to its largest 4-connected component
///     (ties: the component whose first pixel in raster order comes first, as the numpy label propagation picks
///     the smallest label);
///  4. position = 3x3 cell of the mask centroid; size = longer bounding-box side vs 22/64 of the image;
///     shape = nearest prototype in (fill ratio, share in the top half of the box).
/// Only the connected-component search differs in method (flood fill instead of label propagation); its result
/// is the same set of pixels.
enum ShapesAnalyzer {
    static let colourNames = ["red", "green", "blue", "yellow", "white", "black", "orange", "purple"]
    static let palette: [[Float]] = [[220, 30, 30], [30, 160, 50], [30, 60, 220], [240, 220, 30],
                                     [245, 245, 245], [15, 15, 15], [245, 140, 20], [140, 50, 180]]
    static let shapes = ["circle", "square", "triangle"]
    static let protos: [[Float]] = [[0.785, 0.5], [1.0, 0.5], [0.5, 0.25]]  // order of `shapes`
    /// (row, col) → position name, as world.POSITIONS (Training/easel-shapes/world.py).
    static let positions = [["top_left", "top", "top_right"], ["left", "center", "right"],
                            ["bottom_left", "bottom", "bottom_right"]]
    static let attributes = ["colour", "background", "position", "shape", "size"]

    struct Reading: Equatable, CustomStringConvertible {
        var colour = "none", background = "none", position = "none", shape = "none", size = "none"
        /// (fill, top, box width, box height) when a mask was found.
        var features: (fill: Double, top: Double, width: Int, height: Int)?

        subscript(_ attribute: String) -> String {
            switch attribute {
            case "colour": return colour
            case "background": return background
            case "position": return position
            case "shape": return shape
            case "size": return size
            default: preconditionFailure("unknown attribute \(attribute)")
            }
        }
        static func == (a: Reading, b: Reading) -> Bool {
            attributes.allSatisfy { a[$0] == b[$0] }
        }
        var description: String { "\(size) \(colour) \(shape) \(position) on \(background)" }
    }

    /// What an image of `prompt` ("a {size} {colour} {shape} {position phrase} on a {colour} background")
    /// should read as. Returns nil for anything outside the canonical grammar.
    static func truth(prompt: String) -> Reading? {
        let phrases = ["in the top left corner": "top_left", "at the top": "top", "in the top right corner": "top_right",
                       "on the left": "left", "in the center": "center", "on the right": "right",
                       "in the bottom left corner": "bottom_left", "at the bottom": "bottom",
                       "in the bottom right corner": "bottom_right"]
        let w = prompt.split(separator: " ").map(String.init)
        guard w.count >= 9, w[0] == "a", w[w.count - 1] == "background", w[w.count - 4] == "on", w[w.count - 3] == "a"
        else { return nil }
        guard let pos = phrases[w[4..<(w.count - 4)].joined(separator: " ")] else { return nil }
        return Reading(colour: w[2], background: w[w.count - 2], position: pos, shape: w[3], size: w[1])
    }

    static func nearest(_ rgb: [Float]) -> String {
        var best = 0
        var bestD = Float.infinity
        for (i, p) in palette.enumerated() {
            var d: Float = 0
            for c in 0..<3 { let e = p[c] - rgb[c]; d += e * e }
            if d < bestD { bestD = d; best = i }  // first minimum, as np.argmin
        }
        return colourNames[best]
    }

    /// np.median of f32 values: the middle value, or the mean of the two middle values (computed in f32).
    static func median(_ v: [Float]) -> Float {
        let s = v.sorted()
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// Largest 4-connected component of `mask` (h×w, row-major).
    static func largestComponent(_ mask: [Bool], h: Int, w: Int) -> [Bool] {
        var label = [Int](repeating: -1, count: h * w)
        var bestLabel = -1, bestCount = 0, next = 0
        var stack: [Int] = []
        for start in 0..<(h * w) where mask[start] && label[start] < 0 {
            var count = 0
            label[start] = next
            stack.append(start)
            while let p = stack.popLast() {
                count += 1
                let y = p / w, x = p % w
                for (ny, nx) in [(y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)]
                where ny >= 0 && ny < h && nx >= 0 && nx < w {
                    let q = ny * w + nx
                    if mask[q] && label[q] < 0 { label[q] = next; stack.append(q) }
                }
            }
            if count > bestCount { bestCount = count; bestLabel = next }  // strict: earliest component wins ties
            next += 1
        }
        if bestLabel < 0 { return mask }
        return label.map { $0 == bestLabel }
    }

    /// Reads interleaved 8-bit RGB (h×w×3).
    static func analyze(rgb: [UInt8], width w: Int, height h: Int) -> Reading {
        precondition(rgb.count == w * h * 3)
        let x = rgb.map { Float($0) }
        func px(_ y: Int, _ xx: Int) -> Int { (y * w + xx) * 3 }
        var ring: [[Float]] = [[], [], []]
        func addRing(_ y: Int, _ xx: Int) { let o = px(y, xx); for c in 0..<3 { ring[c].append(x[o + c]) } }
        for y in [0, 1, h - 2, h - 1] { for xx in 0..<w { addRing(y, xx) } }
        for y in 0..<h { for xx in [0, 1] { addRing(y, xx) } }
        for y in 0..<h { for xx in [w - 2, w - 1] { addRing(y, xx) } }
        let bg = (0..<3).map { median(ring[$0]) }
        var res = Reading()
        res.background = nearest(bg)

        var roughVals: [[Float]] = [[], [], []]
        for i in 0..<(w * h) {
            var d2: Float = 0
            for c in 0..<3 { let e = x[i * 3 + c] - bg[c]; d2 += e * e }
            if d2.squareRoot() > 40 { for c in 0..<3 { roughVals[c].append(x[i * 3 + c]) } }
        }
        if roughVals[0].count < 3 { return res }
        let fg = (0..<3).map { median(roughVals[$0]) }
        res.colour = nearest(fg)
        let d = (0..<3).map { fg[$0] - bg[$0] }
        var dd: Float = 0
        for c in 0..<3 { dd += d[c] * d[c] }
        let denom = Float(max(Double(dd), 1e-6))
        var sharp = [Bool](repeating: false, count: w * h)
        for i in 0..<(w * h) {
            var s: Float = 0
            for c in 0..<3 { s += (x[i * 3 + c] - bg[c]) * d[c] }
            sharp[i] = s / denom > 0.5
        }
        let mask = largestComponent(sharp, h: h, w: w)
        var ys: [Int] = [], xs: [Int] = []
        for i in 0..<(w * h) where mask[i] { ys.append(i / w); xs.append(i % w) }
        if ys.count < 3 { return res }
        let n = Double(ys.count)
        let cy = Double(ys.reduce(0, +)) / n + 0.5, cx = Double(xs.reduce(0, +)) / n + 0.5
        let row = min(Int(cy * 3 / Double(h)), 2), col = min(Int(cx * 3 / Double(w)), 2)
        res.position = positions[row][col]
        let y0 = ys.min()!, y1 = ys.max()! + 1, x0 = xs.min()!, x1 = xs.max()! + 1
        let bw = x1 - x0, bh = y1 - y0
        let fill = n / Double(bw * bh)
        let half = Double(y0) + Double(bh) / 2
        let top = Double(ys.filter { Double($0) < half }.count) / n
        let feat = [Float(fill), Float(top)]
        var best = 0
        var bestD = Float.infinity
        for (i, p) in protos.enumerated() {
            let a = p[0] - feat[0], b = p[1] - feat[1]
            let dist = a * a + b * b
            if dist < bestD { bestD = dist; best = i }
        }
        res.shape = shapes[best]
        res.size = max(Double(bw) / Double(w), Double(bh) / Double(h)) > 22.0 / 64.0 ? "large" : "small"
        res.features = (fill, top, bw, bh)
        return res
    }

    /// Per-attribute accuracy plus "all" (every attribute right), as analyzer.score.
    static func score(_ readings: [Reading], _ truths: [Reading]) -> [String: Double] {
        var acc = [String: Double]()
        for a in attributes + ["all"] { acc[a] = 0 }
        for (r, t) in zip(readings, truths) {
            var ok = true
            for a in attributes { if r[a] == t[a] { acc[a]! += 1 } else { ok = false } }
            if ok { acc["all"]! += 1 }
        }
        let n = Double(max(truths.count, 1))
        return acc.mapValues { $0 / n }
    }

    static let targets: [String: Double] = ["colour": 0.95, "background": 0.95, "position": 0.90, "shape": 0.80,
                                            "size": 0.90]
}
