/// A cursor over the bytes of a GGUF file that checks every read against the end of the file.
///
/// All multi-byte values are little-endian (GGUF's byte order) and may be unaligned. Every read
/// that would pass the end throws `GGUFError.truncated`, naming what was being read, so a corrupt
/// length field can never make the reader touch memory outside the mapping.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset = 0
    /// What the parser is reading right now, for error messages (e.g. "value of key 'general.name'").
    var context = "header"

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    /// Throws unless `count` more bytes are available.
    func require(_ count: Int) throws(GGUFError) {
        guard count >= 0, count <= remaining else {
            throw .truncated(file: path, what: context, offset: offset, needed: count, fileSize: bytes.count)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws(GGUFError) -> T {
        try require(MemoryLayout<T>.size)
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func readFloat() throws(GGUFError) -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws(GGUFError) -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// Reads a 64-bit count and checks that `count` items of at least `minimumItemSize` bytes each
    /// can still fit in the file, so a corrupt count fails before anything is allocated.
    mutating func readCount(minimumItemSize: Int) throws(GGUFError) -> Int {
        let raw = try read(UInt64.self)
        guard raw <= UInt64(remaining / max(minimumItemSize, 1)) else {
            let needed = raw > UInt64(Int.max / max(minimumItemSize, 1)) ? Int.max : Int(raw) * minimumItemSize
            throw .truncated(file: path, what: context + " (count \(raw))", offset: offset, needed: needed,
                             fileSize: bytes.count)
        }
        return Int(raw)
    }

    /// Reads a GGUF string: a 64-bit byte length followed by UTF-8 bytes (no terminator).
    mutating func readString() throws(GGUFError) -> String {
        let lengthOffset = offset
        let length = try read(UInt64.self)
        guard length <= UInt64(remaining) else {
            throw .truncated(file: path, what: context + " (string of \(length) bytes)", offset: offset,
                             needed: length > UInt64(Int.max) ? Int.max : Int(length), fileSize: bytes.count)
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)])
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw .malformed(file: path, offset: lengthOffset, reason: "\(context) is not valid UTF-8")
        }
        offset += Int(length)
        return string
    }

    /// Moves the cursor forward to the next multiple of `alignment` (no bounds check: the caller
    /// checks the data it reads there).
    mutating func align(to alignment: Int) {
        offset = (offset + alignment - 1) / alignment * alignment
    }
}
