/// Where one tensor lies in a GGUF file and what it holds.
public struct GGUFTensorInfo: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    /// Dimensions in ggml order: `dimensions[0]` (ne0) varies fastest. A 2-D weight `[ne0, ne1]` is
    /// a row-major matrix of `ne1` rows × `ne0` columns.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Byte offset of the tensor's data from the start of the data section.
    public let offset: Int

    public init(name: String, dimensions: [Int], type: GGMLType, offset: Int) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.offset = offset
    }

    /// Number of elements (the product of the dimensions; 1 for a scalar with no dimensions).
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Number of bytes the data occupies: whole blocks along dimension 0, for every row.
    public var byteCount: Int { elementCount / type.blockSize * type.bytesPerBlock }

    /// Number of rows (`elementCount / dimensions[0]`); 1 for vectors.
    public var rowCount: Int { dimensions.dropFirst().reduce(1, *) }

    public var description: String {
        "\(name) \(type) [\(dimensions.map(String.init).joined(separator: ", "))] at +\(offset)"
    }
}
