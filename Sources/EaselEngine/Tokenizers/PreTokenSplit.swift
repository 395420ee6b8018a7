/// One piece of text during pre-tokenization. `atOrigin` records whether the piece starts at
/// offset 0 of the original input (what Metaspace's `prepend_scheme: "first"` checks).
struct PreTokenSplit {
    var text: [Unicode.Scalar]
    var atOrigin: Bool
}
