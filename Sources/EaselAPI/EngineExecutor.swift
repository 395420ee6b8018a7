import EaselEngine
import EaselJobs
import Foundation
import Logging

/// Runs a claimed batch on a model's pipeline: each job's stored `GenerationSpec` becomes a `GenerationRequest`, the whole batch
/// goes through one `generateBatch` (every image advances one step per transformer call), and each image is encoded
/// as PNG. Runs on the model's lane thread, one batch at a time.
public final class EngineExecutor: BatchExecutor, Sendable {
    let model: ModelEntry
    let metrics: Metrics
    let logger: Logger
    let inputs: InputStore?
    let loras: LoRALibrary?
    let previews: PreviewHub?

    public init(model: ModelEntry, metrics: Metrics, logger: Logger, inputs: InputStore? = nil, loras: LoRALibrary? = nil,
                previews: PreviewHub? = nil) {
        self.previews = previews
        self.model = model
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

    public func run(batch: [JobRecord], progress: @escaping @Sendable (String, Int, Int) -> Bool)
        -> [String: Result<JobOutput, JobError>] {
        var results: [String: Result<JobOutput, JobError>] = [:]
        metrics.observe(Metrics.batchSize, Double(batch.count))
        let pipeline: FluxPipeline
        do { pipeline = try model.pipeline() } catch {
            let message = (error as? APIError)?.message ?? "\(error)"
            for job in batch {
                logger.error("job failed", metadata: ["job_id": "\(job.id)", "model": "\(model.id)", "error": "\(message)"])
                results[job.id] = .failure(JobError(code: "model_unavailable", message: message))
            }
            return results
        }
        // Jobs whose stored input cannot be read fail alone; the rest run together.
        var runnable: [(job: JobRecord, request: GenerationRequest)] = []
        for job in batch {
            let spec: GenerationSpec
            do { spec = try GenerateRequestValidator.spec(fromInput: job.input) } catch {
                results[job.id] = .failure(JobError(code: JobError.internalError, message: "stored job input: \(error)"))
                continue
            }
            do {
                runnable.append((job, try request(spec, pipeline: pipeline)))
            } catch let e as JobError {
                results[job.id] = .failure(e)
            } catch {
                results[job.id] = .failure(JobError(code: "invalid_input", message: "\(error)"))
            }
        }
        guard !runnable.isEmpty else { return results }
        for (job, r) in runnable {
            logger.info("job started", metadata: [
                "job_id": "\(job.id)", "model": "\(model.id)", "batch_size": "\(batch.count)", "attempt": "\(job.attempts)",
                "size": "\(r.width)x\(r.height)", "steps": "\(r.steps)", "num_images": "\(r.numImages)"])
        }

        var lastStep = 0
        var lastTime = Date()
        let started = lastTime
        let previewSink = previews.map { hub in
            PreviewCallback { index, step, image in
                guard let png = try? PNGEncoder.encode(rgb: PNGEncoder.rgb(fromCHW: image), width: image.shape[2],
                                                      height: image.shape[1]) else { return }
                hub.set(runnable[index].job.id, .init(step: step, dataURI: "data:image/png;base64," + png.base64EncodedString()))
            }
        }
        let outputs = pipeline.generateBatchOutputs(runnable.map(\.request), previews: previewSink) { [metrics] index, done, total in
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
            switch output {
            case .success(let output):
                do {
                    let images = try output.images.enumerated().map { i, t in
                        let w = t.shape[2], h = t.shape[1]
                        let png = try PNGEncoder.encode(rgb: PNGEncoder.rgb(fromCHW: t), width: w, height: h)
                        return GeneratedImage(bytes: png, width: w, height: h, seed: request.seed &+ UInt64(i))
                    }
                    results[job.id] = .success(JobOutput(images: images, counters: [
                        "transformer_passes": output.transformerPasses, "cached_passes": output.cachedPasses]))
                    logger.info("job generated", metadata: [
                        "job_id": "\(job.id)", "model": "\(model.id)", "images": "\(images.count)",
                        "batch_seconds": "\(String(format: "%.3f", seconds))"])
                } catch {
                    results[job.id] = .failure(JobError(code: JobError.internalError, message: "PNG encoding: \(error)"))
                }
            case .failure(let error as CancellationError):
                _ = error
                results[job.id] = .failure(JobError(code: JobError.canceled, message: "stopped at a step boundary"))
                logger.info("job stopped", metadata: ["job_id": "\(job.id)", "model": "\(model.id)"])
            case .failure(let error):
                results[job.id] = .failure(JobError(code: "generation_failed", message: "\(error)"))
                logger.error("job failed", metadata: ["job_id": "\(job.id)", "model": "\(model.id)", "error": "\(error)"])
            }
        }
        return results
    }
}
