import EaselJSON
import Foundation
import XCTest

final class JSONParserTests: XCTestCase {
    func test_parse_keepsScalarsNumbersAndOrder() throws {
        let text = "{\"a\": [\"\u{FEFF}x\", \"\\u00e9\\ud83d\\ude00\\n\", \"e\u{301}\"], \"n\": -12, \"d\": -3.5e-2, \"t\": true, \"z\": null}"
        let v = try JSONValue.parse(text)
        let a = try XCTUnwrap(v["a"]?.arrayValue?.compactMap(\.stringValue))
        XCTAssertEqual(a.map { $0.unicodeScalars.map(\.value) }, [[0xFEFF, 0x78], [0xE9, 0x1F600, 0x0A], [0x65, 0x301]])
        XCTAssertEqual(v["n"]?.integerLiteralValue, -12)
        XCTAssertEqual(v["d"]?.doubleValue, -0.035)
        XCTAssertNil(v["d"]?.integerLiteralValue)
        XCTAssertEqual(v["t"]?.boolValue, true)
        XCTAssertEqual(v["z"], .null)
        XCTAssertEqual(v.objectValue?.map(\.0), ["a", "n", "d", "t", "z"])
    }

    func test_parse_bigIntegers_stayExact() throws {
        let v = try JSONValue.parse(#"{"seed": 18446744073709551615, "x": 9007199254740993}"#)
        XCTAssertEqual(v["seed"]?.uint64Value, UInt64.max)
        XCTAssertEqual(v["x"]?.integerLiteralValue, 9_007_199_254_740_993)
        XCTAssertEqual(v.serialized, #"{"seed":18446744073709551615,"x":9007199254740993}"#)
    }

    func test_parse_malformed_throwsWithOffset() {
        let bad: [(String, String)] = [
            ("{\"a\": [1, }", "unexpected character"), ("[1,]", "unexpected character"), ("{} x", "after the JSON value"),
            ("01", "leading zero"), ("1.", "digits after"), ("\"\\ud800\"", "surrogate"), ("\"\u{01}\"", "control character"),
            ("tru", "invalid literal"), ("\"abc", "unterminated"), ("{\"a\" 1}", "expected ':'"), ("", "end of input"),
        ]
        for (text, needle) in bad {
            XCTAssertThrowsError(try JSONValue.parse(text), text) { error in
                let e = error as? JSONParseError
                XCTAssertTrue(e?.description.contains(needle) == true, "\(text): \(String(describing: e))")
            }
        }
        XCTAssertThrowsError(try JSONValue.parse([UInt8]([0x22, 0xFF, 0x22]))) {
            XCTAssertTrue(($0 as? JSONParseError)?.message.contains("UTF-8") == true)
        }
    }

    func test_limits_depthSizeAndDuplicates() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertThrowsError(try JSONValue.parse(deep)) { XCTAssertTrue("\($0)".contains("nesting deeper than 64")) }
        XCTAssertNoThrow(try JSONValue.parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertNoThrow(try JSONValue.parse(deep, limits: .tokenizer))
        XCTAssertThrowsError(try JSONValue.parse("[1, 2, 3]", limits: JSONLimits(maxBytes: 8, maxDepth: 4))) {
            XCTAssertTrue("\($0)".contains("over the limit of 8"))
        }
        XCTAssertThrowsError(try JSONValue.parse(#"{"w": 1, "\u0077": 2}"#)) { XCTAssertTrue("\($0)".contains("duplicate key 'w'")) }
        let last = try JSONValue.parse(#"{"w": 1, "w": 2}"#, limits: .tokenizer)
        XCTAssertEqual(last["w"]?.integerLiteralValue, 2, "later duplicates win, as in serde")
        // Canonically equivalent keys are different keys: their bytes differ.
        XCTAssertNoThrow(try JSONValue.parse("{\"\u{E9}\": 1, \"e\u{301}\": 2}"))
    }

    func test_integer_oneExactRule() throws {
        func int<T: FixedWidthInteger>(_ text: String, _ type: T.Type) -> T? { try? JSONValue.parse(text).integer(as: type) }
        XCTAssertEqual(int("64", Int.self), 64)
        XCTAssertEqual(int("64.000", Int.self), 64)
        XCTAssertEqual(int("6.4e1", Int.self), 64)
        XCTAssertEqual(int("6400e-2", Int.self), 64)
        XCTAssertEqual(int("-0.0", Int.self), 0)
        XCTAssertEqual(int("0e-5", Int.self), 0)
        XCTAssertEqual(int("-9223372036854775808", Int.self), .min)
        XCTAssertEqual(int("1.8446744073709551615e19", UInt64.self), .max)
        XCTAssertEqual(int("9007199254740993.0", Int.self), 9_007_199_254_740_993, "not rounded through a Double")
        for bad in ["2.5", "64.01", "1e400", "1e-400", "18446744073709551616", "-1", "true", "\"3\""] {
            XCTAssertNil(int(bad, UInt64.self), bad)
        }
        XCTAssertNil(int("9223372036854775808", Int.self))
        XCTAssertNil(int("128", Int8.self))
    }

    func test_parseError_carriesTheKeyPath() {
        XCTAssertThrowsError(try JSONValue.parse(#"{"a": {"b": [1, {"c": tru}]}}"#)) {
            XCTAssertEqual(($0 as? JSONParseError)?.path, ["a", "b", "c"])
        }
        XCTAssertThrowsError(try JSONValue.parse(#"{"a": 1, "a": 2}"#)) {
            XCTAssertEqual(($0 as? JSONParseError)?.path, ["a"], "a repeated key is named")
        }
    }

    func test_byteOrderMark_isSkipped() throws {
        XCTAssertEqual(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)), .array([.number("1")]))
    }
}

final class JSONWriterTests: XCTestCase {
    func test_writer_escapesAndRoundTrips() throws {
        let s = "q\" b\\ n\n r\r t\t \u{01} \u{2028}\u{2029} é 😀 \u{FEFF}"
        let text = JSONValue.quoted(s)
        XCTAssertEqual(text, #""q\" b\\ n\n r\r t\t \u0001 \u2028\u2029 é 😀 "# + "\u{FEFF}\"")
        XCTAssertEqual(try JSONValue.parse(text).stringValue, s)
        let doc = JSONValue.object([("a", .array([.int(1), .double(2.5), .bool(false), .null])), ("b", .string(s))])
        XCTAssertEqual(try JSONValue.parse(doc.serialized), doc)
    }

    func test_streamingWriter_splicesStoredJSON() {
        var w = JSONWriter()
        w.beginObject()
        w.key("input"); w.json(Array(#"{"seed":18446744073709551615}"#.utf8))
        w.key("n"); w.int(nil as Int?)
        w.key("list"); w.beginArray(); w.int(1); w.string("x"); w.endArray()
        w.endObject()
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), #"{"input":{"seed":18446744073709551615},"n":null,"list":[1,"x"]}"#)
    }

    func test_double_isShortestExact() {
        XCTAssertEqual(JSONValue.double(3).serialized, "3")
        XCTAssertEqual(JSONValue.double(0.1).serialized, "0.1")
        XCTAssertEqual(JSONValue.double(2.5).serialized, "2.5")
    }
}

final class JSONCodableTests: XCTestCase {
    struct Spec: Codable, Equatable {
        var prompt: String
        var seed: UInt64
        var guidance: Double
        var size: [Int]
        var note: String?
        var nested: Inner
        struct Inner: Codable, Equatable { var flag: Bool; var ratio: Float }
        enum CodingKeys: String, CodingKey { case prompt, seed, guidance, size, note, nested = "inner_values" }
    }

    func test_encodeDecode_roundTripsExactly() throws {
        let spec = Spec(prompt: "a \"cat\"", seed: .max, guidance: 0.1, size: [64, 48], note: nil,
                        nested: .init(flag: true, ratio: 0.25))
        let value = try JSONValueEncoder().encode(spec)
        XCTAssertEqual(value.serialized,
                       #"{"prompt":"a \"cat\"","seed":18446744073709551615,"guidance":0.1,"size":[64,48],"inner_values":{"flag":true,"ratio":0.25}}"#)
        XCTAssertEqual(try JSONValueDecoder().decode(Spec.self, from: JSONValue.parse(value.serialized)), spec)
    }

    func test_decode_wrongTypesAndRanges_throw() throws {
        struct I: Decodable { var n: Int }
        struct U: Decodable { var n: UInt8 }
        XCTAssertEqual(try JSONValueDecoder().decode(I.self, from: JSONValue.parse(#"{"n": 64.0}"#)).n, 64)
        XCTAssertThrowsError(try JSONValueDecoder().decode(I.self, from: JSONValue.parse(#"{"n": 2.5}"#)))
        XCTAssertThrowsError(try JSONValueDecoder().decode(I.self, from: JSONValue.parse(#"{"n": "3"}"#)))
        XCTAssertThrowsError(try JSONValueDecoder().decode(I.self, from: JSONValue.parse(#"{}"#))) {
            guard case DecodingError.keyNotFound(let k, _) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(k.stringValue, "n")
        }
        XCTAssertThrowsError(try JSONValueDecoder().decode(U.self, from: JSONValue.parse(#"{"n": 256}"#)))
    }
}
