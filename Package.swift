// swift-tools-version: 6.1
// KV-Compress lab: paged KV-cache compression with variable compression rates per attention head
// (arXiv 2410.00161), as a Swift research framework.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "KVCompressLab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kvc", targets: ["kvc"]),
        .executable(name: "kvc-bench", targets: ["KVCBenchmark"]),
        .executable(name: "kvc-cuda", targets: ["KVCCUDATool"]),
        .library(name: "KVCompress", targets: ["KVCompress"]),
        .library(name: "EvictionPolicies", targets: ["EvictionPolicies"]),
        .library(name: "LlamaInference", targets: ["LlamaInference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // MARK: - C libraries (one system-library target each, with a small prefixed shim)
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CGSL", path: "Sources/CGSL"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5"),

        // MARK: - Swift wrappers of the C libraries (no raw C types in their public API)
        .target(name: "KVCLinearAlgebra", dependencies: ["CBLAS"], swiftSettings: strict),
        .target(name: "KVCStatistics", dependencies: ["CGSL"], swiftSettings: strict),
        .target(name: "KVCHDF5", dependencies: ["CHDF5"], swiftSettings: strict),

        // MARK: - C kernels: quantized matrix products (AVX-512 VNNI, AVX2, portable; chosen at run time), worker pool
        .target(
            name: "CKernels",
            // Optimised in debug builds too (tests run the model); no contraction of a·b + c into
            // fma beyond the explicit ones, so every path computes the same floats.
            cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),

        // MARK: - The compression budget (leaf: used by KVCompress and by KVCCUDA, which links no other C library)
        .target(name: "KVCBudget", swiftSettings: strict),

        // MARK: - Seeded random numbers (one generator for models, sampling, prompts and tests)
        .target(name: "SeededRandom", swiftSettings: strict),

        // MARK: - Model loading
        .target(name: "GGUF", swiftSettings: strict),
        .target(name: "BPETokenizer", dependencies: ["GGUF"], swiftSettings: strict),

        // MARK: - Paged KV cache and the transformer
        // CKernels: the float32 ↔ half conversions of a half-float cache (F16C where the CPU has it).
        .target(name: "PagedKVCache", dependencies: ["CKernels"], swiftSettings: strict),
        .target(
            name: "LlamaInference",
            dependencies: ["GGUF", "BPETokenizer", "PagedKVCache", "KVCLinearAlgebra", "CKernels", "SeededRandom"],
            // The forward pass is optimised in debug builds too: unoptimised SIMD code runs ~100×
            // slower, which would make every test that runs the model (here and downstream) crawl.
            swiftSettings: strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]),

        // MARK: - KV-Compress mechanism (protocols, driver, executor) and the plug-ins
        .target(
            name: "KVCompress",
            dependencies: ["KVCBudget", "PagedKVCache", "LlamaInference", "BPETokenizer", "KVCHDF5", "SeededRandom", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .target(
            name: "EvictionPolicies", dependencies: ["KVCompress", "KVCLinearAlgebra"], path: "Plugins/EvictionPolicies",
            swiftSettings: strict),

        // MARK: - Serving: a request scheduler (continuous batching, preemption, KV-Compress under a fixed pool)
        .target(name: "Serving", dependencies: ["LlamaInference", "PagedKVCache", "KVCompress"], swiftSettings: strict),

        // MARK: - Evaluation tasks (RULER-style generators and scorers), plug-ins of the evaluation
        .target(
            name: "EvaluationTasks", dependencies: ["BPETokenizer", "KVCompress", "SeededRandom"], resources: [.copy("Resources")],
            swiftSettings: strict),

        // MARK: - Evaluation: sweep specifications, the runner, result files, reports, Slurm jobs. Above the
        // plug-ins (it sweeps every registered method, baselines and user plug-ins included) and the tasks.
        .target(
            name: "Evaluation",
            dependencies: [
                "KVCompress", "EvictionPolicies", "EvaluationTasks", "LlamaInference", "PagedKVCache", "BPETokenizer", "KVCHDF5",
                "KVCStatistics", "SeededRandom", .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),

        // MARK: - CUDA kernels: .cu sources compiled at run time by NVRTC, launched through the driver API
        // (both dlopen'ed: the package builds and tests without CUDA). KVCCUDA depends on no other C
        // library, so a statically linked binary using it runs on a GPU machine that has only the driver.
        .target(name: "CCUDA", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "KVCCUDA", dependencies: ["CCUDA", "KVCBudget", "PagedKVCache", "SeededRandom"], resources: [.copy("Kernels")],
            swiftSettings: strict),

        // MARK: - `swift package scaffold-policy --name MyPolicy`: a new eviction policy and its tests
        .plugin(
            name: "ScaffoldPolicy",
            capability: .command(
                intent: .custom(verb: "scaffold-policy", description: "Write a documented EvictionPolicy starting point and its tests under Plugins/EvictionPolicies/User"),
                permissions: [.writeToPackageDirectory(reason: "writes Plugins/EvictionPolicies/User/<Name>.swift and Tests/KVCompressTests/User/<Name>Tests.swift and registers it in User/UserPlugins.swift")])),

        // MARK: - Command line and experiments
        .executableTarget(
            name: "kvc",
            dependencies: [
                "LlamaInference", "KVCompress", "EvictionPolicies", "EvaluationTasks", "Evaluation", "KVCHDF5", "KVCStatistics", "GGUF",
                "BPETokenizer", "Serving", "KVCLinearAlgebra", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "KVCBenchmark",
            dependencies: [
                "LlamaInference", "KVCompress", "EvictionPolicies", "KVCStatistics", "KVCHDF5", "Serving", "KVCLinearAlgebra",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Experiments/Benchmark",
            swiftSettings: strict),
        // Depends on KVCCUDA alone, so scripts/cuda-device-check.sh can link it statically for a GPU machine.
        .executableTarget(
            name: "KVCCUDATool",
            dependencies: ["KVCCUDA", "PagedKVCache", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Experiments/CUDAKernels", exclude: ["README.md"],
            swiftSettings: strict),

        // MARK: - Tests (one target per module)
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "SeededRandom"], resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "BPETokenizerTests", dependencies: ["BPETokenizer", "GGUF", "SeededRandom", .product(name: "PropertyBased", package: "swift-property-based")], resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "WrapperTests", dependencies: ["KVCLinearAlgebra", "KVCStatistics", "KVCHDF5", "SeededRandom"], swiftSettings: strict),
        .testTarget(
            name: "PagedKVCacheTests",
            dependencies: ["PagedKVCache", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict),
        .testTarget(
            name: "LlamaInferenceTests", dependencies: ["LlamaInference", "PagedKVCache", "GGUF", "SeededRandom"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(
            name: "KVCompressTests",
            dependencies: [
                "KVCompress", "EvictionPolicies", "LlamaInference", "PagedKVCache", "BPETokenizer", "KVCHDF5",
                "SeededRandom", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "EvaluationTests",
            dependencies: [
                "Evaluation", "EvaluationTasks", "KVCompress", "EvictionPolicies", "LlamaInference", "PagedKVCache", "BPETokenizer", "KVCHDF5",
                "KVCStatistics", "SeededRandom",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "KVCCUDATests",
            dependencies: ["KVCCUDA", "PagedKVCache", "KVCompress", "EvictionPolicies", "LlamaInference", "SeededRandom"],
            swiftSettings: strict),
        .testTarget(
            name: "EvaluationTasksTests", dependencies: ["EvaluationTasks", "BPETokenizer", "GGUF", "KVCompress"], swiftSettings: strict),
        .testTarget(
            name: "ServingTests",
            dependencies: ["Serving", "KVCompress", "EvictionPolicies", "LlamaInference", "PagedKVCache", "SeededRandom"],
            swiftSettings: strict),
        .testTarget(name: "KVCCommandTests", dependencies: ["kvc", "KVCHDF5"], swiftSettings: strict),
        .testTarget(name: "KVCCUDAToolTests", dependencies: ["KVCCUDATool"], swiftSettings: strict),
    ]
)
