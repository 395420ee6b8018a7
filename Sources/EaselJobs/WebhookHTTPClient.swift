import CCurl
import Foundation

/// The answer to one POST, or why there was none.
public enum WebhookHTTPResponse: Sendable, Equatable {
    case status(Int, retryAfter: TimeInterval?)
    case transportError(String)
}

/// Posts one webhook with libcurl, connecting only to the checked address (CURLOPT_CONNECT_TO for every host and port
/// the URL could name), never following redirects, never through a proxy, with http and https only.
public struct WebhookHTTPClient: Sendable {
    public var timeout: TimeInterval

    public init(timeout: TimeInterval) { self.timeout = timeout }

    private static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK }()

    private final class Capture {
        var retryAfter: String?
    }

    public func post(to target: WebhookTarget, body: Data, headers: [(String, String)]) -> WebhookHTTPResponse {
        guard Self.globalInit, let h = curl_easy_init() else { return .transportError("libcurl could not start") }
        defer { curl_easy_cleanup(h) }
        let capture = Capture()
        let captureBox = Unmanaged.passRetained(capture)
        defer { captureBox.release() }

        let pinned = target.isIPv6 ? "[\(target.address)]" : target.address
        let connectTo = curl_slist_append(nil, "::\(pinned):")
        defer { curl_slist_free_all(connectTo) }
        var headerList: UnsafeMutablePointer<curl_slist>?
        for (name, value) in headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
        // No "Expect: 100-continue" round trip for bodies over 1 KiB.
        headerList = curl_slist_append(headerList, "Expect:")
        defer { curl_slist_free_all(headerList) }

        let ms = max(1, Int(timeout * 1000))
        _ = easel_curl_set_string(h, CURLOPT_URL, target.url)
        _ = easel_curl_set_long(h, CURLOPT_POST, 1)
        _ = easel_curl_set_string(h, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = easel_curl_set_long(h, CURLOPT_FOLLOWLOCATION, 0)
        _ = easel_curl_set_string(h, CURLOPT_NOPROXY, "*")
        _ = easel_curl_set_slist(h, CURLOPT_CONNECT_TO, connectTo)
        _ = easel_curl_set_slist(h, CURLOPT_HTTPHEADER, headerList)
        _ = easel_curl_set_long(h, CURLOPT_TIMEOUT_MS, ms)
        _ = easel_curl_set_long(h, CURLOPT_CONNECTTIMEOUT_MS, ms)
        _ = easel_curl_set_long(h, CURLOPT_NOSIGNAL, 1)
        _ = easel_curl_set_data_fn(h, CURLOPT_WRITEFUNCTION) { _, size, count, _ in size * count }
        _ = easel_curl_set_data_fn(h, CURLOPT_HEADERFUNCTION) { data, size, count, user in
            let n = size * count
            if let data, let user {
                let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
                if let colon = line.firstIndex(of: ":"),
                   line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == "retry-after" {
                    Unmanaged<Capture>.fromOpaque(user).takeUnretainedValue().retryAfter =
                        line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            return n
        }
        _ = easel_curl_set_pointer(h, CURLOPT_HEADERDATA, captureBox.toOpaque())

        let rc: CURLcode = body.withUnsafeBytes { raw in
            _ = easel_curl_set_long(h, CURLOPT_POSTFIELDSIZE, raw.count)
            _ = easel_curl_set_pointer(h, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            return curl_easy_perform(h)
        }
        guard rc == CURLE_OK else {
            return .transportError(String(cString: curl_easy_strerror(rc)))
        }
        var code = 0
        _ = easel_curl_get_long(h, CURLINFO_RESPONSE_CODE, &code)
        return .status(code, retryAfter: capture.retryAfter.flatMap(Self.parseRetryAfter))
    }

    /// `Retry-After`: delta seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> TimeInterval? {
        if let seconds = Int(value), seconds >= 0 { return TimeInterval(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
    }
}
