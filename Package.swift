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
    ],
    targets: [
        // Prototypes for the few CBLAS/OpenBLAS entry points we call; links Debian's libopenblas.
        .target(name: "CEaselBLAS", linkerSettings: [.linkedLibrary("openblas")]),
        // zlib for PNG encoding (Debian zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(
            name: "EaselEngine",
            dependencies: ["CEaselBLAS", "CZlib"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "easel",
            dependencies: [
                "EaselEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // HTTP/1.1 server on POSIX sockets + epoll; knows nothing about jobs or models.
        .target(name: "EaselHTTP"),
        .testTarget(name: "EaselHTTPTests", dependencies: ["EaselHTTP"]),
        .testTarget(
            name: "EaselEngineTests",
            dependencies: ["EaselEngine"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
