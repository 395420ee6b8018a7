import EaselJSON
import Foundation
import XCTest
@testable import EaselEngine

/// Parity with HuggingFace `tokenizers` / transformers on the fixtures written by
/// Tools/fixtures/tokenizers.py (ids for ~1,000 strings per tokenizer folder).
final class TokenizerTests: XCTestCase {
    static let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("tokenizers")

    struct Parity {
        var strings: [String]
        var entries: [String: [String: Any]]
        var variantStrings: [String]
        var variants: [String: [String: Any]]

        func ids(_ name: String) -> [[Int]]? {
            guard let e = entries[name] else { return nil }
            if let ids = e["ids"] as? [[Int]] { return ids }
            if let other = e["ids_same_as"] as? String { return ids(other) }
            return nil
        }

        func pipelineIds(_ name: String) -> [[Int]]? {
            guard let e = entries[name] else { return nil }
            if let ids = e["pipeline_ids"] as? [[Int]] { return ids }
            if let other = e["pipeline_ids_same_as"] as? String { return pipelineIds(other) }
            return nil
        }
    }

    static let parity: Parity = {
        let data = try! Data(contentsOf: root.appendingPathComponent("parity.json"))
        // TokenizerJSON, not JSONSerialization: the latter drops a leading U+FEFF on Linux.
        let obj = try! TokenizerJSON.parse(data, name: "parity.json").foundationValue as! [String: Any]
        let variants = obj["variants"] as! [String: Any]
        return Parity(strings: obj["strings"] as! [String], entries: obj["tokenizers"] as! [String: [String: Any]],
                      variantStrings: variants["strings"] as! [String],
                      variants: variants["tokenizers"] as! [String: [String: Any]])
    }()

    private func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let tok = try Tokenizer.load(folder: Self.root.appendingPathComponent(name))
        let p = Self.parity
        guard let entry = p.entries[name], let expected = p.ids(name) else {
            return XCTFail("parity.json has no entry for \(name)", file: file, line: line)
        }
        XCTAssertGreaterThanOrEqual(p.strings.count, 1000)
        // Folders trained by the library itself have no tokenizer_config.json, so no pipeline rows.
        let pipeline = (entry["pipeline_max_length"] as? Int).flatMap { n in p.pipelineIds(name).map { (n, $0) } }
        if entry["pipeline_max_length"] != nil {
            XCTAssertNotNil(pipeline, "\(name) pipeline rows", file: file, line: line)
            XCTAssertEqual(tok.padId, entry["pad_id"] as? Int, "\(name) pad id")
        }
        var mismatches: [String] = []
        var padMismatches: [String] = []
        for (i, s) in p.strings.enumerated() {
            let got = tok.encode(s)
            if got != expected[i] {
                mismatches.append("#\(i) \(s.debugDescription.prefix(120))\n   want \(expected[i].prefix(40))\n   got  \(got.prefix(40))")
            }
            if let (maxLength, padded) = pipeline {
                let gotPad = tok.encodeForPipeline(s, maxLength: maxLength)
                if gotPad != padded[i] {
                    padMismatches.append("#\(i) \(s.debugDescription.prefix(120))\n   want \(padded[i])\n   got  \(gotPad)")
                }
            }
        }
        XCTAssert(mismatches.isEmpty, "\(name): \(mismatches.count)/\(p.strings.count) id mismatches, first:\n" +
                  mismatches.prefix(5).joined(separator: "\n"), file: file, line: line)
        XCTAssert(padMismatches.isEmpty, "\(name): \(padMismatches.count)/\(p.strings.count) pipeline mismatches, first:\n" +
                  padMismatches.prefix(3).joined(separator: "\n"), file: file, line: line)
    }

    func testCLIPVocabMergesParity() throws { try check("clip_vocab_merges") }
    func testCLIPTokenizerJSONParity() throws { try check("clip_json") }
    func testT5UnigramParity() throws { try check("t5") }
    func testWordLevelParity() throws { try check("wordlevel") }
    /// T5-style Unigram trained by tokenizers' SentencePieceUnigramTokenizer: Nmt + NFKC + Replace,
    /// Metaspace, Unigram, `$A </s>`.
    func testSentencePieceUnigramTrainedParity() throws { try check("sp_unigram") }
    /// BERT-style: BertNormalizer, BertPreTokenizer, WordPiece, BertProcessing.
    func testBertWordPieceParity() throws { try check("bert_wordpiece") }

    /// tokenizers' 32-bit FNV-1a over the ids as little-endian UInt32s (Tools/fixtures/tokenizers.py ids_digest).
    static func idsDigest(_ ids: [Int]) -> Int {
        var h: UInt32 = 0x811C9DC5
        for id in ids {
            let v = UInt32(truncatingIfNeeded: id)
            for k in 0..<4 { h = (h ^ ((v >> (8 * UInt32(k))) & 0xFF)) &* 0x01000193 }
        }
        return Int(h)
    }

    /// tokenizer.json features the FLUX folders do not use: GPT-2 byte-level BPE with lstrip /
    /// rstrip / single_word / normalized added tokens, Split behaviors, Strip/Replace, Llama-style
    /// byte-fallback BPE, BERT-style WordLevel, Metaspace prepend schemes.
    func testComponentVariantsParity() throws {
        let p = Self.parity
        XCTAssertGreaterThanOrEqual(p.variants.count, 7)
        for name in p.variants.keys.sorted() {
            let entry = p.variants[name]!
            let base = entry["base"] as! String
            let data = try Data(contentsOf: Self.root.appendingPathComponent(base).appendingPathComponent("tokenizer.json"))
            guard case .object(var members) = try TokenizerJSON.parse(data, name: base) else { return XCTFail(base) }
            for (k, v) in entry["override"] as? [String: Any] ?? [:] {
                members.removeAll { $0.0 == k }
                members.append((k, try JSONValue.parse(JSONSerialization.data(withJSONObject: v, options: .fragmentsAllowed))))
            }
            let tok = try Tokenizer.fromTokenizerJSON(.object(members))
            var mismatches: [String] = []
            if entry["strings"] as? String == "all" {
                // Checked on every parity string; stored as one digest of the ids per string.
                let digests = entry["digests"] as! [Int]
                XCTAssertEqual(digests.count, p.strings.count, name)
                XCTAssertGreaterThanOrEqual(digests.count, 1000, name)
                for (i, s) in p.strings.enumerated() {
                    let got = tok.encode(s)
                    if Self.idsDigest(got) != digests[i] {
                        mismatches.append("#\(i) \(s.debugDescription.prefix(120))\n   got  \(got.prefix(40)) (digest differs)")
                    }
                }
                XCTAssert(mismatches.isEmpty, "\(name): \(mismatches.count)/\(p.strings.count) id mismatches, first:\n" +
                          mismatches.prefix(5).joined(separator: "\n"))
                continue
            }
            let expected = entry["ids"] as! [[Int]]
            for (i, s) in p.variantStrings.enumerated() {
                let got = tok.encode(s)
                if got != expected[i] {
                    mismatches.append("#\(i) \(s.debugDescription.prefix(120))\n   want \(expected[i].prefix(40))\n   got  \(got.prefix(40))")
                }
            }
            XCTAssert(mismatches.isEmpty, "\(name): \(mismatches.count)/\(p.variantStrings.count) id mismatches, first:\n" +
                      mismatches.prefix(5).joined(separator: "\n"))
        }
    }

    func testSpecialIdsAndMaxLength() throws {
        let clip = try Tokenizer.load(folder: Self.root.appendingPathComponent("clip_vocab_merges"))
        XCTAssertEqual(clip.modelMaxLength, 77)
        XCTAssertEqual(clip.bosId, clip.tokenId("<|startoftext|>"))
        XCTAssertEqual(clip.eosId, clip.tokenId("<|endoftext|>"))
        XCTAssertEqual(clip.padId, clip.eosId)
        let t5 = try Tokenizer.load(folder: Self.root.appendingPathComponent("t5"))
        XCTAssertEqual(t5.padId, 0)
        XCTAssertEqual(t5.eosId, 1)
        XCTAssertNil(t5.bosId)
        XCTAssertEqual(t5.encodeForPipeline("", maxLength: 4), [1, 0, 0, 0])
        XCTAssertEqual(t5.encode("", addSpecialTokens: false), [])
    }

    private func tempFolder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("easel-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, body) in files { try body.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir
    }

    private func assertEngineError(_ body: () throws -> Void, contains needle: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an EngineError mentioning \(needle)", file: file, line: line)
        } catch let e as EngineError {
            XCTAssert(e.message.contains(needle), "message \(e.message) lacks \(needle)", file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testMissingFilesAreReported() throws {
        let empty = try tempFolder([:])
        assertEngineError({ _ = try Tokenizer.load(folder: empty) }, contains: "tokenizer.json")
        assertEngineError({ _ = try Tokenizer.load(folder: empty.appendingPathComponent("nope")) }, contains: "does not exist")
        let onlySpiece = try tempFolder(["spiece.model": "x"])
        assertEngineError({ _ = try Tokenizer.load(folder: onlySpiece) }, contains: "spiece.model")
        let onlyVocab = try tempFolder(["vocab.json": "{}"])
        assertEngineError({ _ = try Tokenizer.load(folder: onlyVocab) }, contains: "merges.txt")
    }

    func testUnsupportedComponentsAreNamed() throws {
        let wl = #""model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}"#
        let cases: [(String, String)] = [
            (#"{"normalizer": {"type": "BertNormalizerX"}, \#(wl)}"#, "BertNormalizerX"),
            (#"{"pre_tokenizer": {"type": "UnicodeScriptsX"}, \#(wl)}"#, "UnicodeScriptsX"),
            (#"{"post_processor": {"type": "FancyX"}, \#(wl)}"#, "FancyX"),
            (#"{"model": {"type": "WordPieceX", "vocab": {}}}"#, "WordPieceX"),
            (#"{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated", "invert": false}, \#(wl)}"#, "regex"),
            (#"{"pre_tokenizer": {"type": "Split", "pattern": {"String": "x"}, "behavior": "Weird", "invert": false}, \#(wl)}"#, "behavior"),
        ]
        for (json, needle) in cases {
            let dir = try tempFolder(["tokenizer.json": json])
            assertEngineError({ _ = try Tokenizer.load(folder: dir) }, contains: needle)
        }
        let badClass = try tempFolder(["vocab.json": "{}", "merges.txt": "#version: 0.2\n",
                                       "tokenizer_config.json": #"{"tokenizer_class": "GPT2Tokenizer"}"#])
        assertEngineError({ _ = try Tokenizer.load(folder: badClass) }, contains: "GPT2Tokenizer")
    }

    func testWordLevelInlineAndSplitBehaviors() throws {
        let json = #"""
        {"normalizer": {"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": true, "strip_right": true}, {"type": "Replace", "pattern": {"String": "-"}, "content": " "}]},
         "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[0-9]"}, "behavior": "Isolated", "invert": false},
         "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "ab": 1, "1": 2, "c d": 3}, "unk_token": "[UNK]"}}
        """#
        let tok = try Tokenizer.load(folder: try tempFolder(["tokenizer.json": json]))
        XCTAssertEqual(tok.encode("  ab1c-d "), [1, 2, 3])
        XCTAssertEqual(tok.encode("zz"), [0])
    }

    func testLeftPaddingAndTruncationSides() throws {
        let json = #"{"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "[PAD]": 1, "a": 2, "b": 3, "c": 4, "[S]": 5}, "unk_token": "[UNK]"}, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[S]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"[S]": {"id": "[S]", "ids": [5], "tokens": ["[S]"]}}}}"#
        let config = #"{"pad_token": "[PAD]", "padding_side": "left", "truncation_side": "left"}"#
        let tok = try Tokenizer.load(folder: try tempFolder(["tokenizer.json": json, "tokenizer_config.json": config]))
        XCTAssertEqual(tok.encodeForPipeline("a b", maxLength: 5), [1, 1, 5, 2, 3])
        XCTAssertEqual(tok.encodeForPipeline("a b c", maxLength: 3), [5, 3, 4])
    }

    func testSpeed() throws {
        let tok = try Tokenizer.load(folder: Self.root.appendingPathComponent("clip_json"))
        let t5 = try Tokenizer.load(folder: Self.root.appendingPathComponent("t5"))
        let strings = Self.parity.strings
        let start = Date()
        for s in strings { _ = tok.encode(s); _ = t5.encode(s) }
        let elapsed = Date().timeIntervalSince(start)
        print("tokenized \(strings.count) strings with CLIP and T5 in \(String(format: "%.3f", elapsed)) s")
    }
}

extension TokenizerTests {
    /// Very long words take the heap merge path; it must agree with the short-word path and stay
    /// fast (tokenizers' O(n log n) merge, not O(n^2)).
    func testLongWordsAreBoundedAndConsistent() throws {
        let tok = try Tokenizer.load(folder: Self.root.appendingPathComponent("clip_vocab_merges"))
        let bpe = try XCTUnwrap(tok.model as? BPEModel)
        for s in Self.parity.strings where !s.isEmpty {
            let symbols = bpe.initialSymbols(ByteLevelTable.encode(Array(s.lowercased().unicodeScalars)))
            XCTAssertEqual(bpe.mergeShort(symbols), bpe.mergeWithHeap(symbols), s)
        }
        let start = Date()
        let huge = tok.encode(String(repeating: "abcdefghij", count: 20_000), addSpecialTokens: false)
        XCTAssertFalse(huge.isEmpty)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        let t5 = try Tokenizer.load(folder: Self.root.appendingPathComponent("t5"))
        XCTAssertFalse(t5.encode(String(repeating: "x", count: 200_000)).isEmpty)
    }
}

extension TokenizerTests {
    /// The hand-written scanners must find the same matches as ICU does for the same regex.
    func testHandWrittenPatternsAgreeWithICU() throws {
        let pairs: [(SplitPattern, String)] = [
            (.clip(specials: true), SplitPattern.clipPatternWithSpecials),
            (.clip(specials: false), SplitPattern.clipPattern),
            (.gpt2, SplitPattern.gpt2Pattern),
            (.whitespaceRun, #"\s+"#),
            (.spaceRun(min: 2), " {2,}"),
            (.wordOrPunct, #"\w+|[^\w\s]+"#),
        ]
        let strings = Self.parity.strings + Self.parity.variantStrings
        for (fast, pattern) in pairs {
            let icu = SplitPattern.regex(try NSRegularExpression(pattern: pattern))
            var bad: [String] = []
            for s in strings {
                let scalars = Array(s.unicodeScalars)
                if fast.matches(in: scalars) != icu.matches(in: scalars) { bad.append(s.debugDescription) }
            }
            XCTAssert(bad.isEmpty, "\(pattern): \(bad.count) strings differ, e.g. \(bad.prefix(3))")
        }
    }
}

extension TokenizerTests {
    func testJSONReaderKeepsScalarsAndNumbers() throws {
        let text = "{\"a\": [\"\u{FEFF}x\", \"\\u00e9\\ud83d\\ude00\\n\", \"e\u{301}\"], \"n\": -12, \"d\": -3.5e-2, \"t\": true, \"z\": null}"
        let obj = try XCTUnwrap(try TokenizerJSON.parse(Data(text.utf8), name: "t").foundationValue as? [String: Any])
        let a = try XCTUnwrap(obj["a"] as? [String])
        XCTAssertEqual(a.map { $0.unicodeScalars.map(\.value) },
                       [[0xFEFF, 0x78], [0xE9, 0x1F600, 0x0A], [0x65, 0x301]])
        XCTAssertEqual(obj["n"] as? Int, -12)
        XCTAssertEqual(obj["d"] as? Double, -0.035)
        XCTAssertEqual(obj["t"] as? Bool, true)
        XCTAssert(obj["z"] is NSNull)
        XCTAssertThrowsError(try TokenizerJSON.parse(Data("{\"a\": [1, }".utf8), name: "bad.json"))
    }
}

extension JSONValue {
    /// The value as Foundation types (Int for integer literals, Double for other numbers), for reading fixtures.
    var foundationValue: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let text): return Int(text).map { $0 as Any } ?? Double(text)!
        case .string(let s): return s
        case .array(let items): return items.map(\.foundationValue)
        case .object(let members):
            var d: [String: Any] = [:]
            for (k, v) in members { d[k] = v.foundationValue }
            return d
        }
    }
}

extension TokenizerTests {
    static let minimalModel = #""model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"}"#

    /// Every component type tokenizers 0.23 can write into a tokenizer.json loads (the decoders
    /// unread: encoding never runs them).
    func testEveryLibraryComponentTypeLoads() throws {
        let normalizers = [#"{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true}"#,
                           #"{"type": "ByteLevel"}"#, #"{"type": "Lowercase"}"#, #"{"type": "NFC"}"#, #"{"type": "NFD"}"#,
                           #"{"type": "NFKC"}"#, #"{"type": "NFKD"}"#, #"{"type": "Nmt"}"#, #"{"type": "Precompiled", "precompiled_charsmap": null}"#,
                           #"{"type": "Prepend", "prepend": "_"}"#, #"{"type": "Replace", "pattern": {"String": "a"}, "content": "b"}"#,
                           #"{"type": "Sequence", "normalizers": [{"type": "Nmt"}]}"#, #"{"type": "Strip", "strip_left": true, "strip_right": true}"#,
                           #"{"type": "StripAccents"}"#]
        let preTokenizers = [#"{"type": "BertPreTokenizer"}"#, #"{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}"#,
                             #"{"type": "CharDelimiterSplit", "delimiter": "x"}"#, #"{"type": "Digits", "individual_digits": false}"#,
                             #"{"type": "FixedLength", "length": 5}"#, #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}"#,
                             #"{"type": "Punctuation", "behavior": "Isolated"}"#, #"{"type": "Sequence", "pretokenizers": [{"type": "UnicodeScripts"}]}"#,
                             #"{"type": "Split", "pattern": {"String": "a"}, "behavior": "Isolated", "invert": false}"#,
                             #"{"type": "UnicodeScripts"}"#, #"{"type": "Whitespace"}"#, #"{"type": "WhitespaceSplit"}"#]
        let postProcessors = [#"{"type": "BertProcessing", "sep": ["a", 1], "cls": ["[UNK]", 0]}"#, #"{"type": "ByteLevel", "trim_offsets": true}"#,
                              #"{"type": "RobertaProcessing", "sep": ["a", 1], "cls": ["[UNK]", 0], "trim_offsets": true, "add_prefix_space": true}"#,
                              #"{"type": "Sequence", "processors": [{"type": "ByteLevel"}]}"#,
                              #"{"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}"#]
        let decoders = [#"{"type": "BPEDecoder", "suffix": "</w>"}"#, #"{"type": "ByteFallback"}"#, #"{"type": "ByteLevel"}"#,
                        #"{"type": "CTC", "pad_token": "<pad>", "word_delimiter_token": "|", "cleanup": true}"#, #"{"type": "Fuse"}"#,
                        #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}"#,
                        #"{"type": "Replace", "pattern": {"String": "a"}, "content": "b"}"#, #"{"type": "Sequence", "decoders": [{"type": "Fuse"}]}"#,
                        #"{"type": "Strip", "content": " ", "start": 1, "stop": 0}"#, ###"{"type": "WordPiece", "prefix": "##", "cleanup": true}"###]
        let models = [#""model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}"#,
                      #""model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0]], "byte_fallback": false}"#,
                      Self.minimalModel,
                      ###""model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "a": 1}}"###]
        var bodies: [String] = []
        bodies += normalizers.map { #"{"normalizer": \#($0), \#(Self.minimalModel)}"# }
        bodies += preTokenizers.map { #"{"pre_tokenizer": \#($0), \#(Self.minimalModel)}"# }
        bodies += postProcessors.map { #"{"post_processor": \#($0), \#(Self.minimalModel)}"# }
        bodies += decoders.map { #"{"decoder": \#($0), \#(Self.minimalModel)}"# }
        bodies += models.map { "{\($0)}" }
        for body in bodies {
            XCTAssertNoThrow(try Tokenizer.fromTokenizerJSON(JSONValue.parse(Data(body.utf8))), body)
        }
    }

    /// An unknown type in any section (also inside a Sequence) is refused at load, naming the
    /// section and the type.
    func testUnknownTypesAreRefusedBySectionAndName() throws {
        let m = Self.minimalModel
        let cases: [(String, String)] = [
            (#"{"normalizer": {"type": "Cyrillic"}, \#(m)}"#, "unsupported normalizer type Cyrillic"),
            (#"{"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Append"}]}, \#(m)}"#, "unsupported normalizer type Append"),
            (#"{"pre_tokenizer": {"type": "RandomChunk"}, \#(m)}"#, "unsupported pre_tokenizer type RandomChunk"),
            (#"{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Deduplication"}]}, \#(m)}"#, "unsupported pre_tokenizer type Deduplication"),
            (#"{"post_processor": {"type": "Truncate"}, \#(m)}"#, "unsupported post_processor type Truncate"),
            (#"{"post_processor": {"type": "Sequence", "processors": [{"type": "Fancy"}]}, \#(m)}"#, "unsupported post_processor type Fancy"),
            (#"{"decoder": {"type": "Unmerge"}, \#(m)}"#, "unsupported decoder type Unmerge"),
            (#"{"decoder": {"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Ctc2"}]}, \#(m)}"#, "unsupported decoder type Ctc2"),
            (#"{"model": {"type": "SentencePiece", "vocab": {}}}"#, "unsupported model type SentencePiece"),
            (#"{"pre_tokenizer": {"type": "FixedLength", "length": 0}, \#(m)}"#, "FixedLength length"),
            (#"{"pre_tokenizer": {"type": "CharDelimiterSplit", "delimiter": "ab"}, \#(m)}"#, "CharDelimiterSplit delimiter"),
            (#"{"normalizer": {"type": "BertNormalizer", "lowercase": "yes"}, \#(m)}"#, "BertNormalizer lowercase"),
        ]
        for (json, needle) in cases {
            assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse(Data(json.utf8))) }, contains: needle)
        }
    }

    /// Found by `Scripts/fuzz tokenizer`: a negative vocabulary id trapped in BPEModel's 32-bit packing ("Negative value
    /// is not representable"). Ids outside 0…2^31−1 are refused at load, wherever a file gives one.
    func testNegativeOrHugeTokenIds_areRefusedAtLoad() throws {
        let crash = try Data(contentsOf: Self.root.appendingPathComponent("fuzz-crash-negative-bpe-id.json"))
        assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(TokenizerJSON.parse(crash, name: "crash")) },
                          contains: "has id -1")
        let bpe = #""model": {"type": "BPE", "vocab": {"a": 0, "b": ID}, "merges": ["a b"]}"#
        for id in ["-1", "2147483648", "-9223372036854775808"] {
            assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse("{" + bpe.replacingOccurrences(of: "ID", with: id) + "}")) },
                              contains: "not 0 to 2147483647")
        }
        let wordLevel = #""model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": -5}, "unk_token": "[UNK]"}"#
        assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse("{" + wordLevel + "}")) }, contains: "has id -5")
        let m = Self.minimalModel
        assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse(#"{"truncation": {"max_length": -1}, \#(m)}"#)) },
                          contains: "max_length -1")
        assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse(#"{"padding": {"pad_id": -2, "strategy": {"Fixed": 4}}, \#(m)}"#)) },
                          contains: "pad_id -2")
        assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse(#"{"padding": {"pad_id": 0, "strategy": {"Fixed": -4}}, \#(m)}"#)) },
                          contains: "padding length -4")
        assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse(#"{"post_processor": {"type": "BertProcessing", "cls": ["[CLS]", -1], "sep": ["[SEP]", 1]}, \#(m)}"#)) },
                          contains: "cls and sep")
    }

    /// Found by `Scripts/fuzz tokenizer` (a 14 s timeout): Replace with a pattern that matches the empty string
    /// (`\s?+`) inserts its content between every two characters, twice in a row here. Refused at load.
    func testReplaceMatchingTheEmptyString_isRefusedAtLoad() throws {
        let slow = try Data(contentsOf: Self.root.appendingPathComponent("fuzz-timeout-empty-replace.json"))
        assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(TokenizerJSON.parse(slow, name: "timeout")) },
                          contains: "Replace pattern matches the empty string")
        let m = Self.minimalModel
        for pattern in [#"{"Regex": "x*"}"#, #"{"Regex": "\\b"}"#, #"{"Regex": "(?:)"}"#] {
            let json = #"{"normalizer": {"type": "Replace", "pattern": \#(pattern), "content": "y"}, \#(m)}"#
            assertEngineError({ _ = try Tokenizer.fromTokenizerJSON(JSONValue.parse(json)) }, contains: "matches the empty string")
        }
        // Patterns real tokenizers use still load.
        for pattern in [#"{"String": " "}"#, #"{"Regex": "\\s+"}"#, #"{"Regex": " {2,}"}"#] {
            let json = #"{"normalizer": {"type": "Replace", "pattern": \#(pattern), "content": "▁"}, \#(m)}"#
            XCTAssertNoThrow(try Tokenizer.fromTokenizerJSON(JSONValue.parse(json)), pattern)
        }
    }

    func testNewComponentsOnHandPickedInputs() throws {
        // Nmt keeps NUL, drops the listed controls, maps the listed spaces.
        XCTAssertEqual(TextNormalizer.nmt(Array("a\u{0}\u{1}\u{8}\u{B}\u{E}\u{1F}\u{7F}\u{8F}\u{9F}\u{85}b".unicodeScalars)),
                       Array("a\u{0}\u{85}b".unicodeScalars))
        XCTAssertEqual(TextNormalizer.nmt(Array("\t\n\u{C}\r\u{1680}\u{200B}\u{200F}\u{2028}\u{2029}\u{2581}\u{FEFF}\u{FFFD}".unicodeScalars)),
                       Array(repeating: " ", count: 12))
        let bert = TextNormalizer.bert(cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true)
        XCTAssertEqual(String(String.UnicodeScalarView(bert.apply(Array("Héllo\u{0}\u{200B}\t中x".unicodeScalars)))), "hello  中 x")
        let wp = WordPieceModel(vocab: [ByteKey("[UNK]"): 0, ByteKey("ab"): 1, ByteKey("##a"): 2, ByteKey("##b"): 3, ByteKey("a"): 4],
                                unkToken: "[UNK]", continuingPrefix: "##", maxInputCharsPerWord: 5)
        XCTAssertEqual(wp.tokenize(Array("abab".unicodeScalars)), [1, 2, 3])
        XCTAssertEqual(wp.tokenize(Array("abc".unicodeScalars)), [0])
        XCTAssertEqual(wp.tokenize(Array("aaaaaa".unicodeScalars)), [0])
        XCTAssertEqual(wp.tokenize(Array("aaaaa".unicodeScalars)), [4, 2, 2, 2, 2])
        // UnicodeScripts drops "any" characters (the space) before the first split.
        XCTAssertEqual(PreTokenizer.scriptRanges(Array("  ab 12".unicodeScalars)), [2..<5, 5..<7])
    }
}
