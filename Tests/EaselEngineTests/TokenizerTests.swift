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
        guard let entry = p.entries[name], let expected = p.ids(name),
              let maxLength = entry["pipeline_max_length"] as? Int, let padded = p.pipelineIds(name) else {
            return XCTFail("parity.json has no entry for \(name)", file: file, line: line)
        }
        XCTAssertGreaterThanOrEqual(p.strings.count, 1000)
        XCTAssertEqual(tok.padId, entry["pad_id"] as? Int, "\(name) pad id")
        var mismatches: [String] = []
        var padMismatches: [String] = []
        for (i, s) in p.strings.enumerated() {
            let got = tok.encode(s)
            if got != expected[i] {
                mismatches.append("#\(i) \(s.debugDescription.prefix(120))\n   want \(expected[i].prefix(40))\n   got  \(got.prefix(40))")
            }
            let gotPad = tok.encodeForPipeline(s, maxLength: maxLength)
            if gotPad != padded[i] {
                padMismatches.append("#\(i) \(s.debugDescription.prefix(120))\n   want \(padded[i])\n   got  \(gotPad)")
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
            let expected = entry["ids"] as! [[Int]]
            var mismatches: [String] = []
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
