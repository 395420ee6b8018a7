import EaselJSON
import EaselHTTP
import EaselJobs
import Foundation

extension APIHandler {
    static let listParameters: Set<String> = ["status", "model", "limit", "cursor"]

    /// GET /v1/jobs?status=&model=&limit=&cursor=
    func listJobs(_ request: HTTPRequest) throws -> HTTPResponse {
        if let unknown = request.query.keys.sorted().first(where: { !Self.listParameters.contains($0) }) {
            throw APIError.invalid(unknown, "unknown query parameter \"\(unknown)\"")
        }
        var status: JobStatus?
        if let s = request.query["status"] {
            // `status=` with no value is a mistake, not "any status".
            guard let parsed = JobStatus(rawValue: s) else {
                throw APIError.invalid("status", "status must be one of "
                                       + JobStatus.allCases.map(\.rawValue).joined(separator: ", "))
            }
            status = parsed
        }
        var limit = 20
        if let l = request.query["limit"] {
            guard let n = Int(l), (1...100).contains(n) else {
                throw APIError.invalid("limit", "limit must be an integer from 1 to 100")
            }
            limit = n
        }
        let model = request.query["model"].flatMap { $0.isEmpty ? nil : $0 }
        let cursor = request.query["cursor"].flatMap { $0.isEmpty ? nil : $0 }
        let page: (jobs: [JobRecord], nextCursor: String?)
        do { page = try store.list(status: status, model: model, limit: limit, cursor: cursor) } catch {
            throw storeError(error)
        }
        var body = Data("{\"jobs\":[".utf8)
        for (i, job) in page.jobs.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body.append(JobJSON.render(job, imageURLBase: options.imageURLBase))
        }
        body.append(Data("],\"next_cursor\":\(page.nextCursor.map(JSONValue.quoted) ?? "null")}".utf8))
        return .json(body)
    }

    func requireJob(_ id: String) throws -> JobRecord {
        let job: JobRecord?
        do { job = try store.get(id) } catch { throw storeError(error) }
        guard let job else { throw APIError.notFound("job_not_found", "no job \(id)") }
        return job
    }

    /// GET /v1/jobs/{id}
    func getJob(_ id: String) throws -> HTTPResponse {
        let found: (job: JobRecord, json: Data)?
        do { found = try store.getJSON(id) } catch { throw storeError(error) }
        guard let found else { throw APIError.notFound("job_not_found", "no job \(id)") }
        return .json(found.json)
    }

    /// DELETE /v1/jobs/{id}: queued ⇒ 200 canceled; running ⇒ 202 cancel_requested; terminal ⇒ 409.
    func cancelJob(_ id: String) throws -> HTTPResponse {
        let outcome: CancelOutcome
        do { outcome = try scheduler.cancel(id) } catch { throw storeError(error) }
        switch outcome {
        case .canceled(let job):
            logger.info("job canceled", metadata: ["job_id": "\(id)", "model": "\(job.model)"])
            return jobResponse(job, status: 200)
        case .cancelRequested(let job):
            logger.info("job cancel requested", metadata: ["job_id": "\(id)", "model": "\(job.model)"])
            return jobResponse(job, status: 202)
        case .alreadyTerminal(let job):
            return APIError.conflict("job \(id) is already \(job.status.rawValue)").response
        case .notFound:
            throw APIError.notFound("job_not_found", "no job \(id)")
        }
    }

    /// GET /v1/jobs/{id}/images/{index}.png — immutable once written, so the ETag is the job id and index.
    func jobImage(_ id: String, index text: String, ext: String, request: HTTPRequest) throws -> HTTPResponse {
        let job = try requireJob(id)
        guard let index = Int(text), index >= 0, let image = job.images.first(where: { $0.index == index }) else {
            throw APIError.notFound("not_found", "job \(id) has no image \(text)")
        }
        let stored = ImageFiles.fileExtension(contentType: image.contentType)
        guard stored == ext else {
            throw APIError.notFound("not_found", "image \(index) of job \(id) is \(image.contentType): \(index).\(stored), not \(index).\(ext)")
        }
        let etag = "\"\(id)-\(index)\""
        var headers: HTTPHeaders = ["ETag": etag, "Cache-Control": "private, max-age=31536000, immutable"]
        if let inm = request.headers["If-None-Match"],
           inm.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0 == "*" }) {
            return HTTPResponse(status: 304, headers: headers)
        }
        let bytes: Data
        do { bytes = try Data(contentsOf: store.images.url(file: image.file)) } catch {
            throw APIError.notFound("not_found", "image \(index) of job \(id) is gone")
        }
        headers.set("Content-Type", image.contentType)
        return HTTPResponse(status: 200, headers: headers, body: .data(bytes))
    }
}
