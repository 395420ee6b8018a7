import EaselJSON
import Foundation

/// Builds the tokenizer transformers' `CLIPTokenizer(Fast)` constructs from `vocab.json` +
/// `merges.txt` (FLUX.1's `tokenizer/` folder): BPE with `</w>` end-of-word suffix and the unk
/// token, NFC + `\s+`->" " + lowercase, CLIP's split regex then byte-level mapping, and
/// `<|startoftext|> ... <|endoftext|>` around the ids. Added tokens come from the config's
/// `added_tokens_decoder` (with their `normalized` flags) plus the bos/eos/unk/pad tokens.
enum CLIPTokenizerBuilder {
    /// merges.txt as `tokenizers`' BPE.read_file reads it: skip `#version` lines and blank
    /// lines, every other line is exactly two tokens separated by one space. Parsed on bytes
    /// because real CLIP files have ~49k lines.
    static func parseMerges(_ data: Data, name: String) throws -> [([UInt8], [UInt8])] {
        let bytes = [UInt8](data)
        var merges: [([UInt8], [UInt8])] = []
        merges.reserveCapacity(bytes.count / 12)
        var lineStart = 0
        let version = Array("#version".utf8)
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            var end = lineEnd
            if end > lineStart && bytes[end - 1] == 0x0D { end -= 1 }
            defer { lineStart = lineEnd + 1 }
            if end == lineStart || bytes[lineStart..<end].starts(with: version) { continue }
            var space = -1
            var spaces = 0
            for k in lineStart..<end where bytes[k] == 0x20 { spaces += 1; if space < 0 { space = k } }
            guard spaces == 1 else {
                throw EngineError("tokenizer: bad line in \(name): \(String(decoding: bytes[lineStart..<end], as: UTF8.self))")
            }
            merges.append((Array(bytes[lineStart..<space]), Array(bytes[(space + 1)..<end])))
        }
        return merges
    }

    static func build(vocabURL: URL, mergesURL: URL, config: JSONValue, specialMap: JSONValue) throws -> Tokenizer {
        if let cls = config["tokenizer_class"]?.stringValue, !cls.hasPrefix("CLIPTokenizer") {
            throw EngineError("tokenizer: vocab.json + merges.txt is only supported for CLIPTokenizer, not \(cls)")
        }
        guard let vocab = try TokenizerJSON.intMap(try TokenizerJSON.read(vocabURL)) else {
            throw EngineError("tokenizer: \(vocabURL.lastPathComponent) is not a token -> id object")
        }
        let merges = try parseMerges(try Data(contentsOf: mergesURL), name: mergesURL.lastPathComponent)
        func content(_ key: String, _ fallback: String) -> String {
            (config[key] ?? specialMap[key]).flatMap { Tokenizer.tokenContent($0) } ?? fallback
        }
        let unk = content("unk_token", "<|endoftext|>")
        let bos = content("bos_token", "<|startoftext|>")
        let eos = content("eos_token", "<|endoftext|>")
        let pad = content("pad_token", "<|endoftext|>")
        let model = try BPEModel(vocab: vocab, merges: merges, unkToken: unk, continuingPrefix: "",
                                 endOfWordSuffix: "</w>", fuseUnk: false, byteFallback: false, ignoreMerges: false)
        let normalizer = TextNormalizer.sequence([.nfc, .replace(.whitespaceRun, [" "]), .lowercase])
        let pre = PreTokenizer.sequence([.split(.clip(specials: true), .removed, invert: true),
                                         .byteLevel(addPrefixSpace: false, useRegex: true)])

        var added: [AddedToken] = []
        var seen = Set<String>()
        if case .object(let members)? = config["added_tokens_decoder"] {
            // Keyed by id; a repeated id counts once, its last entry (as a dictionary would keep it).
            var decoder: [String: JSONValue] = [:]
            for (key, value) in members { decoder[key] = value }
            for key in decoder.keys.sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) {
                guard let d = decoder[key], case .object = d, let id = Int(key) else { continue }
                let t = try AddedToken(json: d, id: id)
                added.append(t)
                seen.insert(t.content)
            }
        }
        for (key, name) in [("bos_token", bos), ("eos_token", eos), ("unk_token", unk), ("pad_token", pad)] where !seen.contains(name) {
            guard let id = vocab[ByteKey(name)] else { continue }
            var t = AddedToken(id: id, content: name)
            if let d = config[key] ?? specialMap[key], case .object(let members) = d {
                let special: JSONValue = d["special"] == nil ? .object(members + [("special", .bool(true))]) : d
                t = (try? AddedToken(json: special, id: id)) ?? t
            }
            added.append(t)
            seen.insert(name)
        }
        guard let bosId = vocab[ByteKey(bos)], let eosId = vocab[ByteKey(eos)] else {
            throw EngineError("tokenizer: CLIP bos/eos tokens \(bos)/\(eos) are not in vocab.json")
        }
        let post = PostProcessor.template([.ids([bosId]), .sequence, .ids([eosId])])
        return Tokenizer(normalizer: normalizer, preTokenizer: pre, model: model, postProcessor: post,
                         addedTokens: added, config: config, specialMap: specialMap)
    }
}
