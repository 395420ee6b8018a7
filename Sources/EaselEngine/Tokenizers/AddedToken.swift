import EaselJSON

/// One entry of `added_tokens` (or of `added_tokens_decoder` in a tokenizer_config.json).
struct AddedToken {
    var id: Int
    var content: String
    var singleWord = false
    var lstrip = false
    var rstrip = false
    var normalized = false
    var special = true

    init(id: Int, content: String, singleWord: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
         normalized: Bool = false, special: Bool = true) {
        self.id = id; self.content = content; self.singleWord = singleWord
        self.lstrip = lstrip; self.rstrip = rstrip; self.normalized = normalized; self.special = special
    }

    init(json obj: JSONValue, id: Int? = nil) throws {
        guard let content = obj["content"]?.stringValue, let id = id ?? TokenizerJSON.tokenID(obj["id"]) else {
            throw EngineError("tokenizer: added token without content or id")
        }
        self.init(id: id, content: content,
                  singleWord: obj["single_word"]?.boolValue ?? false,
                  lstrip: obj["lstrip"]?.boolValue ?? false,
                  rstrip: obj["rstrip"]?.boolValue ?? false,
                  normalized: obj["normalized"]?.boolValue ?? !(obj["special"]?.boolValue ?? false),
                  special: obj["special"]?.boolValue ?? false)
    }
}
