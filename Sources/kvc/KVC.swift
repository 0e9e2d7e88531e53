import ArgumentParser
import KVCLinearAlgebra

/// `kvc`: run Llama-family GGUF models on the CPU over the KV-Compress paged cache.
@main
struct KVC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvc",
        abstract: "KV-Compress lab: paged KV-cache compression for Llama-family GGUF models on the CPU.",
        discussion: """
            Without --model, the default model (\(ModelLocation.defaultRelativePath)) is used; fetch it with \
            \(ModelLocation.fetchCommand). Generated text goes to stdout; timings and cache figures to stderr.
            """,
        subcommands: [Generate.self, Tokenize.self, Logits.self, Compress.self, Sweep.self])

    static func main() {
        BLAS.restartWithFasterKernelsIfGeneric()
        main(nil)
    }
}
