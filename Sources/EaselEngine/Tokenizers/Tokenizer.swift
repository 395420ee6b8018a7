import EaselJSON
import Foundation

/// A text tokenizer with the behaviour of HuggingFace `tokenizers` (and of transformers'
/// fast tokenizers as diffusers pipelines call them). Loads either a `tokenizer.json` or CLIP's
/// `vocab.json` + `merges.txt`, plus `tokenizer_config.json` / `special_tokens_map.json` for the
/// pad/bos/eos tokens and `model_max_length`.
///
/// Encoding: added tokens are cut out of the raw text, the rest is normalized, pre-tokenized,
/// run through the model, and the post-processor adds special tokens.
public final class Tokenizer {
    let normalizer: TextNormalizer?
    let preTokenizer: PreTokenizer?
    let model: TokenModel
    let postProcessor: PostProcessor
    let addedVocabulary: AddedVocabulary
    /// `truncation.max_length` / fixed `padding` stored in tokenizer.json, which
    /// `tokenizers.Tokenizer.encode` applies too.
    let jsonTruncation: Int?
    let jsonPadding: (length: Int, id: Int)?

    /// Id used to pad `encodeForPipeline` output (the config's `pad_token`).
    public let padId: Int?
    public let eosId: Int?
    public let bosId: Int?
    public let unkId: Int?
    /// `model_max_length` from tokenizer_config.json, when present and finite.
    public let modelMaxLength: Int?
    /// `padding_side` / `truncation_side` from tokenizer_config.json ("right" unless "left").
    let padLeft: Bool
    let truncateLeft: Bool

    init(normalizer: TextNormalizer?, preTokenizer: PreTokenizer?, model: TokenModel, postProcessor: PostProcessor,
         addedTokens: [AddedToken], config: JSONValue, specialMap: JSONValue,
         jsonTruncation: Int? = nil, jsonPadding: (Int, Int)? = nil, jsonPadId: Int? = nil) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.addedVocabulary = AddedVocabulary(tokens: addedTokens, normalizer: normalizer)
        self.jsonTruncation = jsonTruncation
        self.jsonPadding = jsonPadding.map { (length: $0.0, id: $0.1) }
        let vocabulary = addedVocabulary
        func tokenId(_ key: String) -> Int? {
            guard let v = config[key] ?? specialMap[key], let s = Tokenizer.tokenContent(v) else { return nil }
            return vocabulary.id(of: s) ?? model.tokenId(s)
        }
        padId = tokenId("pad_token") ?? jsonPadId
        eosId = tokenId("eos_token")
        bosId = tokenId("bos_token")
        unkId = tokenId("unk_token")
        // Often a huge float (1e30) meaning "no limit".
        if let m = config["model_max_length"]?.doubleValue, m.isFinite, m > 0, m < 1e9 { modelMaxLength = Int(m) }
        else { modelMaxLength = nil }
        padLeft = (config["padding_side"]?.stringValue) == "left"
        truncateLeft = (config["truncation_side"]?.stringValue) == "left"
    }

    static func tokenContent(_ v: JSONValue) -> String? { v.stringValue ?? v["content"]?.stringValue }

    // MARK: Loading

    /// Loads a tokenizer folder: `tokenizer.json` when present, otherwise CLIP's `vocab.json` +
    /// `merges.txt`.
    public static func load(folder: URL) throws -> Tokenizer {
        let fm = FileManager.default
        guard fm.fileExists(atPath: folder.path) else {
            throw EngineError("tokenizer: folder \(folder.path) does not exist")
        }
        let config = try readJSONObject(folder.appendingPathComponent("tokenizer_config.json"), optional: true) ?? .object([])
        let specialMap = try readJSONObject(folder.appendingPathComponent("special_tokens_map.json"), optional: true) ?? .object([])
        let tj = folder.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: tj.path) {
            guard let obj = try readJSONObject(tj, optional: false) else { throw EngineError("tokenizer: cannot read \(tj.path)") }
            return try fromTokenizerJSON(obj, config: config, specialMap: specialMap)
        }
        let vocabURL = folder.appendingPathComponent("vocab.json"), mergesURL = folder.appendingPathComponent("merges.txt")
        if fm.fileExists(atPath: vocabURL.path) && fm.fileExists(atPath: mergesURL.path) {
            return try CLIPTokenizerBuilder.build(vocabURL: vocabURL, mergesURL: mergesURL, config: config, specialMap: specialMap)
        }
        if fm.fileExists(atPath: folder.appendingPathComponent("spiece.model").path) {
            throw EngineError("tokenizer: \(folder.path) has only spiece.model; a tokenizer.json (as transformers saves it) is required")
        }
        throw EngineError("tokenizer: \(folder.path) has neither tokenizer.json nor vocab.json + merges.txt")
    }

    static func readJSONObject(_ url: URL, optional: Bool) throws -> JSONValue? {
        guard FileManager.default.fileExists(atPath: url.path) else {
            if optional { return nil }
            throw EngineError("tokenizer: missing file \(url.path)")
        }
        let obj = try TokenizerJSON.read(url)
        guard case .object = obj else {
            throw EngineError("tokenizer: \(url.lastPathComponent) is not a JSON object")
        }
        return obj
    }

    /// Builds a tokenizer from a parsed `tokenizer.json`.
    static func fromTokenizerJSON(_ obj: JSONValue, config: JSONValue = .object([]), specialMap: JSONValue = .object([])) throws -> Tokenizer {
        let normalizer = try TextNormalizer.parse(obj["normalizer"])
        let pre = try PreTokenizer.parse(obj["pre_tokenizer"])
        let model = try parseModel(obj["model"])
        let post = try PostProcessor.parse(obj["post_processor"])
        try checkDecoder(obj["decoder"])
        var added: [AddedToken] = []
        for d in obj["added_tokens"]?.arrayValue ?? [] {
            guard case .object = d else { continue }
            added.append(try AddedToken(json: d))
        }
        var truncation: Int? = nil
        if let t = obj["truncation"], case .object = t {
            if let dir = t["direction"]?.stringValue, dir != "Right" {
                throw EngineError("tokenizer: unsupported truncation direction \(dir)")
            }
            truncation = t["max_length"]?.integerLiteralValue
            if let n = truncation, n < 0 { throw EngineError("tokenizer: truncation max_length \(n) is negative") }
        }
        var padding: (Int, Int)? = nil
        var padId: Int? = nil
        if let p = obj["padding"], case .object = p {
            padId = p["pad_id"]?.integerLiteralValue
            if let id = padId, TokenizerJSON.tokenID(p["pad_id"]) == nil {
                throw EngineError("tokenizer: padding pad_id \(id) is not 0 to \(Int32.max)")
            }
            if let fixed = p["strategy"]?["Fixed"]?.integerLiteralValue {
                guard fixed >= 0 else { throw EngineError("tokenizer: padding length \(fixed) is negative") }
                padding = (fixed, padId ?? 0)
            }
        }
        return Tokenizer(normalizer: normalizer, preTokenizer: pre, model: model, postProcessor: post,
                         addedTokens: added, config: config, specialMap: specialMap,
                         jsonTruncation: truncation, jsonPadding: padding, jsonPadId: padId)
    }

    static func parseModel(_ json: JSONValue?) throws -> TokenModel {
        guard let m = json, case .object = m else { throw EngineError("tokenizer: tokenizer.json has no model") }
        let type = m["type"]?.stringValue ?? (m["merges"] != nil ? "BPE" : "")
        switch type {
        case "BPE":
            guard let vocab = try TokenizerJSON.intMap(m["vocab"]) else { throw EngineError("tokenizer: BPE model has no vocab") }
            var merges: [([UInt8], [UInt8])] = []
            for item in m["merges"]?.arrayValue ?? [] {
                if let s = item.stringValue {
                    let b = Array(s.utf8)
                    guard let sp = b.firstIndex(of: 0x20) else { throw EngineError("tokenizer: bad BPE merge \(s)") }
                    merges.append((Array(b[..<sp]), Array(b[(sp + 1)...])))
                } else if let a = item.arrayValue, a.count == 2, let left = a[0].stringValue, let right = a[1].stringValue {
                    merges.append((Array(left.utf8), Array(right.utf8)))
                } else {
                    throw EngineError("tokenizer: bad BPE merge entry \(item.serialized)")
                }
            }
            if let d = m["dropout"], d != .null { throw EngineError("tokenizer: BPE dropout is not supported") }
            return try BPEModel(vocab: vocab, merges: merges, unkToken: m["unk_token"]?.stringValue,
                                continuingPrefix: m["continuing_subword_prefix"]?.stringValue ?? "",
                                endOfWordSuffix: m["end_of_word_suffix"]?.stringValue ?? "",
                                fuseUnk: m["fuse_unk"]?.boolValue ?? false,
                                byteFallback: m["byte_fallback"]?.boolValue ?? false,
                                ignoreMerges: m["ignore_merges"]?.boolValue ?? false)
        case "Unigram":
            var vocab: [(String, Double)] = []
            for item in m["vocab"]?.arrayValue ?? [] {
                guard let pair = item.arrayValue, pair.count == 2, let s = pair[0].stringValue,
                      let score = pair[1].doubleValue else {
                    throw EngineError("tokenizer: bad Unigram vocab entry")
                }
                vocab.append((s, score))
            }
            return try UnigramModel(vocab: vocab, unkId: m["unk_id"]?.integerLiteralValue, byteFallback: m["byte_fallback"]?.boolValue ?? false)
        case "WordLevel":
            guard let vocab = try TokenizerJSON.intMap(m["vocab"]) else { throw EngineError("tokenizer: WordLevel model has no vocab") }
            return try WordLevelModel(vocab: vocab, unkToken: m["unk_token"]?.stringValue)
        case "WordPiece":
            guard let vocab = try TokenizerJSON.intMap(m["vocab"]) else { throw EngineError("tokenizer: WordPiece model has no vocab") }
            let maxChars = m["max_input_chars_per_word"].flatMap { $0 == .null ? nil : $0 }
            guard let limit = maxChars.map({ $0.integerLiteralValue }) ?? 100, limit >= 0 else {
                throw EngineError("tokenizer: WordPiece max_input_chars_per_word is not a non-negative integer")
            }
            return WordPieceModel(vocab: vocab, unkToken: m["unk_token"]?.stringValue ?? "[UNK]",
                                  continuingPrefix: m["continuing_subword_prefix"]?.stringValue ?? "##",
                                  maxInputCharsPerWord: limit)
        default:
            throw EngineError("tokenizer: unsupported model type \(type.isEmpty ? "(none)" : type)")
        }
    }

    /// Every decoder type tokenizers 0.23 writes. Encoding never runs the decoder, so any known
    /// one is accepted as it is (its fields unread); an unknown type is refused by name, like an
    /// unknown normalizer, so a file from a newer library fails at load rather than half-working.
    static let knownDecoderTypes: Set<String> = ["BPEDecoder", "ByteFallback", "ByteLevel", "CTC", "Fuse", "Metaspace",
                                                 "Replace", "Sequence", "Strip", "WordPiece"]

    static func checkDecoder(_ json: JSONValue?) throws {
        guard let d = json, d != .null else { return }
        guard let type = d["type"]?.stringValue else {
            throw EngineError("tokenizer: decoder is not an object with a type")
        }
        guard knownDecoderTypes.contains(type) else {
            throw EngineError("tokenizer: unsupported decoder type \(type)")
        }
        if type == "Sequence" {
            for item in d["decoders"]?.arrayValue ?? [] { try checkDecoder(item) }
        }
    }

    // MARK: Encoding

    /// Ids before the post-processor (no special tokens added).
    func encodeWithoutPostProcessing(_ text: String) -> [Int] {
        var ids: [Int] = []
        for piece in addedVocabulary.extract(Array(text.unicodeScalars), normalizer: normalizer) {
            switch piece {
            case .token(let id): ids.append(id)
            case .text(let s, let atOrigin):
                let splits = [PreTokenSplit(text: s, atOrigin: atOrigin)]
                for w in preTokenizer?.apply(splits) ?? splits {
                    ids.append(contentsOf: model.tokenize(w.text))
                }
            }
        }
        return ids
    }

    /// Token ids for `text`, as `tokenizers.Tokenizer.encode(text, add_special_tokens=...)`.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids = encodeWithoutPostProcessing(text)
        if let t = jsonTruncation {
            let room = max(0, t - (addSpecialTokens ? postProcessor.addedCount : 0))
            if ids.count > room { ids.removeSubrange(room...) }
        }
        if addSpecialTokens { ids = postProcessor.apply(ids) }
        if let p = jsonPadding, ids.count < p.length {
            ids.append(contentsOf: repeatElement(p.id, count: p.length - ids.count))
        }
        return ids
    }

    /// Ids as a diffusers pipeline gets them from
    /// `tok(text, padding="max_length", max_length=maxLength, truncation=True)["input_ids"]`:
    /// the text is cut so that it still fits with the special tokens, then padded with `padId`
    /// (on the sides the config's `truncation_side` / `padding_side` name; right by default).
    public func encodeForPipeline(_ text: String, maxLength: Int) -> [Int] {
        var ids = encodeWithoutPostProcessing(text)
        let room = max(0, maxLength - postProcessor.addedCount)
        if ids.count > room {
            if truncateLeft { ids.removeFirst(ids.count - room) } else { ids.removeSubrange(room...) }
        }
        ids = postProcessor.apply(ids)
        if ids.count < maxLength {
            let pad = [Int](repeating: padId ?? 0, count: maxLength - ids.count)
            ids = padLeft ? pad + ids : ids + pad
        }
        return ids
    }

    /// Id of a token (added tokens first, then the model's vocabulary).
    public func tokenId(_ token: String) -> Int? {
        addedVocabulary.id(of: token) ?? model.tokenId(token)
    }
}
