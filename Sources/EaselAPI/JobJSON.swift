import EaselJSON
import EaselJobs
import Foundation

/// The API's job object and webhook payload (docs/API.md, "The job object" and "Webhooks"), rendered from a record.
/// The HTTP routes and the webhook sender use the same rendering, so a webhook's `data` is exactly what GET returns.
/// The store is handed `renderer(imageURLBase:)` and knows nothing of this format.
public enum JobJSON {
    /// What the job store renders with: this format with `server.public_url`'s image URLs.
    public static func renderer(imageURLBase: String) -> JobRenderer {
        JobRenderer(job: { render($0, imageURLBase: imageURLBase) },
                    webhookPayload: { webhookPayload($0, imageURLBase: imageURLBase) })
    }

    /// `imageURLBase` is `server.public_url` without a trailing slash, or "" for relative image URLs.
    public static func render(_ job: JobRecord, imageURLBase: String = "") -> Data {
        var w = JSONWriter()
        write(job, imageURLBase: imageURLBase, into: &w)
        return Data(w.bytes)
    }

    /// `{"type": "job.<status>", "timestamp": "…", "data": {job}}` for a terminal job.
    public static func webhookPayload(_ job: JobRecord, imageURLBase: String = "") -> Data {
        var w = JSONWriter()
        w.beginObject()
        w.key("type"); w.string("job.\(job.status.rawValue)")
        w.key("timestamp"); w.string(Timestamp.rfc3339(job.completedAt ?? Date()))
        w.key("data"); write(job, imageURLBase: imageURLBase, into: &w)
        w.endObject()
        return Data(w.bytes)
    }

    public static func imageURL(jobID: String, index: Int, base: String, contentType: String = "image/png") -> String {
        "\(base)/v1/jobs/\(jobID)/images/\(index).\(ImageFiles.fileExtension(contentType: contentType))"
    }

    static func write(_ job: JobRecord, imageURLBase: String, into w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(job.id)
        w.key("model"); w.string(job.model)
        w.key("status"); w.string(job.status.rawValue)
        w.key("created_at"); w.string(Timestamp.rfc3339(job.createdAt))
        w.key("started_at"); w.string(job.startedAt.map(Timestamp.rfc3339))
        w.key("completed_at"); w.string(job.completedAt.map(Timestamp.rfc3339))
        w.key("queue_position"); w.int(job.status == .queued ? job.queuePosition : nil)
        w.key("progress"); w.beginObject()
        w.key("step"); w.int(job.step)
        w.key("steps"); w.int(job.steps)
        w.endObject()
        w.key("cancel_requested"); w.bool(job.cancelRequested)
        w.key("attempts"); w.int(job.attempts)
        w.key("input"); w.json(job.input)
        w.key("images"); w.beginArray()
        for image in job.images {
            w.beginObject()
            w.key("index"); w.int(image.index)
            w.key("url"); w.string(imageURL(jobID: job.id, index: image.index, base: imageURLBase, contentType: image.contentType))
            w.key("width"); w.int(image.width)
            w.key("height"); w.int(image.height)
            w.key("seed"); w.int(image.seed)
            w.key("content_type"); w.string(image.contentType)
            w.endObject()
        }
        w.endArray()
        w.key("error")
        if let error = job.error {
            w.beginObject()
            w.key("code"); w.string(error.code)
            w.key("message"); w.string(error.message)
            w.endObject()
        } else {
            w.null()
        }
        w.key("metrics"); w.beginObject()
        w.key("queue_ms"); w.int(job.queueMs)
        w.key("inference_ms"); w.int(job.inferenceMs)
        w.key("batch_size"); w.int(job.batchSize)
        for (name, value) in job.engineMetrics.sorted(by: { $0.key < $1.key }) { w.key(name); w.int(value) }
        w.endObject()
        w.key("metadata"); w.json(job.metadata)
        w.key("webhook")
        if let hook = job.webhook {
            w.beginObject()
            w.key("url"); w.string(hook.url)
            w.key("state"); w.string((hook.state ?? .pending).rawValue)
            w.key("attempts"); w.int(hook.attempts)
            w.key("last_status"); w.int(hook.lastStatus)
            w.key("last_error"); w.string(hook.lastError)
            w.endObject()
        } else {
            w.null()
        }
        w.endObject()
    }
}
