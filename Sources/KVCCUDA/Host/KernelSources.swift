import Foundation

/// The `.cu` kernel files of `Sources/KVCCUDA/Kernels`, read at run time.
///
/// NVRTC compiles without headers, so a kernel file's `#include "name.cuh"` lines are resolved here:
/// each is replaced by that header of the same directory (once per source, as `#pragma once`), framed
/// by `#line` directives so NVRTC's messages name the header's and the file's own lines.
///
/// Where from: `$KVC_CUDA_KERNELS_DIR` when set; else the `Kernels` directory of this target's
/// resource bundle (`KVCompressLab_KVCCUDA.resources`, next to the executable, which is where
/// `Bundle.module` looks first); else the source tree this file was compiled from (a binary run from
/// elsewhere on the build machine). The bundle is located by hand instead of through `Bundle.module`
/// because the generated accessor stops the process when the bundle is missing; here that is an error.
public enum KernelSources {
    /// The directory the kernel files are read from; nil when none of the places exists.
    public static var directory: String? {
        candidateDirectories.first { isDirectory($0) }
    }

    /// Every `.cu` file of the kernel directory, sorted by name ([] when there is no directory).
    public static var fileNames: [String] {
        guard let directory else { return [] }
        return fileNames(in: directory)
    }

    /// The `.cu` files of `directory`, sorted ([] when it cannot be listed).
    static func fileNames(in directory: String) -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return entries.filter { $0.hasSuffix(".cu") }.sorted()
    }

    /// The text of kernel file `name` (e.g. `"attention.cu"`).
    public static func source(named name: String) throws(CUDAError) -> String {
        guard let directory else {
            throw .kernelSourceMissing("no kernel directory; looked in \(candidateDirectories.joined(separator: ", ")) (set KVC_CUDA_KERNELS_DIR)")
        }
        guard name.hasSuffix(".cu"), !name.contains("/") else {
            throw .kernelSourceMissing("'\(name)' is not a kernel file name (expected e.g. attention.cu)")
        }
        let path = "\(directory)/\(name)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .kernelSourceMissing("\(path) does not exist or cannot be read; kernel files there: \(fileNames.joined(separator: ", "))")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .kernelSourceMissing("\(path) is not UTF-8 text") }
        return try inliningHeaders(of: text, fileName: name, directory: directory)
    }

    /// `source` with every `#include "name.cuh"` line replaced by the header `directory/name.cuh`
    /// (a header already inlined is skipped; headers may include headers). Only such project headers
    /// may be included: NVRTC has no others.
    /// - Throws: `.kernelSourceMissing` naming the including file and line when a header is missing,
    ///   or when an include is not of a `.cuh` file of the kernel directory.
    static func inliningHeaders(of source: String, fileName: String, directory: String) throws(CUDAError) -> String {
        var inlined: Set<String> = []
        return try inliningHeaders(of: source, fileName: fileName, directory: directory, inlined: &inlined)
    }

    private static func inliningHeaders(
        of source: String, fileName: String, directory: String, inlined: inout Set<String>
    ) throws(CUDAError) -> String {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.contains(where: { $0.hasPrefix("#include") }) else { return source }
        var output: [Substring] = []
        for (index, line) in lines.enumerated() {
            guard line.hasPrefix("#include") else {
                output.append(line)
                continue
            }
            let location = "\(fileName):\(index + 1)"
            let quoted = line.dropFirst("#include".count).trimmingCharacters(in: .whitespaces)
            guard quoted.count > 2, quoted.hasPrefix("\""), quoted.hasSuffix("\"") else {
                throw .kernelSourceMissing("\(location): '\(line)': only #include \"name.cuh\" of the kernel directory is supported (NVRTC has no headers)")
            }
            let header = String(quoted.dropFirst().dropLast())
            guard header.hasSuffix(".cuh"), !header.contains("/") else {
                throw .kernelSourceMissing("\(location): '\(header)' is not a header of the kernel directory (expected name.cuh)")
            }
            guard inlined.insert(header).inserted else {
                output.append("// \(header): already inlined above")
                continue
            }
            let path = "\(directory)/\(header)"
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw .kernelSourceMissing("\(location) includes \(header), but \(path) does not exist or is not UTF-8 text")
            }
            let body = try inliningHeaders(of: text, fileName: header, directory: directory, inlined: &inlined)
            output.append("#line 1 \"\(header)\"")
            output.append(contentsOf: body.split(separator: "\n", omittingEmptySubsequences: false))
            output.append("#line \(index + 2) \"\(fileName)\"")
        }
        return output.joined(separator: "\n")
    }

    static var candidateDirectories: [String] {
        if let override = LibraryLocator.environment("KVC_CUDA_KERNELS_DIR") { return [override] }
        let bundle = Bundle.main.bundleURL.appendingPathComponent("KVCompressLab_KVCCUDA.resources/Kernels").path
        let sourceTree = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Kernels").path
        return [bundle, sourceTree]
    }

    private static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }
}
