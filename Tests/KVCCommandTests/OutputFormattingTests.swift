import Foundation
import PagedKVCache
import Testing

@testable import kvc

/// The pure pieces of `kvc`'s output and input handling.
@Suite struct OutputFormattingTests {
    @Test func tableAlignsColumns() {
        var table = TextTable(alignments: [.left, .right])
        table.add("prefill", "512")
        table.add("decode", "64")
        #expect(table.lines == ["prefill  512", "decode    64"])
    }

    @Test(arguments: [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 * 1024 * 1024, "3.0 MiB")])
    func bytesUseBinaryUnits(count: Int, text: String) {
        #expect(Format.bytes(count) == text)
    }

    @Test func progressBarShowsShareAndRate() {
        let line = ProgressLine.render(label: "decode", done: 6, total: 24, unit: "tokens", seconds: 2, width: 8)
        #expect(line == "decode  [##......]  6/24 tokens  3 tokens/s")
        // Overshoot (a count that passes an estimated total) is clamped, never a crash.
        #expect(ProgressLine.render(label: "x", done: 9, total: 4, unit: "t", seconds: 1, width: 4).hasPrefix("x  [####]"))
    }

    @Test func tokenIDsAreParsedAndChecked() throws {
        let directory = try ScratchDirectory()
        let path = directory.path("ids.txt")
        try "1 2,3\n 4\t5\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try InputFile.readTokenIDs(path, vocabularySize: 10) == [1, 2, 3, 4, 5])
        #expect(throws: InputError.badTokenID(path: path, word: "5", vocabularySize: 5)) {
            try InputFile.readTokenIDs(path, vocabularySize: 5)
        }
        try "  \n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: InputError.noTokens(path: path)) { try InputFile.readTokenIDs(path, vocabularySize: 5) }
    }

    @Test func defaultPoolFitsEverySequenceUncompressed() throws {
        let layout = try CacheLayout(layers: 30, kvHeads: 3, headDim: 64, blockSize: 16)
        let options = try CacheOptions.parse([])
        // 20 tokens need 2 blocks per head, 16 need 1: (2 + 1) × 90 heads.
        #expect(options.capacityBlocks(layout: layout, tokensPerSequence: [20, 16]) == 270)
        #expect(try CacheOptions.parse(["--cache-blocks", "7"]).capacityBlocks(layout: layout, tokensPerSequence: [20]) == 7)
        let megabyte = try CacheOptions.parse(["--cache-mb", "1"]).capacityBlocks(layout: layout, tokensPerSequence: [20])
        #expect(megabyte == 1024 * 1024 / layout.bytesPerBlock)
    }

    @Test func reportJSONHasSnakeCaseKeysAndRates() throws {
        let report = GenerationReport(
            model: .init(path: "m.gguf", name: "m", layers: 2, kvHeads: 1, queryHeads: 3, headDim: 4, vocabularySize: 10),
            threads: 2, kernels: "portable", batchSize: 1, loadSeconds: 0.5, promptTokens: 100, prefillSeconds: 2, generatedTokens: 11,
            decodedTokens: 10, decodeSeconds: 0.5,
            cache: .init(
                blockSize: 16, capacityBlocks: 20, capacityBytes: 2000, residentBlocks: 10, residentBytes: 1000,
                peakResidentBlocks: 12, peakResidentBytes: 1200, uncompressedBlocks: 14),
            stopReasons: ["maxTokens"])
        let json = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        #expect(json["prefill_tokens_per_second"] as? Double == 50)
        #expect(json["decode_tokens_per_second"] as? Double == 20)
        #expect((json["cache"] as? [String: Any])?["peak_resident_blocks"] as? Int == 12)
        #expect(json["compression"] == nil)
        #expect(json["kernels"] as? String == "portable")
    }
}
