import Foundation

/// The model as a sweep axis (issue 13): `model: [A.gguf, B.gguf]` runs the specification once per
/// model, in list order, each into its own ordinary results file `OUT.<stem>.h5`, and
/// `kvc sweep report` over those files puts the models side by side, each cell tested only against
/// the full cache of its own model.
///
/// Why one file per model rather than a model dimension inside one file: a results file's per-head
/// arrays (`kept_kvs`, `evidence_kvs_kept`) are shaped by its model's layers and KV heads, and its
/// header (what `--resume` and `kvc sweep merge` compare) names one model. Separate files leave the
/// file format, the journal, `--resume` and merges exactly as they are for one model.
public enum SweepModelAxis {
    /// The checked list of `model: [...]`: non-empty, each entry a non-empty string, no path twice, and
    /// no two paths with one file name (their results files would be the same file).
    static func paths(_ items: [SpecValue]) throws(EvaluationError) -> [String] {
        guard !items.isEmpty else { throw .invalidSpecification("model must be the path of a GGUF file or a non-empty list of them (got [])") }
        var paths: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let path) = item, !path.isEmpty else {
                throw .invalidSpecification("model[\(i)] must be the path of a GGUF file (got \(item.json()))")
            }
            if let j = paths.firstIndex(of: path) { throw .invalidSpecification("model[\(i)] repeats model[\(j)] (\(path)); list each model once") }
            if let j = paths.firstIndex(where: { stem(of: $0) == stem(of: path) }) {
                throw .invalidSpecification(
                    "model[\(j)] (\(paths[j])) and model[\(i)] (\(path)) have the same file name, which names each model's results file; rename one")
            }
            paths.append(path)
        }
        return paths
    }

    /// A model file's name without its directory and `.gguf`: `models/gemma-3-270m-q4_k_m.gguf` →
    /// `gemma-3-270m-q4_k_m`. It names the model's results file.
    public static func stem(of path: String) -> String {
        droppingGGUFExtension((path as NSString).lastPathComponent)
    }

    /// `name` without a trailing `.gguf` (any case).
    static func droppingGGUFExtension(_ name: String) -> String {
        name.lowercased().hasSuffix(".gguf") ? String(name.dropLast(5)) : name
    }

    /// Where one model's results go: the stem is put before the extension of `out`
    /// (`results/x.h5` → `results/x.SmolLM2-135M-Instruct.Q4_1.h5`), or after `out` when it has none.
    /// Also names each model's `--write-prompts` file (`p.jsonl` → `p.<stem>.jsonl`).
    public static func resultsPath(out: String, model: String) -> String {
        let ext = (out as NSString).pathExtension
        guard !ext.isEmpty else { return out + "." + stem(of: model) }
        return (out as NSString).deletingPathExtension + "." + stem(of: model) + "." + ext
    }

    /// The listed model files that are missing or cannot be read, in list order.
    public static func unreadable(_ paths: [String]) -> [String] {
        paths.filter { !FileManager.default.isReadableFile(atPath: $0) }
    }

    /// The runs of a report over several results files of one specification, one model each, named
    /// by model (`general.name`, or the model file's stem where two files share a name).
    ///
    /// Refused: files of different specifications (compared as their canonical JSON, and their cells
    /// must be in the same order, since trials name cells by index), and two files of the same model
    /// (shards of one model are merged first, with `kvc sweep merge`).
    /// - Parameters:
    ///   - specifications: each file's specification as recorded in it (``SweepSpecification/init(recordedIn:path:plugins:tasks:)``).
    ///   - paths: for messages, one per file.
    public static func runs(_ files: [SweepResults], specifications: [SweepSpecification], paths: [String]) throws(EvaluationError) -> [SweepReport.Run] {
        guard let first = files.first else { throw .reportMismatch("no results files") }
        for (i, file) in files.enumerated().dropFirst() {
            if file.header.specification != first.header.specification {
                var at = "its text"
                if let a = try? SpecValue.parse(json: first.header.specification), let b = try? SpecValue.parse(json: file.header.specification) {
                    at = SpecValue.firstDifference(a, b).map { "'\($0)'" } ?? at
                }
                throw .reportMismatch(
                    "\(paths[i]) was made from another specification than \(paths[0]) (they differ at \(at)); a report puts together one specification's results on several models")
            }
            guard specifications[i].cells.map(\.label) == specifications[0].cells.map(\.label) else {
                throw .reportMismatch("\(paths[i]) and \(paths[0]) list the cells of their specification in different orders (their grid keys are written in another order)")
            }
        }
        // The header's model is `general.name`, or the file name when the model has none.
        let generalNames = files.map { droppingGGUFExtension($0.header.model) }
        let fileStems = files.map { $0.attributes["model_path"].map(stem(of:)) ?? stem(of: $0.header.model) }
        let names = Set(generalNames).count == files.count ? generalNames : fileStems
        for (i, name) in names.enumerated() {
            if let j = names.firstIndex(of: name), j < i {
                throw .reportMismatch(
                    "\(paths[j]) and \(paths[i]) both hold results of the model \(name); give one file per model (merge the shards of one model first with `kvc sweep merge`)")
            }
        }
        return zip(names, files).map { SweepReport.Run(model: $0, results: $1) }
    }
}
