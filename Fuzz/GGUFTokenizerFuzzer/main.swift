// libFuzzer target over GGUF headers and metadata and over tokenizer input (built and run by
// scripts/fuzz.sh with `swiftc -sanitize=fuzzer`; not a SwiftPM target, so the package builds
// without the fuzzer runtime). A crash, a trap or a hang is a finding; every malformed input must
// end in a thrown, described error.
//
// Input: a mode byte, then the payload.
//   0: a GGUF file. Parsed (GGUFFile); every tensor of at most 1 MiB dequantized when its type
//      can be; the tokenizer the metadata describes built (loadTokenizer) and run on a short text.
//   1: UTF-8 text (invalid sequences allowed), encoded by a small byte-level BPE and a small
//      SentencePiece vocabulary with and without special-token parsing, and decoded again.
import BPETokenizer
import Foundation
import GGUF

/// Where mode-0 inputs are written for `GGUFFile(path:)` (the reader maps files).
let scratchPath = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-fuzz-\(getpid()).gguf").path

let bpe = try! BPETokenizer(
    tokens: ["<|endoftext|>", "a", "b", "c", "Ġ", "Ġa", "ab", "abc", "Ċ", "<|im_start|>"],
    merges: ["a b", "Ġ a", "ab c"], tokenTypes: [3, 1, 1, 1, 1, 1, 1, 1, 1, 3], bos: 0, eos: 0,
    preTokenizer: "smollm", chatTemplate: nil, addBOS: true)
let sentencePiece = try! SentencePieceTokenizer(
    tokens: ["<unk>", "<s>", "</s>", "<0x41>", "<0xC3>", "<0xA9>", "▁", "a", "b", "ab", "▁a", "<start_of_turn>", "  "],
    scores: [0, 0, 0, 0, 0, 0, -1, -1, -1, -2, -3, 0, 0], tokenTypes: [2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 3, 4],
    bos: 1, eos: 2, chatTemplate: nil, addBOS: true, addSpacePrefix: true, unknown: 0)

func exercise(_ tokenizer: any TextTokenizer, _ text: String) {
    for parseSpecial in [false, true] {
        let ids = tokenizer.encode(text, addBOS: true, parseSpecial: parseSpecial)
        precondition(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize }, "token id out of range")
        _ = tokenizer.decode(ids, renderSpecial: parseSpecial)
    }
}

func fuzzGGUF(_ payload: UnsafeRawBufferPointer) {
    guard FileManager.default.createFile(atPath: scratchPath, contents: Data(payload)) else { return }
    guard let file = try? GGUFFile(path: scratchPath) else { return }
    _ = file.description
    for tensor in file.tensors where tensor.type.isDequantizable && tensor.byteCount <= 1 << 20 {
        _ = try? file.dequantize(tensor)
    }
    if let tokenizer = try? loadTokenizer(gguf: file) { exercise(tokenizer, "ab abc <s> é\n  x") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let payload = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 2 {
    case 0:
        fuzzGGUF(payload)
    default:
        let text = String(decoding: payload, as: UTF8.self)
        exercise(bpe, text)
        exercise(sentencePiece, text)
    }
    return 0
}
