import EaselJSON
import Foundation

/// The `post_processor` section: adds special tokens around a single sequence. Only the
/// single-sequence form is needed (text encoders never see pairs).
indirect enum PostProcessor {
    /// Pieces of a template: a run of fixed ids, or the sequence itself.
    enum Piece { case ids([Int]), sequence }

    case template([Piece])
    case sequence([PostProcessor])
    case none

    static func parse(_ json: JSONValue?) throws -> PostProcessor {
        guard let obj = json, obj != .null else { return .none }
        guard let type = obj["type"]?.stringValue else {
            throw EngineError("tokenizer: post_processor is not an object with a type")
        }
        switch type {
        case "TemplateProcessing":
            let specials = obj["special_tokens"] ?? .object([])
            var pieces: [Piece] = []
            for it in obj["single"]?.arrayValue ?? [] {
                guard case .object(let itemMembers) = it else { continue }
                if it["Sequence"] != nil {
                    pieces.append(.sequence)
                } else if let sp = it["SpecialToken"], case .object = sp, let name = sp["id"]?.stringValue {
                    guard let entry = specials[name], case .object = entry,
                          let ids = entry["ids"]?.arrayValue?.map({ TokenizerJSON.tokenID($0) }) as [Int?]?,
                          let exact = ids.allSatisfy({ $0 != nil }) ? ids.compactMap({ $0 }) : nil else {
                        throw EngineError("tokenizer: TemplateProcessing special token \(name) has no ids")
                    }
                    pieces.append(.ids(exact))
                } else {
                    throw EngineError("tokenizer: unsupported TemplateProcessing item \(itemMembers.map(\.0).sorted())")
                }
            }
            return .template(pieces)
        case "RobertaProcessing", "BertProcessing":
            guard let cls = obj["cls"]?.arrayValue, cls.count == 2, let clsId = TokenizerJSON.tokenID(cls[1]),
                  let sep = obj["sep"]?.arrayValue, sep.count == 2, let sepId = TokenizerJSON.tokenID(sep[1]) else {
                throw EngineError("tokenizer: \(type) needs cls and sep [token, id] pairs")
            }
            return .template([.ids([clsId]), .sequence, .ids([sepId])])
        case "ByteLevel":
            return .none  // only trims offsets; ids are unchanged
        case "Sequence":
            let items = obj["processors"]?.arrayValue ?? []
            return .sequence(try items.map { try parse($0) })
        default:
            throw EngineError("tokenizer: unsupported post_processor type \(type)")
        }
    }

    /// How many ids `apply` adds to a single sequence.
    var addedCount: Int {
        switch self {
        case .none: return 0
        case .template(let pieces):
            return pieces.reduce(0) { acc, p in if case .ids(let ids) = p { return acc + ids.count }; return acc }
        case .sequence(let items): return items.reduce(0) { $0 + $1.addedCount }
        }
    }

    func apply(_ ids: [Int]) -> [Int] {
        switch self {
        case .none: return ids
        case .template(let pieces):
            var out: [Int] = []
            out.reserveCapacity(ids.count + 4)
            for p in pieces {
                switch p {
                case .ids(let s): out.append(contentsOf: s)
                case .sequence: out.append(contentsOf: ids)
                }
            }
            return out
        case .sequence(let items):
            return items.reduce(ids) { $1.apply($0) }
        }
    }
}
