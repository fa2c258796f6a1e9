// swift-tools-version:6.0
import PackageDescription

// Strict concurrency is the Swift 6 language mode default; every target is built in it.
// Release builds drop the run-time exclusivity checks (swift_beginAccess showed in
// proxy profiles); debug and test builds keep them.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "ccload",
    products: [
        .executable(name: "ccload", targets: ["ccload"]),
        .executable(name: "ccload-loadgen", targets: ["LoadGen"]),
        .executable(name: "ccload-mock", targets: ["MockUpstream"]),
        .executable(name: "ccload-routing-bench", targets: ["RoutingBench"]),
        .executable(name: "ccload-seed", targets: ["Seed"]),
        .executable(name: "ccload-store-bench", targets: ["StoreBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // C shim: system headers and static-inline wrappers for macros Swift cannot import.
        .target(
            name: "CEpoll",
            linkerSettings: [
                .linkedLibrary("ssl"), .linkedLibrary("crypto"),
                .linkedLibrary("sqlite3"), .linkedLibrary("z"),
            ]
        ),
        // libpq (Debian: libpq-dev), for the store's PostgreSQL backend.
        .systemLibrary(name: "CPostgres", path: "Sources/CPostgres"),
        .target(name: "Reactor", dependencies: ["CEpoll"], swiftSettings: swiftSettings),
        .target(name: "TLS", dependencies: ["CEpoll", "Reactor"], swiftSettings: swiftSettings),
        .target(name: "Proxy", dependencies: ["CEpoll", "CPostgres", "Reactor", "TLS"], swiftSettings: swiftSettings),
        // The web UI's files (Sources/Admin/Web) are compiled in by the EmbedWebFiles plugin,
        // not shipped as resources: a resources folder beside the binary would break the
        // single-binary promise.
        .target(
            name: "Admin",
            dependencies: ["CEpoll", "Reactor", "TLS", "Proxy"],
            exclude: ["API.md", "Web"],
            swiftSettings: swiftSettings,
            plugins: ["EmbedWebFiles"]
        ),
        .plugin(name: "EmbedWebFiles", capability: .buildTool(), dependencies: ["WebEmbedder"]),
        .executableTarget(name: "WebEmbedder", path: "Plugins/WebEmbedder"),
        .executableTarget(
            name: "ccload",
            dependencies: [
                "CEpoll", "Reactor", "TLS", "Proxy", "Admin",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "LoadGen",
            dependencies: [
                "CEpoll", "Reactor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/LoadGen",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MockUpstream",
            dependencies: [
                "CEpoll", "Reactor", "TLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/MockUpstream",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RoutingBench",
            dependencies: ["Proxy", "Reactor"],
            path: "Benchmarks/RoutingBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Seed",
            dependencies: ["Proxy", "Reactor"],
            path: "Benchmarks/Seed",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "StoreBench",
            dependencies: ["Proxy", "Reactor"],
            path: "Benchmarks/StoreBench",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor"]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "Reactor"]),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "Reactor"]),
        .testTarget(name: "AdminTests", dependencies: ["Admin", "Proxy", "Reactor"]),
        .testTarget(name: "LoadGenTests", dependencies: ["LoadGen"]),
        .testTarget(
            name: "EndToEndTests",
            // Proxy: to open the sealed secrets a test reads from the database file.
            dependencies: ["ccload", "MockUpstream", "Reactor", "Proxy"],
            exclude: ["sdk"]
        ),
    ]
)
