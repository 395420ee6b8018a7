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

    init(json obj: [String: Any], id: Int? = nil) throws {
        guard let content = obj["content"] as? String, let id = id ?? (obj["id"] as? Int) else {
            throw EngineError("tokenizer: added token without content or id")
        }
        self.init(id: id, content: content,
                  singleWord: obj["single_word"] as? Bool ?? false,
                  lstrip: obj["lstrip"] as? Bool ?? false,
                  rstrip: obj["rstrip"] as? Bool ?? false,
                  normalized: obj["normalized"] as? Bool ?? !(obj["special"] as? Bool ?? false),
                  special: obj["special"] as? Bool ?? false)
    }
}
