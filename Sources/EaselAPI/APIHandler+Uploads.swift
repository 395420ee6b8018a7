import EaselEngine
import EaselHTTP
import EaselJSON
import EaselJobs
import Foundation

extension APIHandler {
    /// POST /v1/uploads: a PNG, JPEG or WebP as the raw body (`Content-Type: image/png`, `image/jpeg`, `image/webp`),
    /// kept content-addressed in the input store as PNG (JPEG and WebP re-encoded losslessly);
    /// the answer's `id` ("sha256:…") can be a request's `image` or `mask`. An upload no job uses is removed
    /// `queue.retention_hours` after its last use; one that jobs use stays while those jobs are kept.
    func upload(_ request: HTTPRequest) throws -> HTTPResponse {
        guard let inputs = options.inputs else {
            throw APIError(status: 404, code: "not_found", message: "this server does not take uploads")
        }
        let contentType = request.headers["Content-Type"]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        let formats: [String: ImageFormat] = ["image/png": .png, "image/jpeg": .jpeg, "image/webp": .webp]
        guard let format = formats[contentType] else {
            throw APIError(status: 415, code: "unsupported_media_type",
                           message: "uploads are PNG, JPEG or WebP files sent as the body with Content-Type: image/png, image/jpeg or image/webp")
        }
        guard !request.body.isEmpty else { throw APIError.invalid(nil, "the upload is empty") }
        guard request.body.count <= options.maxUploadBytes else {
            throw APIError(status: 413, code: "payload_too_large",
                           message: "the upload is larger than uploads.max_bytes (\(options.maxUploadBytes) bytes)")
        }
        let maxPixels = registry.entries.map { $0.config.limits.maxWidth * $0.config.limits.maxHeight }.max() ?? 0
        let png = try InputStore.asPNG(request.body, format: format, field: nil, maxPixels: maxPixels)
        let decoded: (width: Int, height: Int)
        do {
            let d = try PNGEncoder.decode(png, maxPixels: maxPixels)
            decoded = (d.width, d.height)
        } catch {
            throw APIError.invalid(nil, "the upload is not a readable PNG of at most \(maxPixels) pixels (the largest model limit): \(error)")
        }
        let id: String
        do { id = try inputs.put(png) } catch { throw APIError.internalError("storing the upload: \(error)") }
        var w = JSONWriter()
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("content_type"); w.string("image/png")
        w.key("bytes"); w.int(png.count)
        w.key("width"); w.int(decoded.width)
        w.key("height"); w.int(decoded.height)
        w.key("expires_at"); w.string(Timestamp.rfc3339(Date().addingTimeInterval(options.uploadRetention)))
        w.endObject()
        return .json(Data(w.bytes), status: 201)
    }
}
