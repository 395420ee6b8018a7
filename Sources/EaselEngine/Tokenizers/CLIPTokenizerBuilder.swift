import Foundation

/// Builds the tokenizer transformers' `CLIPTokenizer(Fast)` constructs from `vocab.json` +
/// `merges.txt` (FLUX.1's `tokenizer/` folder): BPE with `</w>` end-of-word suffix and the unk
/// token, NFC + `\s+`->" " + lowercase, CLIP's split regex then byte-level mapping, and
/// `<|startoftext|> ... <|endoftext|>` around the ids. Added tokens come from the config's
/// `added_tokens_decoder` (with their `normalized` flags) plus the bos/eos/unk/pad tokens.
enum CLIPTokenizerBuilder {
    static func build(vocabURL: URL, mergesURL: URL, config: [String: Any], specialMap: [String: Any]) throws -> Tokenizer {
        if let cls = config["tokenizer_class"] as? String, !cls.hasPrefix("CLIPTokenizer") {
            throw EngineError("tokenizer: vocab.json + merges.txt is only supported for CLIPTokenizer, not \(cls)")
        }
        guard let vocab = try TokenizerJSON.parse(Data(contentsOf: vocabURL), name: vocabURL.lastPathComponent) as? [String: Int] else {
            throw EngineError("tokenizer: \(vocabURL.lastPathComponent) is not a token -> id object")
        }
        guard let text = String(data: try Data(contentsOf: mergesURL), encoding: .utf8) else {
            throw EngineError("tokenizer: \(mergesURL.lastPathComponent) is not UTF-8")
        }
        var merges: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let l = line.hasSuffix("\r") ? line.dropLast() : line[...]
            if l.hasPrefix("#version") || l.isEmpty { continue }
            let parts = l.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw EngineError("tokenizer: bad line in merges.txt: \(l)") }
            merges.append((String(parts[0]), String(parts[1])))
        }
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
        if let decoder = config["added_tokens_decoder"] as? [String: Any] {
            for key in decoder.keys.sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) {
                guard let d = decoder[key] as? [String: Any], let id = Int(key) else { continue }
                let t = try AddedToken(json: d, id: id)
                added.append(t)
                seen.insert(t.content)
            }
        }
        for (key, name) in [("bos_token", bos), ("eos_token", eos), ("unk_token", unk), ("pad_token", pad)] where !seen.contains(name) {
            guard let id = vocab[name] else { continue }
            var t = AddedToken(id: id, content: name)
            if let d = (config[key] ?? specialMap[key]) as? [String: Any] {
                t = (try? AddedToken(json: d.merging(["special": true]) { a, _ in a }, id: id)) ?? t
            }
            added.append(t)
            seen.insert(name)
        }
        guard let bosId = vocab[bos], let eosId = vocab[eos] else {
            throw EngineError("tokenizer: CLIP bos/eos tokens \(bos)/\(eos) are not in vocab.json")
        }
        let post = PostProcessor.template([.ids([bosId]), .sequence, .ids([eosId])])
        return Tokenizer(normalizer: normalizer, preTokenizer: pre, model: model, postProcessor: post,
                         addedTokens: added, config: config, specialMap: specialMap)
    }
}
