import Foundation

/// First-block caching across denoising steps for ONE transformer stream (one image's conditional or unconditional
/// pass), in the family of First-Block-Cache and TeaCache: adjacent steps of a flow-matching sampler change the
/// transformer's hidden states little, and how much the FIRST block's output moved predicts how much the whole
/// stack's would. So every step runs the first double block; when its image-stream residual (output − input) differs
/// from the one of the last full pass by less than `threshold` (relative L1: mean|r − r_full| / mean|r_full|), the
/// rest of the blocks are skipped and what they added to the image stream at that full pass is added again.
///
/// The comparison is always against the last FULL pass, not the previous step, so slow drift over several skipped
/// steps adds up and forces a full pass. The first step is always full (nothing to compare with).
public final class StepCache {
    /// Relative L1 change of the first block's residual below which a step reuses the cached tail. 0 never skips.
    public let threshold: Float
    /// The first block's image residual at the last full pass, [S·dim].
    private(set) var firstResidual: [Float]?
    /// What the blocks after the first added to the image stream at the last full pass, [S·dim].
    private(set) var tail: [Float]?
    /// Transformer calls this stream made in full, and those that reused the cached tail.
    public private(set) var fullPasses = 0
    public private(set) var skippedPasses = 0
    /// The relative change measured at each call after the first full pass, in order.
    public private(set) var changes: [Float] = []

    public init(threshold: Float) { self.threshold = threshold }

    /// The threshold `cache: {}` means (docs/API.md; chosen from the measurements in docs/performance.md).
    public static let defaultThreshold = 0.15

    /// Whether this step may skip the remaining blocks, given the first block's residual now. A full pass keeps the
    /// residual as the new reference (`store(tailResidual:)` then records what the remaining blocks added).
    func decide(firstResidual r: [Float]) -> Bool {
        if let prev = firstResidual, tail != nil, prev.count == r.count {
            var num = 0.0, den = 0.0
            for j in 0..<r.count {
                num += Double(abs(r[j] - prev[j]))
                den += Double(abs(prev[j]))
            }
            let change = den > 0 ? Float(num / den) : (num > 0 ? .infinity : 0)
            changes.append(change)
            if change < threshold {
                skippedPasses += 1
                return true
            }
        }
        firstResidual = r
        fullPasses += 1
        return false
    }

    func store(tailResidual: [Float]) { tail = tailResidual }
}
