import ArgumentParser
import Foundation
import KVCCUDA
import PagedKVCache

extension KVCCUDATool {
    /// Every kernel on the GPU against its CPU reference, on random caches; exits 1 if any case fails.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every kernel on the GPU and compare with its CPU reference (needs a GPU).")

        @OptionGroup var libraries: LibraryOptions

        @Option(help: "Also write the results as JSON to this file.")
        var json: String?

        @Option(help: "Which kernels: all, attention or eviction.")
        var only: KernelGroup = .all

        @Option(help: "Only the eviction cases of at most this many tokens per sequence (smaller, faster runs, e.g. under compute-sanitizer).")
        var maxEvictionLength: Int?

        enum KernelGroup: String, ExpressibleByArgument, CaseIterable { case all, attention, eviction }

        func validate() throws {
            try validateOutputPath(json)
            if let maxEvictionLength, maxEvictionLength < 1 { throw ValidationError("--max-eviction-length must be positive (got \(maxEvictionLength))") }
        }

        func run() throws {
            let (compiler, context) = try libraries.openGPU()
            var results: [KernelCheckResult] = []
            if only != .eviction { results += try AttentionKernelCheck.run(context: context, compiler: compiler) }
            if only != .attention {
                if let maxEvictionLength {
                    let kernels = try EvictionKernels(context: context, compiler: compiler)
                    for kvType in KVStorageType.allCases {
                        for checkCase in EvictionKernelCheck.cases where checkCase.sequenceLength <= maxEvictionLength {
                            results += try EvictionKernelCheck.check(checkCase.with(kvType: kvType), kernels: kernels)
                        }
                    }
                } else {
                    results += try EvictionKernelCheck.run(context: context, compiler: compiler)
                }
            }
            print("")
            print("| kernel | KV type | case | max abs error | max rel error | passed |")
            print("|---|---|---|---:|---:|---|")
            for r in results {
                print("| \(r.kernel) | \(r.kvType?.rawValue ?? "–") | \(r.case) | \(String(format: "%.3g", r.maxAbsoluteError)) | \(String(format: "%.3g", r.maxRelativeError)) | \(r.passed ? "yes" : "NO") |")
            }
            let failed = results.filter { !$0.passed }
            print("\n\(results.count - failed.count) of \(results.count) cases pass")
            if let json {
                // kvType: "f16" / "f32", or null for a check without KV pools (the sort refusal).
                let records = results.map {
                    ["kernel": $0.kernel, "case": $0.case, "maxAbsoluteError": $0.maxAbsoluteError,
                     "maxRelativeError": $0.maxRelativeError, "passed": $0.passed,
                     "kvType": $0.kvType.map { $0.rawValue as Any } ?? NSNull()] as [String: Any]
                }
                try writeJSON(["device": context.deviceName, "architecture": context.architecture.name, "results": records], to: json)
            }
            if !failed.isEmpty { throw ExitCode(1) }
        }
    }

    /// Times the kernels on SmolLM2-shaped work (needs a GPU).
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the decode attention and eviction kernels on SmolLM2-135M-shaped caches (needs a GPU).")

        @OptionGroup var libraries: LibraryOptions

        @Option(help: "Also write the figures as JSON to this file.")
        var json: String?

        func validate() throws { try validateOutputPath(json) }

        func run() throws {
            let (compiler, context) = try libraries.openGPU()
            var figures: [String: Double] = [:]
            figures.merge(try AttentionKernelBenchmark.run(context: context, compiler: compiler)) { $1 }
            figures.merge(try EvictionKernelBenchmark.run(context: context, compiler: compiler)) { $1 }
            print("")
            print("| figure | value |")
            print("|---|---:|")
            for key in figures.keys.sorted() { print("| \(key) | \(String(format: "%.4g", figures[key]!)) |") }
            if let json {
                try writeJSON(["device": context.deviceName, "architecture": context.architecture.name, "figures": figures], to: json)
            }
        }
    }
}

/// Refuses, before any GPU work, an output file whose folder is missing or not writable.
func validateOutputPath(_ path: String?) throws {
    guard let path else { return }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
        throw ValidationError("cannot write \(path): folder \(folder) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: folder) else {
        throw ValidationError("cannot write \(path): folder \(folder) is not writable")
    }
}

/// Writes `object` as pretty JSON, atomically (a failed write leaves no half-written file).
func writeJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw ValidationError("cannot write \(path): \(error.localizedDescription)")
    }
}
