import EaselEngine
import EaselJobs
import Foundation
import Logging

/// Runs a claimed batch on a model's pipeline: each job's stored `GenerationSpec` becomes a `GenerationRequest`, the whole batch
/// goes through one `generateBatch` (every image advances one step per transformer call), and each image is encoded
/// as PNG. Runs on the model's lane thread, one batch at a time.
public final class EngineExecutor: BatchExecutor, Sendable {
    let model: ModelEntry
    /// Where the model's pipeline comes from: loaded on first use, pinned while a batch or running set uses it.
    let memory: ModelMemory
    let metrics: Metrics
    let logger: Logger
    let inputs: InputStore?
    let loras: LoRALibrary?
    let previews: PreviewHub?

    public init(model: ModelEntry, memory: ModelMemory? = nil, metrics: Metrics, logger: Logger, inputs: InputStore? = nil,
                loras: LoRALibrary? = nil, previews: PreviewHub? = nil) {
        self.previews = previews
        self.model = model
        self.memory = memory ?? ModelMemory(entries: [model], metrics: metrics, logger: logger)
        self.metrics = metrics
        self.logger = logger
        self.inputs = inputs
        self.loras = loras
    }

    /// The stored spec as the engine runs it: images read back from the input store, LoRAs from the library's cache.
    func request(_ spec: GenerationSpec, pipeline: FluxPipeline) throws -> GenerationRequest {
        var r = spec.engineRequest
        if let id = spec.image {
            guard let inputs else { throw JobError(code: "invalid_input", message: "no input store for the request image") }
            r.image = try ImageInput.image(png: try inputs.get(id))
            if let m = spec.mask { r.mask = try ImageInput.mask(png: try inputs.get(m)) }
        }
        if let refs = spec.loras, !refs.isEmpty {
            guard let loras else { throw JobError(code: "invalid_lora", message: "no LoRA folder configured") }
            do {
                r.lora = LoRAStack(try refs.map {
                    LoRAStack.Entry(adapter: try loras.adapter(name: $0.path, model: model.id, pipeline: pipeline), scale: Float($0.scale))
                })
            } catch let e as EngineError { throw JobError(code: "invalid_lora", message: e.message) }
        }
        return r
    }

    /// The model's pipeline, pinned in memory until `memory.release(model)` (or `yield`), or every job's failure
    /// when it cannot load.
    func acquirePipeline(for jobs: [JobRecord]) -> Result<FluxPipeline, JobError> {
        do { return .success(try memory.acquire(model)) } catch {
            return .failure(unavailable(error, jobs: jobs))
        }
    }

    func unavailable(_ error: Error, jobs: [JobRecord]) -> JobError {
        let message = (error as? APIError)?.message ?? "\(error)"
        for job in jobs {
            logger.error("job failed", metadata: ["job_id": "\(job.id)", "model": "\(model.id)", "error": "\(message)"])
        }
        return JobError(code: "model_unavailable", message: message)
    }

    /// A job's stored input as the engine request it runs; a job whose input cannot be read fails alone.
    func prepare(_ job: JobRecord, pipeline: FluxPipeline) -> Result<GenerationRequest, JobError> {
        let spec: GenerationSpec
        do { spec = try GenerateRequestValidator.spec(fromInput: job.input) } catch {
            return .failure(JobError(code: JobError.internalError, message: "stored job input: \(error)"))
        }
        do {
            return .success(try request(spec, pipeline: pipeline))
        } catch let e as JobError {
            return .failure(e)
        } catch {
            return .failure(JobError(code: "invalid_input", message: "\(error)"))
        }
    }

    func logStart(_ job: JobRecord, _ r: GenerationRequest, batchSize: Int) {
        logger.info("job started", metadata: [
            "job_id": "\(job.id)", "model": "\(model.id)", "batch_size": "\(batchSize)", "attempt": "\(job.attempts)",
            "size": "\(r.width)x\(r.height)", "steps": "\(r.steps)", "num_images": "\(r.numImages)"])
    }

    /// Where a job's previews go: its latest one, as a PNG data URI, in the preview hub.
    func previewSink(_ jobID: @escaping (Int) -> String?) -> PreviewCallback? {
        previews.map { hub in
            PreviewCallback { tag, step, image in
                guard let id = jobID(tag),
                      let png = try? PNGEncoder.encode(rgb: PNGEncoder.rgb(fromCHW: image), width: image.shape[2],
                                                      height: image.shape[1]) else { return }
                hub.set(id, .init(step: step, dataURI: "data:image/png;base64," + png.base64EncodedString()))
            }
        }
    }

    /// The engine's result for a job as the lane records it: its images in the job's `output_format` and pass
    /// counts, or the job's error.
    func jobResult(_ job: JobRecord, _ request: GenerationRequest, _ output: Result<GenerationOutput, Error>,
                   seconds: Double) -> Result<JobOutput, JobError> {
        switch output {
        case .success(let output):
            // The stored input was read once already (prepare); a job whose format is unreadable gets a PNG.
            let spec = try? GenerateRequestValidator.spec(fromInput: job.input)
            let format = spec.flatMap { ImageFormat(rawValue: $0.outputFormat) } ?? .png
            let quality = spec?.outputQuality ?? ImageFormat.defaultQuality
            do {
                let images = try output.images.enumerated().map { i, t in
                    let w = t.shape[2], h = t.shape[1]
                    let bytes = try format.encode(rgb: PNGEncoder.rgb(fromCHW: t), width: w, height: h, quality: quality)
                    return GeneratedImage(bytes: bytes, width: w, height: h, seed: request.seed &+ UInt64(i),
                                          contentType: format.contentType)
                }
                logger.info("job generated", metadata: [
                    "job_id": "\(job.id)", "model": "\(model.id)", "images": "\(images.count)",
                    "seconds": "\(String(format: "%.3f", seconds))"])
                return .success(JobOutput(images: images, counters: [
                    "transformer_passes": output.transformerPasses, "cached_passes": output.cachedPasses]))
            } catch {
                return .failure(JobError(code: JobError.internalError, message: "\(format.rawValue) encoding: \(error)"))
            }
        case .failure(let error as CancellationError):
            _ = error
            logger.info("job stopped", metadata: ["job_id": "\(job.id)", "model": "\(model.id)"])
            return .failure(JobError(code: JobError.canceled, message: "stopped at a step boundary"))
        case .failure(let error):
            logger.error("job failed", metadata: ["job_id": "\(job.id)", "model": "\(model.id)", "error": "\(error)"])
            return .failure(JobError(code: "generation_failed", message: "\(error)"))
        }
    }

    public func run(batch: [JobRecord], progress: @escaping @Sendable (String, Int, Int) -> Bool)
        -> [String: Result<JobOutput, JobError>] {
        var results: [String: Result<JobOutput, JobError>] = [:]
        metrics.observe(Metrics.batchSize, Double(batch.count))
        let pipeline: FluxPipeline
        switch acquirePipeline(for: batch) {
        case .success(let p): pipeline = p
        case .failure(let e):
            for job in batch { results[job.id] = .failure(e) }
            return results
        }
        // A static batch keeps the memory to its end; the lane's next acquire is where it can yield.
        defer { memory.release(model) }
        // Jobs whose stored input cannot be read fail alone; the rest run together.
        var runnable: [(job: JobRecord, request: GenerationRequest)] = []
        for job in batch {
            switch prepare(job, pipeline: pipeline) {
            case .success(let r): runnable.append((job, r))
            case .failure(let e): results[job.id] = .failure(e)
            }
        }
        guard !runnable.isEmpty else { return results }
        for (job, r) in runnable { logStart(job, r, batchSize: batch.count) }

        var lastStep = 0
        var lastTime = Date()
        let started = lastTime
        let sink = previewSink { runnable.indices.contains($0) ? runnable[$0].job.id : nil }
        let outputs = pipeline.generateBatchOutputs(runnable.map(\.request), previews: sink) { [metrics] index, done, total in
            let item = runnable[index]
            let step = done / max(1, item.request.numImages)
            if step > lastStep {
                let now = Date()
                metrics.observe(Metrics.stepSeconds, now.timeIntervalSince(lastTime))
                lastStep = step
                lastTime = now
            }
            return progress(item.job.id, done, total)
        }
        for (job, _) in runnable { previews?.remove(job.id) }
        let seconds = Date().timeIntervalSince(started)
        for ((job, request), output) in zip(runnable, outputs) {
            results[job.id] = jobResult(job, request, output, seconds: seconds)
        }
        return results
    }
}

extension EngineExecutor: ContinuousBatchExecutor {
    public func openRunningSet() -> RunningSet { EngineRunningSet(executor: self) }
}

/// A model's running set on the engine: a `DenoisingBatch` whose members are jobs. Used from the lane thread only.
///
/// It pins the model in memory while it has members. When another model waits for the memory and this one's turn
/// is over, the set yields at the start of its next step: it drops its pipeline (the members' latents and text
/// conditioning stay), gives the memory up, and waits in line to load again; cancels and deadlines are checked
/// every 0.25 s meanwhile.
final class EngineRunningSet: RunningSet {
    let executor: EngineExecutor
    private var batch: DenoisingBatch?
    /// The pipeline while the set holds the model's memory.
    private var pipeline: FluxPipeline?
    private var members: [Int: (job: JobRecord, request: GenerationRequest, admitted: Date)] = [:]
    private var nextTag = 0
    private var admittedSinceStep = 0

    init(executor: EngineExecutor) { self.executor = executor }

    var count: Int { members.count }
    var images: Int { members.values.reduce(0) { $0 + $1.request.numImages } }
    private var model: ModelEntry { executor.model }
    private var memory: ModelMemory { executor.memory }

    /// Not while waiting for memory, nor when about to yield it: a job claimed then would only wait.
    var admitting: Bool { pipeline != nil && !memory.shouldYield(model) }

    func admit(_ job: JobRecord) -> JobError? {
        if pipeline == nil {
            switch executor.acquirePipeline(for: [job]) {
            case .success(let p):
                pipeline = p
                if let batch, !batch.isAttached {
                    do { try batch.attach(p) } catch { return JobError(code: JobError.internalError, message: "\(error)") }
                }
            case .failure(let e): return e
            }
        }
        let pipeline = self.pipeline!
        let request: GenerationRequest
        switch executor.prepare(job, pipeline: pipeline) {
        case .success(let r): request = r
        case .failure(let e): return e
        }
        let set = batch ?? DenoisingBatch(pipeline: pipeline, like: request)
        let tag = nextTag
        do { try set.admit(request, tag: tag) } catch {
            executor.logger.error("job failed", metadata: ["job_id": "\(job.id)", "model": "\(model.id)",
                                                          "error": "\(error)"])
            return JobError(code: "generation_failed", message: "\(error)")
        }
        batch = set
        nextTag += 1
        members[tag] = (job, request, Date())
        admittedSinceStep += 1
        executor.logStart(job, request, batchSize: members.count)
        return nil
    }

    /// Gives the memory back (the set is done).
    func close() {
        if pipeline != nil { memory.release(model) }
        pipeline = nil
        batch = nil
    }

    /// The set's model back in memory, yielding it first when another model's turn has come. Returns the members
    /// that left while it waited (canceled, past their deadline, or all of them when the model cannot load again).
    private func resident(progress: (String, Int, Int) -> Bool) -> [String: Result<JobOutput, JobError>]? {
        guard let batch else { return nil }
        if pipeline != nil, memory.shouldYield(model) {
            batch.detach()
            pipeline = nil
            memory.yield(model)
            executor.logger.info("running set suspended for another model", metadata: [
                "model": "\(model.id)", "jobs": "\(members.count)"])
        }
        guard pipeline == nil else { return nil }
        var stopped: [Int] = []
        do {
            let p = try memory.acquire(model, pollEvery: 0.25) {
                for (tag, done, total) in batch.progress {
                    if let m = members[tag], !progress(m.job.id, done, total) { stopped.append(tag) }
                }
                return !stopped.isEmpty
            }
            try batch.attach(p)
            pipeline = p
            executor.logger.info("running set resumed", metadata: ["model": "\(model.id)", "jobs": "\(members.count)"])
            return nil
        } catch is ModelMemory.Abandoned {
            var out: [String: Result<JobOutput, JobError>] = [:]
            for tag in stopped {
                batch.remove(tag: tag)
                guard let m = members.removeValue(forKey: tag) else { continue }
                executor.previews?.remove(m.job.id)
                out[m.job.id] = .failure(JobError(code: JobError.canceled, message: "stopped while waiting for memory"))
            }
            if batch.isEmpty { self.batch = nil }
            return out
        } catch {
            let e = executor.unavailable(error, jobs: members.values.map(\.job))
            var out: [String: Result<JobOutput, JobError>] = [:]
            for m in members.values {
                executor.previews?.remove(m.job.id)
                out[m.job.id] = .failure(e)
            }
            members.removeAll()
            self.batch = nil
            return out
        }
    }

    func step(progress: (String, Int, Int) -> Bool) -> [String: Result<JobOutput, JobError>] {
        if let left = resident(progress: progress) { return left }
        guard let batch, !batch.isEmpty else { return [:] }
        let metrics = executor.metrics
        metrics.observe(Metrics.batchOccupancy, Double(images))
        metrics.observe(Metrics.stepAdmissions, Double(admittedSinceStep))
        if admittedSinceStep > 0 { metrics.observe(Metrics.batchSize, Double(members.count)) }
        admittedSinceStep = 0
        let started = Date()
        let snapshot = members
        let sink = executor.previewSink { snapshot[$0]?.job.id }
        let left = withoutActuallyEscaping(progress) { progress in
            batch.step(previews: sink) { tag, done, total in
                guard let m = snapshot[tag] else { return false }
                return progress(m.job.id, done, total)
            }
        }
        metrics.observe(Metrics.stepSeconds, Date().timeIntervalSince(started))
        var out: [String: Result<JobOutput, JobError>] = [:]
        for (tag, result) in left {
            guard let m = members.removeValue(forKey: tag) else { continue }
            executor.previews?.remove(m.job.id)
            out[m.job.id] = executor.jobResult(m.job, m.request, result, seconds: Date().timeIntervalSince(m.admitted))
        }
        if batch.isEmpty { self.batch = nil }
        return out
    }
}
