import ArgumentParser
import EaselAPI
import EaselEngine
import EaselJobs
import Foundation
import Synchronization
import Logging

/// `easel serve`: the HTTP daemon.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the HTTP API (see docs/API.md) with the configured models.")

    @Option(help: "The config file (JSON, see docs/API.md).") var config: String = "Config/easel.json"
    @Option(help: "Address to listen on (overrides the config and EASEL_HOST).") var host: String?
    @Option(help: "Port to listen on, 0 for any free one (overrides the config and EASEL_PORT).") var port: Int?
    @Option(help: "Data directory for jobs and images (overrides the config and EASEL_DATA_DIR).") var dataDir: String?
    @Option(help: "CPU threads for matrix products (default: all cores).") var threads: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "easel")
        Engine.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let overrides = ServerConfig.Overrides(host: host, port: port, dataDir: dataDir)
        let settings = try ServerConfig.load(file: URL(fileURLWithPath: config), overrides: overrides)
        let daemon = try EaselDaemon(config: settings, logger: logger)
        if daemon.webhookSecretCreated {
            print("Generated the webhook signing secret (shown once; `easel webhook-secret --config \(config)` prints it again):")
            print("  \(daemon.webhookSecret)")
        }
        let bound = try daemon.start()
        let shownHost = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        let base = "http://\(shownHost):\(bound)"
        let auth = settings.apiKeys.isEmpty ? "" : " -H 'Authorization: Bearer <key>'"
        let model = settings.models.first?.id ?? "MODEL"
        print("easel \(EaselVersion.string) listening on \(base) (data: \(settings.dataDir.path))")
        print("models: \(settings.models.map { "\($0.id) (\($0.load.rawValue))" }.joined(separator: ", "))")
        print("try:")
        print("  curl -s \(base)/v1/generate\(auth) -H 'Content-Type: application/json' -H 'Prefer: wait' \\")
        print("    -d '{\"model\": \"\(model)\", \"prompt\": \"a large red circle in the center on a blue background\"}'")
        fflush(stdout)

        // Graceful shutdown on SIGTERM / SIGINT; a second signal exits at once.
        let signals = DispatchQueue(label: "easel.signals")
        var sources: [DispatchSourceSignal] = []
        let signalled = SignalLatch()
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: signals)
            source.setEventHandler {
                if signalled.fire() { Foundation.exit(1) }
                logger.info("signal received, shutting down", metadata: ["signal": "\(sig)"])
                DispatchQueue.global().async {
                    daemon.stop()
                    Foundation.exit(0)
                }
            }
            source.resume()
            sources.append(source)
        }
        withExtendedLifetime(sources) { dispatchMain() }
    }
}

/// `easel webhook-secret`: prints the signing secret (the configured one, or the one generated in the data dir).
struct WebhookSecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "webhook-secret",
                                                    abstract: "Print the webhook signing secret.")

    @Option(help: "The config file.") var config: String = "Config/easel.json"
    @Option(help: "Data directory (overrides the config and EASEL_DATA_DIR).") var dataDir: String?

    func run() throws {
        let settings = try ServerConfig.load(file: URL(fileURLWithPath: config),
                                             overrides: ServerConfig.Overrides(dataDir: dataDir))
        let (secret, _) = try WebhookSecret.loadOrCreate(dataDir: settings.dataDir, configured: settings.webhookSecret)
        print(secret)
    }
}

/// Remembers that a stop signal came: the first one shuts down gracefully, a second exits at once.
final class SignalLatch: Sendable {
    private let fired = Atomic<Bool>(false)
    /// True when a signal had already come.
    func fire() -> Bool { fired.exchange(true, ordering: .acquiringAndReleasing) }
}
