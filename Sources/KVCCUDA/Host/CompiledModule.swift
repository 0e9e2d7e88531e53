/// A kernel file compiled by NVRTC for one architecture: the cubin the driver loads
/// (`cuModuleLoadData`) and NVRTC's log (empty when the source compiled without a warning).
public struct CompiledModule: Sendable {
    public let fileName: String
    public let architecture: GPUArchitecture
    /// An ELF64 image (machine EM_CUDA) holding the SASS of every kernel in the file.
    public let cubin: [UInt8]
    public let log: String

    public init(fileName: String, architecture: GPUArchitecture, cubin: [UInt8], log: String) {
        self.fileName = fileName
        self.architecture = architecture
        self.cubin = cubin
        self.log = log
    }

    /// Names of the global function symbols in the cubin's ELF symbol table: the `extern "C"`
    /// kernels a launcher can look up with `CUDAModule.function(_:)`.
    public func functionNames() throws(CUDAError) -> Set<String> {
        try CubinSymbols(image: cubin, fileName: fileName).globalFunctions()
    }
}

/// Reads the symbol table of an ELF64 little-endian cubin (the layout of the System V ABI's ELF
/// specification: the header gives the section headers; a SHT_SYMTAB section links to its string table).
struct CubinSymbols {
    let image: [UInt8]
    let fileName: String

    /// ELF machine number of NVIDIA CUDA images (elf.h: EM_CUDA = 190).
    static let machineCUDA = 190

    func globalFunctions() throws(CUDAError) -> Set<String> {
        guard image.count >= 64, image[0] == 0x7F, image[1] == 0x45, image[2] == 0x4C, image[3] == 0x46 else {
            throw invalid("no ELF magic")
        }
        guard image[4] == 2, image[5] == 1 else { throw invalid("not a 64-bit little-endian ELF image") }
        guard integer(at: 18, size: 2) == Self.machineCUDA else { throw invalid("ELF machine is not EM_CUDA (190)") }
        let sectionTable = integer(at: 40, size: 8), entrySize = integer(at: 58, size: 2), sectionCount = integer(at: 60, size: 2)
        guard entrySize >= 64, sectionTable + sectionCount * entrySize <= image.count else { throw invalid("section headers out of bounds") }

        var names = Set<String>()
        for index in 0..<sectionCount {
            let header = sectionTable + index * entrySize
            guard integer(at: header + 4, size: 4) == 2 else { continue }  // SHT_SYMTAB
            let offset = integer(at: header + 24, size: 8), size = integer(at: header + 32, size: 8)
            let link = integer(at: header + 40, size: 4), symbolSize = integer(at: header + 56, size: 8)
            guard symbolSize >= 24, offset + size <= image.count, link < sectionCount else { throw invalid("symbol table out of bounds") }
            let strings = sectionTable + link * entrySize
            let stringsOffset = integer(at: strings + 24, size: 8), stringsSize = integer(at: strings + 32, size: 8)
            guard stringsOffset + stringsSize <= image.count else { throw invalid("string table out of bounds") }
            for symbol in stride(from: offset, to: offset + size - symbolSize + 1, by: symbolSize) {
                let info = Int(image[symbol + 4])
                // STB_GLOBAL (1) binding, STT_FUNC (2) type.
                guard info >> 4 == 1, info & 0xF == 2 else { continue }
                let nameOffset = integer(at: symbol, size: 4)
                guard nameOffset < stringsSize else { throw invalid("symbol name out of bounds") }
                let start = stringsOffset + nameOffset
                let end = image[start..<(stringsOffset + stringsSize)].firstIndex(of: 0) ?? (stringsOffset + stringsSize)
                names.insert(String(decoding: image[start..<end], as: UTF8.self))
            }
        }
        return names
    }

    private func integer(at offset: Int, size: Int) -> Int {
        (0..<size).reduce(0) { $0 | Int(image[offset + $1]) << (8 * $1) }
    }

    private func invalid(_ why: String) -> CUDAError {
        .invalidArgument("the cubin of \(fileName) is not a valid CUDA ELF image: \(why)")
    }
}
