/// Everything that can go wrong while reading or writing a GGUF file.
///
/// Every case carries the file it concerns, so `description` always names the file and the problem.
/// A corrupt file never crashes the reader: each malformed field maps to one of these cases.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    /// The file does not exist.
    case fileNotFound(file: String)
    /// The file exists but cannot be opened or mapped (permissions, a directory, an I/O error).
    case unreadable(file: String, reason: String)
    /// A read ran past the end of the file: `needed` bytes at `offset`, while reading `what`.
    case truncated(file: String, what: String, offset: Int, needed: Int, fileSize: Int)
    /// The first four bytes are not "GGUF".
    case badMagic(file: String, found: [UInt8])
    /// A GGUF version other than 2 or 3 (version 1 used 32-bit counts and is not supported).
    case unsupportedVersion(file: String, version: UInt32)
    /// A metadata value type id that the GGUF specification does not define.
    case unknownValueType(file: String, key: String, rawType: UInt32)
    /// A tensor type id that ggml does not define, so its size cannot even be computed.
    case unknownTensorType(file: String, tensor: String, rawType: UInt32)
    /// A known tensor type that this reader cannot dequantize (for example the IQ* types).
    case unsupportedTensorType(file: String, tensor: String, type: GGMLType)
    /// A tensor whose bytes lie (partly) outside the data section of the file.
    case tensorDataOutOfBounds(file: String, tensor: String, offset: Int, byteCount: Int, dataSize: Int)
    /// A tensor description that cannot be right (bad rank, negative or overflowing dimensions,
    /// misaligned offset, first dimension not a multiple of the block size, duplicate name).
    case invalidTensor(file: String, tensor: String, reason: String)
    /// A structural problem in the header that is not a plain truncation (invalid UTF-8,
    /// duplicate key, arrays nested too deeply, bad alignment value).
    case malformed(file: String, offset: Int, reason: String)
    /// A required metadata key is absent.
    case missingKey(key: String, file: String)
    /// A metadata key holds a value of another type than the one asked for.
    case wrongType(key: String, expected: String, found: String, file: String)
    /// No tensor with this name exists in the file.
    case missingTensor(name: String, file: String)
    /// `GGUFWriter` was given inconsistent input (shape/data mismatch, unwritable type, ...).
    case invalidWriterInput(file: String, reason: String)
    /// `GGUFWriter` could not write the file (directory missing, permissions, disk full).
    case writeFailed(file: String, reason: String)

    /// The file the error concerns.
    public var file: String {
        switch self {
        case .fileNotFound(let file), .unreadable(let file, _), .badMagic(let file, _),
            .unsupportedVersion(let file, _), .invalidWriterInput(let file, _), .writeFailed(let file, _):
            file
        case .truncated(let file, _, _, _, _), .unknownValueType(let file, _, _),
            .unknownTensorType(let file, _, _), .unsupportedTensorType(let file, _, _),
            .tensorDataOutOfBounds(let file, _, _, _, _), .invalidTensor(let file, _, _),
            .malformed(let file, _, _):
            file
        case .missingKey(_, let file), .wrongType(_, _, _, let file), .missingTensor(_, let file):
            file
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let file):
            "GGUF file not found: \(file)"
        case .unreadable(let file, let reason):
            "cannot read GGUF file \(file): \(reason)"
        case .truncated(let file, let what, let offset, let needed, let fileSize):
            "truncated GGUF file \(file): reading \(what) needs \(needed) bytes at offset \(offset), "
                + "but the file has \(fileSize) bytes"
        case .badMagic(let file, let found):
            "not a GGUF file: \(file) starts with bytes "
                + found.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
                + " instead of \"GGUF\" (47 47 55 46)"
        case .unsupportedVersion(let file, let version):
            "unsupported GGUF version \(version) in \(file); only versions 2 and 3 (little-endian) are supported"
                + (version == 1 ? " (version 1 predates 64-bit counts; re-convert the model with a current llama.cpp)" : "")
                + (version.byteSwapped == 2 || version.byteSwapped == 3 ? " (this looks like a big-endian GGUF file)" : "")
        case .unknownValueType(let file, let key, let rawType):
            "unknown metadata value type \(rawType) for key '\(key)' in GGUF file \(file)"
        case .unknownTensorType(let file, let tensor, let rawType):
            "unknown tensor type id \(rawType) for tensor '\(tensor)' in GGUF file \(file)"
        case .unsupportedTensorType(let file, let tensor, let type):
            "tensor '\(tensor)' in \(file) has type \(type), which cannot be dequantized "
                + "(supported: \(GGMLType.dequantizable.map(\.description).joined(separator: ", ")))"
        case .tensorDataOutOfBounds(let file, let tensor, let offset, let byteCount, let dataSize):
            "tensor '\(tensor)' in \(file) lies outside the file: its \(byteCount) bytes start at data offset "
                + "\(offset), but the data section has \(dataSize) bytes"
        case .invalidTensor(let file, let tensor, let reason):
            "invalid tensor '\(tensor)' in GGUF file \(file): \(reason)"
        case .malformed(let file, let offset, let reason):
            "malformed GGUF file \(file) at offset \(offset): \(reason)"
        case .missingKey(let key, let file):
            "GGUF file \(file) lacks the required metadata key '\(key)'"
        case .wrongType(let key, let expected, let found, let file):
            "metadata key '\(key)' in GGUF file \(file) holds \(found), expected \(expected)"
        case .missingTensor(let name, let file):
            "GGUF file \(file) has no tensor named '\(name)'"
        case .invalidWriterInput(let file, let reason):
            "cannot write GGUF file \(file): \(reason)"
        case .writeFailed(let file, let reason):
            "writing GGUF file \(file) failed: \(reason)"
        }
    }
}
