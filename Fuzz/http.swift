// libFuzzer target: the HTTP/1.1 request parser (compiled into the EaselHTTP module by Scripts/fuzz).
// Each input is fed in two pieces, cut where its first byte says, so incremental parsing is exercised too.
let fuzzLimits: HTTPServerLimits = {
    var l = HTTPServerLimits()
    l.maxBodyBytes = 64 * 1024
    return l
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let cut = size > 0 ? Int(input[0]) % (size + 1) : 0
    var parser = HTTPRequestParser(limits: fuzzLimits)
    func drain() {
        var events = 0
        while let event = parser.next() {
            events += 1
            if case .request(let parsed) = event {
                // What a handler would touch.
                _ = parsed.request.path
                _ = parsed.request.query
                _ = parsed.request.headers["content-type"]
            }
            if case .error = event { return }
            precondition(events < 100_000, "the parser made no progress")
        }
    }
    parser.append(UnsafeRawBufferPointer(rebasing: input[0..<cut]))
    drain()
    parser.append(UnsafeRawBufferPointer(rebasing: input[cut...]))
    drain()
    return 0
}
