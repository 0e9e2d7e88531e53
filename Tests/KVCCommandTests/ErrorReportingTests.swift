import Foundation
import Testing

@testable import kvc

/// Every mistake a user can make on the command line ends in a clear message on stderr and a
/// non-zero exit, never a crash, and before any expensive work.
@Suite struct ErrorReportingTests {
    @Test func missingModelFileIsNamed() throws {
        let outcome = try KVCProcess.run(["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("model file not found: /nonexistent/model.gguf"))
        #expect(outcome.stdout.isEmpty)
    }

    @Test func missingModelFromEnvironmentNamesTheVariable() throws {
        let outcome = try KVCProcess.run(["tokenize", "--text", "hi"], environment: ["KVC_MODEL": "/nonexistent/env.gguf"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("/nonexistent/env.gguf"))
        #expect(outcome.stderr.contains("KVC_MODEL"))
    }

    @Test func missingDefaultModelSaysHowToFetchIt() throws {
        let empty = try ScratchDirectory()
        #expect(throws: ModelLocationError.self) {
            try ModelLocation.resolve(explicit: nil, environment: [:], currentDirectory: empty.url.path, packageRoot: empty.url)
        }
        do {
            _ = try ModelLocation.resolve(explicit: nil, environment: [:], currentDirectory: empty.url.path, packageRoot: empty.url)
        } catch {
            #expect(error.description.contains("scripts/fetch-model.sh"))
            #expect(error.description.contains(empty.path("models/SmolLM2-135M-Instruct.Q4_1.gguf")))
        }
    }

    @Test func defaultModelIsFoundInTheCurrentDirectory() throws {
        let directory = try ScratchDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("models"), withIntermediateDirectories: true)
        let model = directory.path(ModelLocation.defaultRelativePath)
        _ = FileManager.default.createFile(atPath: model, contents: Data([0]))
        let elsewhere = try ScratchDirectory()
        #expect(try ModelLocation.resolve(explicit: nil, environment: [:], currentDirectory: directory.url.path, packageRoot: elsewhere.url) == model)
    }

    @Test func corruptModelFileIsReportedNotCrashedOn() throws {
        let directory = try ScratchDirectory()
        let path = directory.path("broken.gguf")
        try Data("GGUF but not really a model".utf8).write(to: URL(fileURLWithPath: path))
        let outcome = try KVCProcess.run(["generate", "--model", path, "--prompt", "hi", "--max-tokens", "1"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("broken.gguf"))
    }

    @Test(arguments: ["/nonexistent-directory/stats.json", "/tmp"])
    func unwritableStatisticsPathFailsBeforeLoading(path: String) throws {
        let outcome = try KVCProcess.run([
            "generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi", "--stats-json", path,
        ])
        #expect(outcome.status == 1)
        // The output path is checked first: the (also missing) model is never reached.
        #expect(outcome.stderr.contains("cannot write \(path)"))
        #expect(!outcome.stderr.contains("model file not found"))
    }

    @Test func unwritableLogitsPathFailsBeforeLoading() throws {
        let directory = try ScratchDirectory()
        let tokens = directory.path("ids.txt")
        try "1 2 3".write(toFile: tokens, atomically: true, encoding: .utf8)
        let outcome = try KVCProcess.run([
            "logits", "--model", "/nonexistent/model.gguf", "--tokens-file", tokens, "--out", "/nonexistent-directory/l.h5",
        ])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("/nonexistent-directory/l.h5"))
        #expect(!outcome.stderr.contains("model file not found"))
    }

    @Test(arguments: [
        (["--block-size", "3"], "--block-size"),
        (["--block-size", "128"], "--block-size"),
        (["--top-p", "0"], "--top-p"),
        (["--top-p", "1.5"], "--top-p"),
        (["--temperature", "-1"], "--temperature"),
        (["--max-tokens", "-1"], "--max-tokens"),
        (["--threads", "0"], "--threads"),
        (["--threads", "100000"], "the CPUs this process may use"),
        (["--cache-blocks", "0"], "--cache-blocks"),
        (["--cache-blocks", "10", "--cache-mb", "1"], "--cache-blocks or --cache-mb"),
        (["--system", "be brief"], "--system needs --chat"),
        (["--prompt-file", "/tmp/x"], "exactly one of --prompt"),
    ])
    func invalidOptionsAreRejected(arguments: [String], message: String) throws {
        let outcome = try KVCProcess.run(["generate", "--prompt", "hi"] + arguments)
        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains(message), "stderr: \(outcome.stderr)")
        #expect(outcome.stdout.isEmpty)
    }

    @Test func unreadablePromptFileIsNamed() throws {
        let outcome = try KVCProcess.run(["generate", "--prompt-file", "/nonexistent/prompt.txt"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("cannot read /nonexistent/prompt.txt"))
    }
}
