/// Byte classes from RFC 9110/9112 as lookup tables.
enum ByteClass {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let sp: UInt8 = 32
    static let htab: UInt8 = 9

    /// tchar: the characters of a method or header name.
    static let token: [Bool] = (0..<256).map { c in
        switch UInt8(c) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(UInt8(c))
        }
    }

    /// field-vchar, SP, HTAB and obs-text: what a header value (or chunk extension) may hold.
    static let fieldValue: [Bool] = (0..<256).map { c in c == 9 || (c >= 0x20 && c != 0x7F) }

    /// Visible ASCII: what a request target may hold.
    static let target: [Bool] = (0..<256).map { c in c > 0x20 && c < 0x7F }
}
