import CCurl
import Foundation

/// One GET of a URL the SSRF guard checked (`WebhookAddressGuard`), with libcurl as the webhook sender uses it:
/// connecting only to the checked address, no redirects, no proxy, and the body capped at `maxBytes` (the transfer
/// is aborted as soon as it would pass the cap, whatever Content-Length said).
public enum GuardedDownload {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case refused(String)
        case tooLarge(limit: Int)
        case status(Int)
        case transport(String)

        public var description: String {
            switch self {
            case .refused(let why): return "refused: \(why)"
            case .tooLarge(let limit): return "larger than \(limit) bytes"
            case .status(let code): return "the server answered HTTP \(code)"
            case .transport(let why): return why
            }
        }
    }

    private static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK }()

    private final class Sink {
        var data = Data()
        let limit: Int
        var overflow = false
        init(limit: Int) { self.limit = limit }
    }

    /// Resolves and checks `url` (https only unless `allowHTTP`), then fetches it.
    public static func get(_ url: String, maxBytes: Int, timeout: TimeInterval, allowPrivateNetworks: Bool,
                           allowHTTP: Bool = false) -> Result<Data, Failure> {
        let scheme = URLComponents(string: url)?.scheme?.lowercased()
        guard scheme == "https" || (allowHTTP && scheme == "http") else {
            return .failure(.refused(allowHTTP ? "only http and https URLs" : "only https URLs"))
        }
        let target: WebhookTarget
        do { target = try WebhookAddressGuard.check(url, allowPrivateNetworks: allowPrivateNetworks) } catch {
            return .failure(.refused("\(error)"))
        }
        guard globalInit, let h = curl_easy_init() else { return .failure(.transport("libcurl could not start")) }
        defer { curl_easy_cleanup(h) }
        let sink = Sink(limit: maxBytes)
        let box = Unmanaged.passRetained(sink)
        defer { box.release() }
        let pinned = target.isIPv6 ? "[\(target.address)]" : target.address
        let connectTo = curl_slist_append(nil, "::\(pinned):")
        defer { curl_slist_free_all(connectTo) }
        let ms = max(1, Int(timeout * 1000))
        _ = easel_curl_set_string(h, CURLOPT_URL, url)
        _ = easel_curl_set_long(h, CURLOPT_HTTPGET, 1)
        _ = easel_curl_set_string(h, CURLOPT_PROTOCOLS_STR, allowHTTP ? "http,https" : "https")
        _ = easel_curl_set_long(h, CURLOPT_FOLLOWLOCATION, 0)
        _ = easel_curl_set_string(h, CURLOPT_NOPROXY, "*")
        _ = easel_curl_set_slist(h, CURLOPT_CONNECT_TO, connectTo)
        _ = easel_curl_set_long(h, CURLOPT_TIMEOUT_MS, ms)
        _ = easel_curl_set_long(h, CURLOPT_CONNECTTIMEOUT_MS, min(ms, 15_000))
        _ = easel_curl_set_long(h, CURLOPT_NOSIGNAL, 1)
        _ = easel_curl_set_string(h, CURLOPT_USERAGENT, "Easel")
        _ = easel_curl_set_data_fn(h, CURLOPT_WRITEFUNCTION) { data, size, count, user in
            let n = size * count
            guard let data, let user else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(user).takeUnretainedValue()
            if sink.data.count + n > sink.limit {
                sink.overflow = true
                return 0   // aborts the transfer (CURLE_WRITE_ERROR)
            }
            sink.data.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: n)
            return n
        }
        _ = easel_curl_set_pointer(h, CURLOPT_WRITEDATA, box.toOpaque())
        let rc = curl_easy_perform(h)
        if sink.overflow { return .failure(.tooLarge(limit: maxBytes)) }
        guard rc == CURLE_OK else { return .failure(.transport(String(cString: curl_easy_strerror(rc)))) }
        var code = 0
        _ = easel_curl_get_long(h, CURLINFO_RESPONSE_CODE, &code)
        guard code == 200 else { return .failure(.status(code)) }
        return .success(sink.data)
    }
}
