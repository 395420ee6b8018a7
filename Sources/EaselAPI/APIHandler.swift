import EaselHTTP
import EaselJobs
import Foundation
import Logging

/// The daemon's HTTP handler: authentication, routing, the per-route handlers (in the `APIHandler+…` files) and the
/// request counter. Every route can be exercised by calling `handle` with an `HTTPRequest`, without sockets.
/// Unchecked Sendable: its `let`s are Sendable; the two `var`s are set before it serves (`validator` in `init`, or
/// by `setRandomSeed` in tests before any request; `jobsToken` in `init`) and only read afterwards.
public final class APIHandler: HTTPHandler, @unchecked Sendable {
    public let store: JobStore
    public let scheduler: Scheduler
    public let registry: ModelRegistry
    public let metrics: Metrics
    public let options: APIOptions
    public let logger: Logger
    public let shutdown = ShutdownHub()
    let auth: APIKeyAuthenticator
    var validator: GenerateRequestValidator
    private var jobsToken: JobEvents.Token?

    public init(store: JobStore, scheduler: Scheduler, registry: ModelRegistry, metrics: Metrics,
                options: APIOptions, logger: Logger) {
        self.store = store
        self.scheduler = scheduler
        self.registry = registry
        self.metrics = metrics
        self.options = options
        self.logger = logger
        auth = APIKeyAuthenticator(keys: options.apiKeys)
        validator = GenerateRequestValidator(catalog: registry, allowPrivateNetworks: options.allowPrivateNetworks)
        validator.inputs = options.inputs
        validator.loras = options.loras
        jobsToken = nil
        jobsToken = observeJobs()
    }

    deinit { if let jobsToken { store.events.remove(jobsToken) } }

    /// Fixes the seed chosen for requests without one (tests).
    public func setRandomSeed(_ pick: @escaping () -> UInt64) { validator.randomSeed = pick }

    public func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        _ = route(request, inlineOnly: false, respond)
    }

    /// Answers on the event loop what needs only memory: health, models, the OpenAPI document, unknown paths, and
    /// status polls of jobs whose row is in the store's read cache. What may touch SQLite or the disk goes to the queue.
    public func handleInline(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) -> Bool {
        route(request, inlineOnly: true, respond)
    }

    static func answersFromMemory(_ handler: Route.Handler) -> Bool {
        switch handler {
        case .healthz, .readyz, .listModels, .getModel, .openapi: return true
        case .getJob, .generate, .upload, .listJobs, .cancelJob, .jobImage, .jobEvents, .metrics: return false
        }
    }

    /// Routes and answers the request; with `inlineOnly`, returns false (answering nothing) for routes that may block.
    private func route(_ request: HTTPRequest, inlineOnly: Bool, _ respond: @escaping @Sendable (HTTPResponse) -> Void) -> Bool {
        let match = Router.match(method: request.method, path: request.path)
        // A job poll is answered inline only with bytes already in the read cache, taken here once: a write racing
        // this request sends it to the queue rather than to SQLite from the event loop.
        var cachedJob: Data?
        if inlineOnly, case .found(let route, let params) = match, !Self.answersFromMemory(route.handler) {
            guard route.handler == .getJob, let id = params["id"],
                  let json = store.cachedJSON(id) else { return false }
            cachedJob = json
        }
        let label: String
        switch match {
        case .found(let route, _): label = route.pattern
        // Unrouted paths share one label, so clients cannot grow the metric without bound.
        case .methodNotAllowed, .notFound: label = "unmatched"
        }
        let metrics = self.metrics
        let counted: @Sendable (HTTPResponse) -> Void = { response in
            metrics.increment(Metrics.httpRequests, [("route", label), ("code", String(response.status))])
            respond(response)
        }
        switch match {
        case .notFound:
            counted(APIError.notFound("not_found", "no route for \(request.path)").response)
        case .methodNotAllowed(let allowed):
            var e = APIError(status: 405, code: "method_not_allowed",
                             message: "\(request.method) is not allowed on \(request.path)")
            e.headers = [("Allow", allowed.joined(separator: ", "))]
            counted(e.response)
        case .found(let route, let params):
            if route.needsAuth && !auth.isAuthorized(request.headers) {
                counted(APIError.unauthorized.response)
                return true
            }
            if let cachedJob {
                counted(.json(cachedJob))
                return true
            }
            var params = params
            // The image routes differ only in the extension they end in: `{index}.png`, `.jpeg`, `.webp`.
            if route.handler == .jobImage { params["ext"] = String(route.pattern.split(separator: ".").last ?? "png") }
            do {
                try dispatch(route.handler, request, params, counted)
            } catch let error as APIError {
                counted(error.response)
            } catch {
                logger.error("request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
                counted(APIError.internalError("\(error)").response)
            }
        }
        return true
    }

    private func dispatch(_ handler: Route.Handler, _ request: HTTPRequest, _ params: [String: String],
                          _ respond: @escaping @Sendable (HTTPResponse) -> Void) throws {
        switch handler {
        case .generate: try generate(request, respond: respond)
        case .upload: respond(try upload(request))
        case .listJobs: respond(try listJobs(request))
        case .getJob: respond(try getJob(params["id"]!))
        case .cancelJob: respond(try cancelJob(params["id"]!))
        case .jobImage: respond(try jobImage(params["id"]!, index: params["index"]!, ext: params["ext"]!, request: request))
        case .jobEvents: respond(try jobEvents(params["id"]!))
        case .listModels: respond(listModels())
        case .getModel: respond(try getModel(params["id"]!))
        case .healthz: respond(.json(Data(#"{"status":"ok"}"#.utf8)))
        case .readyz: respond(readyz())
        case .metrics: respond(metricsResponse())
        case .openapi: respond(.json(OpenAPIDocument.data))
        }
    }

    func jobResponse(_ job: JobRecord, status: Int = 200) -> HTTPResponse {
        .json(JobJSON.render(job, imageURLBase: options.imageURLBase), status: status)
    }

    func storeError(_ error: Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case JobStoreError.queueFull:
            return APIError(status: 429, code: "queue_full", message: "the queue is full; retry later",
                            headers: [("Retry-After", String(options.queueFullRetryAfter))])
        case JobStoreError.idempotencyConflict(let id):
            return .conflict("Idempotency-Key was already used with a different body (job \(id))")
        case JobStoreError.invalid(let field, let message): return .invalid(field, message)
        case JobStoreError.invalidCursor: return .invalid("cursor", "cursor is not one this server returned")
        default: return .internalError("\(error)")
        }
    }
}
