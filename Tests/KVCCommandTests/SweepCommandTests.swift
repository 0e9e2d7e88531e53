import Foundation
import KVCHDF5
import Testing

/// `kvc sweep` end to end on the default model, on a spec small enough for a unit test: the HDF5
/// results carry what a reader needs to reproduce them (model, spec, kernels).
@Suite(.serialized, .enabled(if: KVCProcess.modelIsAvailable, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh)"))
struct SweepCommandTests {
    @Test func sweepWritesTrialsAndProvenance() throws {
        let directory = try ScratchDirectory()
        let spec = directory.path("tiny.yaml")
        try """
            task: passkey
            lengths: [200]
            prompts: 2
            seed: 5
            rates: [1, 4]
            budget: rate
            max_new_tokens: 6
            block_size: 16
            metric: kvcompress
            window: {name: last, options: {queries: 8}}
            protected_window: 16
            methods:
              - {name: kvcompress, policy: kvcompress}
              - {name: uniform, policy: uniform}
            """.write(toFile: spec, atomically: true, encoding: .utf8)
        let out = directory.path("sweep.h5")
        let outcome = try KVCProcess.run(["sweep", "--spec", spec, "--out", out])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.contains("| rate | kvcompress | uniform |"))

        let file = try HDF5File.open(path: out)
        #expect(try file.attribute("task", as: String.self) == "passkey")
        #expect(try file.attribute("model_path", as: String.self).hasSuffix("SmolLM2-135M-Instruct.Q4_1.gguf"))
        #expect(try file.attribute("spec_yaml", as: String.self).contains("lengths: [200]"))
        #expect(["avx512-vnni", "avx2", "portable"].contains(try file.attribute("kernels", as: String.self)))
        // 2 prompts × 2 methods × 2 rates.
        #expect(try file.read(Int32.self, dataset: "trials/method").shape == [8])
    }
}
