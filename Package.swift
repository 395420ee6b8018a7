// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Easel",
    products: [
        .executable(name: "easel", targets: ["easel"]),
        .library(name: "EaselEngine", targets: ["EaselEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // CBLAS prototypes (links Debian's libopenblas) and the vectorized element-wise CPU kernels (exp, GELU, softmax).
        // Optimized in debug builds too (-O0 made the test suite's model runs ~3x slower); release keeps SwiftPM's default.
        .target(name: "CEaselCPU", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))],
                linkerSettings: [.linkedLibrary("openblas")]),
        // The GPU door: dlopens the CUDA runtime and Kernels/' libeasel_kernels.so at run time, so nothing links CUDA.
        .target(name: "CEaselCUDA", linkerSettings: [.linkedLibrary("dl")]),
        // JPEG and WebP output through libjpeg-turbo and libwebp (Debian libjpeg62-turbo-dev, libwebp-dev): C wrappers,
        // because libjpeg reports errors with a longjmp that Swift cannot catch.
        .target(name: "CEaselCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("webp")]),
        // zlib for PNG encoding (Debian zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // SQLite's C API for the job store (Debian libsqlite3-dev).
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        // libcurl for webhook delivery, http and https (Debian libcurl4-openssl-dev).
        .systemLibrary(name: "CCurl", path: "Sources/CCurl"),
        // The one JSON value, reader (explicit limits) and writer, plus Codable over it; a leaf: Foundation only.
        .target(name: "EaselJSON", swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "EaselJSONTests", dependencies: ["EaselJSON"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(
            name: "EaselJobs",
            dependencies: ["EaselJSON", "CSQLite", "CCurl", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "EaselEngine",
            dependencies: ["EaselJSON", "CEaselCPU", "CEaselCUDA", "CZlib", "CEaselCodecs"],
            // Optimized in debug builds too (with bounds checks): the tests run real pipelines and the tiny model.
            // Kept although unsafeFlags stop SwiftPM accepting this package as a remote dependency (issue 11.9):
            // without -Ounchecked release `easel generate` was 4-7% slower on shapes and tiny, 0-4% on mid (over the
            // 3% bar), images bit-identical; with no unsafeFlags at all `swift test` took 150 s instead of 21 s.
            // Numbers and method: docs/performance.md, "Release flags (-Ounchecked)" (2026-12-02).
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                            .unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // The daemon: routes, configuration, model registry, the engine executor, metrics, OpenAPI.
        .target(
            name: "EaselAPI",
            dependencies: ["EaselJSON", "EaselHTTP", "EaselJobs", "EaselEngine", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(name: "EaselAPITests", dependencies: ["EaselAPI", "EaselJSON", "EaselHTTP", "EaselTestSupport", "EaselJobs", "EaselEngine",
                                                          .product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(
            name: "easel",
            dependencies: [
                "EaselEngine",
                "EaselAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // What the test targets share: a loopback HTTP client, a webhook receiver, `eventually`, temp folders.
        .target(name: "EaselTestSupport", dependencies: ["EaselHTTP", "EaselJSON"], path: "Tests/EaselTestSupport"),
        .testTarget(name: "EaselJobsTests", dependencies: ["EaselJobs", "EaselJSON", "EaselTestSupport"]),
        // HTTP/1.1 server on POSIX sockets + epoll; knows nothing about jobs or models.
        .target(name: "EaselHTTP", swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(name: "EaselHTTPTests", dependencies: ["EaselHTTP", "EaselTestSupport"]),
        .testTarget(
            name: "EaselEngineTests",
            dependencies: ["EaselEngine"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
