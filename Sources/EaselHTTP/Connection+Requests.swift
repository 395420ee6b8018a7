import Foundation
import Synchronization

private let continueBytes = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

extension Connection {
    /// Turns buffered bytes into requests (one at a time) or a refusal, then sends what is queued.
    func processInput() {
        processingInput = true
        defer { processingInput = false }
        while case .reading = phase {
            if out.count - outIndex > Self.outputHighWater {
                blockedOnOutput = true
                break
            }
            guard let event = parser.next() else { break }
            switch event {
            case .expectContinue: enqueue(continueBytes)
            case .request(let parsed): dispatch(parsed)
            case .error(let error): refuse(error)
            }
        }
        if case .reading = phase, headStartedAt == nil, parser.isMidRequest {
            headStartedAt = Monotonic.now()
            requestBytesRead = parser.bufferedCount
        }
        flush()
    }

    /// A request that arrives too slowly: 408, and the connection closes (its unread body is discarded).
    private func refuseSlow(_ reason: String) {
        loop.core.log("\(remoteAddress): 408, \(reason)")
        let response = HTTPResponse.error(status: 408, message: reason)
        enqueue(ResponseEncoder.encode(response, .init(isHead: false, isHTTP10: false, keepAlive: false)).bytes)
        phase = .closing
        headStartedAt = nil
        flush()
    }

    private func refuse(_ error: HTTPParseError) {
        loop.core.log("\(remoteAddress): refused request: \(error)")
        let response = HTTPResponse.error(status: error.status, message: error.message)
        enqueue(ResponseEncoder.encode(response, .init(isHead: false, isHTTP10: false, keepAlive: false)).bytes)
        phase = .closing
    }

    private func dispatch(_ parsed: ParsedRequest) {
        requestID &+= 1
        let id = requestID
        phase = .handling
        headStartedAt = nil
        requestBytesRead = 0
        var mutableRequest = parsed.request
        mutableRequest.remoteAddress = remoteAddress
        let request = mutableRequest
        let context = ResponseEncoder.Context(isHead: request.method == "HEAD", isHTTP10: parsed.isHTTP10, keepAlive: parsed.keepAlive)
        let core = loop.core
        let loop = self.loop
        let encode = { @Sendable (response: HTTPResponse) -> (bytes: [UInt8], stream: (@Sendable (HTTPStreamWriter) -> Void)?, keepAlive: Bool) in
            var context = context
            context.keepAlive = context.keepAlive && !core.isStopping && !ResponseEncoder.wantsClose(response)
            return ResponseEncoder.encode(response, context)
        }
        let connection = LoopBound(self, on: loop)
        let deliverLater = { @Sendable (response: HTTPResponse) in
            let encoded = encode(response)
            connection.execute {
                $0.deliver(id: id, encoded.bytes, keepAlive: encoded.keepAlive, stream: encoded.stream,
                           chunked: !context.isHTTP10)
            }
        }
        // On this loop first: an answer given before `handleInline` returns is written directly; a later one takes
        // the usual path back through `loop.execute`.
        let reply = InlineReply()
        let handled = core.handler.handleInline(request) { response in
            if !reply.capture(response) { deliverLater(response) }
        }
        if handled {
            if let response = reply.close() {
                let encoded = encode(response)
                deliver(id: id, encoded.bytes, keepAlive: encoded.keepAlive, stream: encoded.stream,
                        chunked: !context.isHTTP10)
            }
            return
        }
        core.handlerQueue.async {
            core.handler.handle(request, respond: deliverLater)
        }
    }

    private func deliver(id: UInt64, _ bytes: [UInt8], keepAlive: Bool, stream: (@Sendable (HTTPStreamWriter) -> Void)?, chunked: Bool) {
        guard case .handling = phase, id == requestID else { return }  // closed meanwhile, or a second respond
        enqueue(bytes)
        guard let stream else {
            finishResponse(keepAlive: keepAlive)
            return
        }
        let connection = LoopBound(self, on: loop)
        let channel = StreamChannel(cap: limits.maxStreamBufferBytes, chunked: chunked) {
            connection.execute { $0.pumpStream() }
        }
        phase = .streaming(channel)
        keepAliveAfterStream = keepAlive
        let writer = HTTPStreamWriter(channel: channel)
        loop.core.handlerQueue.async { stream(writer) }
        flush()
    }

    /// Moves queued stream bytes to the socket whenever the previous batch has gone out.
    func pumpStream() {
        while case .streaming(let channel) = phase {
            if hasPendingOutput {
                if channel.isFailed { abortStream() }
                return
            }
            let (bytes, outcome) = channel.take()
            switch outcome {
            case .failed:
                abortStream()
                return
            case .finished:
                enqueue(bytes)
                finishResponse(keepAlive: keepAliveAfterStream)
                return
            case .streaming:
                if bytes.isEmpty { return }
                enqueue(bytes)
                if !write() { return }
            }
        }
    }

    private func abortStream() {
        loop.core.log("\(remoteAddress): streaming response aborted (client too slow, gone, or writer dropped)")
        close()
    }

    /// After a complete response is queued: next request, or close.
    private func finishResponse(keepAlive: Bool) {
        if keepAlive && !peerClosed && !loop.isShuttingDown {
            phase = .reading
            lastRead = Monotonic.now()
            headStartedAt = parser.isMidRequest ? lastRead : nil
            if processingInput { return }  // answered inline: the running `processInput` takes the next request
            processInput()
            if case .reading = phase, readable { readAndProcess() }
        } else {
            phase = .closing
            flush()
        }
    }

    /// Header timeout, idle timeout, stalled writes, linger deadline.
    func checkTimeouts(now: UInt64) {
        let idle = Monotonic.nanoseconds(limits.idleTimeout)
        if hasPendingOutput && now > lastWrite + idle {
            loop.core.log("\(remoteAddress): closing, client stopped reading")
            close()
            return
        }
        switch phase {
        case .lingering:
            if now >= lingerDeadline { close() }
        case .reading:
            if let started = headStartedAt, parser.isMidRequest || parser.state == .head {
                let elapsed = now - started
                if parser.state == .head && elapsed > Monotonic.nanoseconds(limits.headerTimeout) {
                    loop.core.log("\(remoteAddress): closing, request head not received in time")
                    close()
                } else if parser.state != .head && elapsed > Monotonic.nanoseconds(limits.requestTimeout) {
                    refuseSlow("the request was not received within \(limits.requestTimeout) s")
                } else if parser.state != .head, limits.minRequestBytesPerSecond > 0,
                          elapsed > Monotonic.nanoseconds(limits.minRequestRateGrace),
                          Double(requestBytesRead) < Double(limits.minRequestBytesPerSecond) * Double(elapsed) / 1e9 {
                    refuseSlow("the request arrived slower than \(limits.minRequestBytesPerSecond) bytes/s")
                } else if now > lastRead + idle {
                    close()
                }
            } else if now > lastRead + idle {
                close()
            }
        default:
            break
        }
    }

    /// Server stopping: idle connections close now; busy ones after their response (or now, if not graceful).
    func shutdown(graceful: Bool) {
        guard graceful else { return close() }
        switch phase {
        case .reading: if hasPendingOutput { phase = .closing } else { close() }
        case .lingering: close()
        default: break
        }
    }
}

/// The answer to a request handled on its event loop, if it came before `handle` returned.
private final class InlineReply: Sendable {
    private let state = Mutex<(closed: Bool, response: HTTPResponse?)>((false, nil))

    /// Keeps the first answer while `handle` is still running; false once it has returned (answer it the usual way).
    func capture(_ response: HTTPResponse) -> Bool {
        state.withLock { s in
            if s.closed { return false }
            if s.response == nil { s.response = response }
            return true
        }
    }

    /// Called when `handle` returns: the answer given meanwhile, if any.
    func close() -> HTTPResponse? {
        state.withLock { s in
            s.closed = true
            return s.response
        }
    }
}
