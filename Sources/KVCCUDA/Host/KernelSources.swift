import Foundation

/// The `.cu` kernel files of `Sources/KVCCUDA/Kernels`, read at run time.
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
        return text
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
