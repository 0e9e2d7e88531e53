import CKernels
import GGUF

/// Building ``QuantizedMatrix`` from ggml tensors: the block types of the form d·u + m are copied
/// exactly (layouts from ggml-quants.c `dequantize_row_*`), everything else is requantized.
extension QuantizedMatrix {
    /// The d·u + m form of a ggml block type, when it has one.
    static func format(of type: GGMLType) -> Format? {
        switch type {
        case .q4_0: Format(bits: 4, zeroPoint: 8)
        case .q4_1: .q4Min
        case .q5_0: Format(bits: 8, zeroPoint: 16)
        case .q5_1: .q8Min
        case .q8_0: Format(bits: 8, zeroPoint: 128)
        default: nil
        }
    }

    /// Copies the blocks of a tensor of `rows` × `columns` weights stored as `type` (row-major,
    /// `columns / 32` blocks a row). nil when `type` has no exact d·u + m form.
    convenience init?(raw: UnsafeRawBufferPointer, type: GGMLType, rows: Int, columns: Int) throws(LlamaError) {
        guard let format = Self.format(of: type) else { return nil }
        guard columns % Self.blockLength == 0, raw.count >= rows * columns / 32 * type.bytesPerBlock else {
            throw .unreadableModel("a \(type) tensor of \(rows)×\(columns) weights needs \(rows * columns / 32 * type.bytesPerBlock) bytes, has \(raw.count)")
        }
        let rounding = type == .q4_1 || type == .q5_1 ? KVC_ROUNDING_Q8_1 : KVC_ROUNDING_Q8_0
        try self.init(rows: rows, columns: columns, format: format, activationRounding: rounding)
        let stride = type.bytesPerBlock, base = raw.baseAddress!
        var value = Block()
        for r in 0..<rows {
            for k in 0..<blocksPerRow {
                Self.decode(base + (r * blocksPerRow + k) * stride, type: type, into: &value)
                set(row: r, block: k, value)
            }
        }
    }

    /// Reads one ggml block (32 weights) as quants, scale and minimum.
    private static func decode(_ block: UnsafeRawPointer, type: GGMLType, into value: inout Block) {
        let scale = block.loadUnaligned(as: UInt16.self)
        value.scale = scale
        value.minimum = 0
        switch type {
        case .q4_0, .q4_1:
            // Q4_0: d, 16 bytes; Q4_1: d, m, 16 bytes. Weight j in the low nibble of byte j, weight
            // j + 16 in its high nibble.
            let offset = type == .q4_0 ? 2 : 4
            if type == .q4_1 { value.minimum = block.loadUnaligned(fromByteOffset: 2, as: UInt16.self) }
            for j in 0..<16 {
                let byte = block.load(fromByteOffset: offset + j, as: UInt8.self)
                value.quants[j] = byte & 0x0F
                value.quants[j + 16] = byte >> 4
            }
        case .q5_0, .q5_1:
            // Q5_0: d, qh (32 high bits), 16 bytes; Q5_1: d, m, qh, 16 bytes.
            let offset = type == .q5_0 ? 2 : 4
            if type == .q5_1 { value.minimum = block.loadUnaligned(fromByteOffset: 2, as: UInt16.self) }
            let high = block.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            for j in 0..<16 {
                let byte = block.load(fromByteOffset: offset + 4 + j, as: UInt8.self)
                value.quants[j] = byte & 0x0F | UInt8((high >> UInt32(j)) & 1) << 4
                value.quants[j + 16] = byte >> 4 | UInt8((high >> UInt32(j + 16)) & 1) << 4
            }
        case .q8_0:
            // d, 32 signed bytes: u = q + 128 with zero point 128.
            for j in 0..<32 { value.quants[j] = block.load(fromByteOffset: 2 + j, as: UInt8.self) ^ 0x80 }
        default:
            preconditionFailure("\(type) has no d·u + m form")
        }
    }

    /// Requantizes float32 weights `[rows, columns]` to 8 bits per 32-block with a minimum:
    /// d = (max − min)/255 and m = min as half floats, u = round((w − m)/d) clamped to 0...255.
    convenience init(requantizing values: UnsafePointer<Float>, rows: Int, columns: Int) throws(LlamaError) {
        try self.init(rows: rows, columns: columns, format: .q8Min)
        var value = Block()
        for r in 0..<rows {
            for k in 0..<blocksPerRow {
                let w = values + r * columns + k * Self.blockLength
                var low = w[0], high = w[0]
                for j in 1..<Self.blockLength {
                    low = min(low, w[j])
                    high = max(high, w[j])
                }
                let minimum = Float16(low), scale = Float16((high - Float(minimum)) / 255)
                value.minimum = minimum.bitPattern
                value.scale = scale.bitPattern
                let inverse = scale == 0 ? 0 : 1 / Float(scale)
                for j in 0..<Self.blockLength {
                    let u = ((w[j] - Float(minimum)) * inverse).rounded()
                    value.quants[j] = UInt8(max(0, min(255, u)))
                }
                set(row: r, block: k, value)
            }
        }
    }

    /// Stacks matrices of one width vertically (the fused QKV and gate-up projections). Parts of
    /// different formats are stacked in the widest one, 8 bits with a minimum, which holds every
    /// block exactly (a stored zero point becomes the minimum −zero_point·d, exact in half floats).
    convenience init(stacking parts: [QuantizedMatrix]) throws(LlamaError) {
        let columns = parts[0].columns
        precondition(parts.allSatisfy { $0.columns == columns }, "stacked matrices must have equal widths")
        let formats = Set(parts.map(\.format))
        let format = formats.count == 1 ? parts[0].format : .q8Min
        // Parts whose source blocks had no minimum keep llama.cpp's Q8_0 rounding: the stored
        // minimum −zero_point·d with s = d·Σq is exactly their Σ (u − zero_point)·q.
        let roundings = Set(parts.map(\.activationRounding.rawValue))
        try self.init(
            rows: parts.reduce(0) { $0 + $1.rows }, columns: columns, format: format,
            activationRounding: roundings.count == 1 ? parts[0].activationRounding : KVC_ROUNDING_Q8_1)
        var row = 0
        for part in parts {
            for r in 0..<part.rows {
                for k in 0..<blocksPerRow {
                    var value = part.block(row: r, block: k)
                    if let zeroPoint = part.format.zeroPoint, format.zeroPoint == nil {
                        value.minimum = Float16(-zeroPoint * Float(Float16(bitPattern: value.scale))).bitPattern
                    }
                    set(row: row + r, block: k, value)
                }
            }
            row += part.rows
        }
    }
}
