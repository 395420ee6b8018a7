/// The exact contents of a JSON object whose values are all integers (a vocabulary), as read
/// by `TokenizerJSON`; stored in the object under `TokenizerJSON.exactIntMapKey`.
final class ExactIntMap {
    let map: [ByteKey: Int]
    init(_ map: [ByteKey: Int]) { self.map = map }
}
