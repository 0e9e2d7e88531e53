import Foundation

/// `kvc sweep slurm`: a sweep as a Slurm job array, one shard per `SLURM_ARRAY_TASK_ID`, and a merge
/// job that starts when every shard has succeeded (`--dependency=afterok`), following the sbatch
/// manual (https://slurm.schedmd.com/sbatch.html, "--array", "--dependency"). Each shard runs with
/// `--resume`, so a requeued or re-submitted task continues where its journal stops.
public struct SlurmJobs: Sendable {
    /// Absolute paths: the `kvc` binary, the specification, the output directory, the model.
    public let kvc: String
    public let specification: String
    public let directory: String
    public let model: String?
    public let shards: Int
    public let partition: String?
    public let timeLimit: String?
    public let cpusPerTask: Int

    public init(kvc: String, specification: String, directory: String, model: String?, shards: Int, partition: String?, timeLimit: String?, cpusPerTask: Int) throws(EvaluationError) {
        guard shards >= 1 else { throw .invalidShard("--shards must be at least 1 (got \(shards))") }
        guard cpusPerTask >= 1 else { throw .invalidSpecification("--cpus-per-task must be at least 1 (got \(cpusPerTask))") }
        func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }
        self.kvc = absolute(kvc)
        self.specification = absolute(specification)
        self.directory = absolute(directory)
        self.model = model.map(absolute)
        self.shards = shards
        self.partition = partition
        self.timeLimit = timeLimit
        self.cpusPerTask = cpusPerTask
    }

    public var arrayScriptPath: String { directory + "/sweep-array.sbatch" }
    public var mergeScriptPath: String { directory + "/sweep-merge.sbatch" }
    public var mergedPath: String { directory + "/sweep.h5" }
    public func shardPath(_ index: Int) -> String { directory + "/shard-\(index).h5" }

    /// Single-quoted for bash.
    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    var commonDirectives: [String] {
        var lines: [String] = []
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let timeLimit { lines.append("#SBATCH --time=\(timeLimit)") }
        return lines
    }

    /// The array job: shard `$SLURM_ARRAY_TASK_ID` of `shards`.
    public var arrayScript: String {
        var lines = [
            "#!/bin/bash",
            "# kvc sweep as a Slurm job array: shard $SLURM_ARRAY_TASK_ID of \(shards). Written by `kvc sweep slurm`.",
            "#SBATCH --job-name=kvc-sweep",
            "#SBATCH --array=0-\(shards - 1)",
            "#SBATCH --ntasks=1",
            "#SBATCH --cpus-per-task=\(cpusPerTask)",
            "#SBATCH --output=\(directory)/logs/shard-%a.log",
        ] + commonDirectives
        lines += [
            "set -euo pipefail",
            "shard=\"${SLURM_ARRAY_TASK_ID:?run this script with sbatch}\"",
            "exec \(Self.quote(kvc)) sweep --spec \(Self.quote(specification))"
                + (model.map { " --model \(Self.quote($0))" } ?? "")
                + " --threads \(cpusPerTask) --shard \"$shard/\(shards)\" --resume --out \(Self.quote(directory))/shard-\"$shard\".h5",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The merge job, to be submitted with `--dependency=afterok:<array job id>`.
    public var mergeScript: String {
        var lines = [
            "#!/bin/bash",
            "# Merges the \(shards) shards of the kvc sweep array job. Written by `kvc sweep slurm`.",
            "#SBATCH --job-name=kvc-sweep-merge",
            "#SBATCH --ntasks=1",
            "#SBATCH --cpus-per-task=1",
            "#SBATCH --output=\(directory)/logs/merge.log",
        ] + commonDirectives
        lines += [
            "set -euo pipefail",
            "exec \(Self.quote(kvc)) sweep merge --out \(Self.quote(mergedPath)) " + (0..<shards).map { Self.quote(shardPath($0)) }.joined(separator: " "),
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes both scripts (executable) and the log directory.
    public func write() throws(EvaluationError) {
        do {
            try FileManager.default.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
            for (path, text) in [(arrayScriptPath, arrayScript), (mergeScriptPath, mergeScript)] {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            }
        } catch {
            throw .unwritableOutput(path: directory, why: "\(error)")
        }
    }
}
