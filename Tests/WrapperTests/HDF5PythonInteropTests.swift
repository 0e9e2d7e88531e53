import Foundation
import KVCHDF5
import Testing

/// Interoperability with h5py, checked by hand with `scripts/check_h5.py` (see its header):
/// these tests run only when the environment names the files to exchange.
@Suite struct HDF5PythonInteropTests {
    static let sampleForPython = ProcessInfo.processInfo.environment["KVC_H5_SAMPLE_FOR_PYTHON"]
    static let sampleFromPython = ProcessInfo.processInfo.environment["KVC_H5_SAMPLE_FROM_PYTHON"]

    /// The file `scripts/check_h5.py check` expects; keep the two in step.
    @Test("writes the sample file h5py checks", .enabled(if: sampleForPython != nil))
    func writeSampleForPython() throws {
        let file = try HDF5File.create(path: try #require(Self.sampleForPython))
        try file.setAttribute("model", "SmolLM2-135M")
        try file.setAttribute("steps", 12)
        try file.setAttribute("rate", 0.25)
        try file.setAttribute("scale", Float(0.5))
        try file.setAttribute("layers", [0, 4, 8])
        try file.setAttribute("budgets", [0.1, 0.2])
        let run = try file.createGroup("runs/0")
        try run.setAttribute("policy", "kv-compress")
        let keys = try run.createDataset("keys", values: (0..<24).map { Float($0) * 0.5 }, shape: [2, 3, 4])
        try keys.setAttribute("units", "activations")
        try run.createDataset("mask", values: [UInt8(0), 1, 255, 3, 4], shape: [5])
        try run.createDataset("positions", values: [Int32(-1), 0, 1, 2, 3, Int32.max], shape: [2, 3])
        try run.createDataset("bytes", values: [Int8(-128), -1, 0, 127], shape: [4])
        try run.createDataset("tokens", values: [Int64.min, 0, Int64.max], shape: [3])
        try run.createDataset("matrix", values: [1.0, -2.5, 1e300, 0], shape: [2, 2])
        try run.createDataset("empty", values: [Float](), shape: [0])
        try run.createDataset("scalar", values: [3.25], shape: [])
        try run.createDataset(
            "compressed", values: (0..<2048).map { Float($0 % 7) }, shape: [64, 32], chunks: [16, 32], deflateLevel: 4)
        try file.createDataset("labels", strings: ["keep", "evict", "Grüße"])
        try file.commit()
    }

    /// Reads what `scripts/check_h5.py write` produced with h5py.
    @Test("reads the sample file h5py wrote", .enabled(if: sampleFromPython != nil))
    func readSampleFromPython() throws {
        let file = try HDF5File.open(path: try #require(Self.sampleFromPython))
        #expect(try file.attribute("name", as: String.self) == "from h5py")
        #expect(try file.attribute("count", as: Int.self) == 7)
        #expect(try file.attribute("ratio", as: Double.self) == 0.75)
        #expect(try file.attribute("sizes", as: [Int].self) == [1, 2, 3])
        #expect(try file.attribute("weights", as: [Double].self) == [0.5, 1.5])
        let data = try file.read(Float.self, dataset: "group/data")
        #expect(data.shape == [2, 3])
        #expect(data.values == [0, 1, 2, 3, 4, 5])
        #expect(try file.read(Int64.self, dataset: "group/gzip").values == Array(0..<100))
        #expect(try file.readStrings(dataset: "vlen_strings") == ["alpha", "βeta"])
        #expect(try file.readStrings(dataset: "fixed_strings") == ["ab", "c"])
        #expect(try file.groupNames() == ["group"])
        #expect(try file.datasetNames() == ["fixed_strings", "vlen_strings"])
    }
}
