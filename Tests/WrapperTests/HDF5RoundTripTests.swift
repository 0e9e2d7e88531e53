import Foundation
import KVCHDF5
import Testing

/// Datasets written through KVCHDF5 read back bit for bit, for every element type and shape.
@Suite struct HDF5RoundTripTests {
    static let shapes: [[Int]] = [[], [0], [1], [7], [2, 3], [3, 0, 2], [2, 3, 4], [1, 1, 5, 2]]

    /// Deterministic values of `count` elements covering negatives and the type's extremes.
    static func sampleValues<Element: HDF5Element & FixedWidthInteger>(_: Element.Type, count: Int) -> [Element] {
        (0..<count).map { index in
            switch index % 4 {
            case 0: Element.min
            case 1: Element.max
            default: Element(truncatingIfNeeded: index * 37 - 50)
            }
        }
    }

    static func sampleValues<Element: HDF5Element & BinaryFloatingPoint>(_: Element.Type, count: Int) -> [Element] {
        (0..<count).map { index in
            switch index % 5 {
            case 0: Element.greatestFiniteMagnitude
            case 1: -Element.leastNonzeroMagnitude
            case 2: Element.infinity
            default: Element(index) / 3 - 1
            }
        }
    }

    func roundTrip<Element: HDF5Element>(_ values: [Element], shape: [Int], chunks: [Int]? = nil, deflateLevel: Int? = nil) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("roundtrip.h5")
        let file = try HDF5File.create(path: path)
        let written = try file.createDataset("data", values: values, shape: shape, chunks: chunks, deflateLevel: deflateLevel)
        #expect(written.shape == shape)
        #expect(written.content == .numeric(Element.hdf5ElementType))
        try file.commit()

        let reopened = try HDF5File.open(path: path)
        let array = try reopened.read(Element.self, dataset: "data")
        #expect(array.shape == shape)
        #expect(array.values == values)
        #expect(try reopened.datasetNames() == ["data"])
    }

    @Test("every element type and shape round-trips", arguments: HDF5ElementType.allCases, shapes)
    func everyTypeAndShape(type: HDF5ElementType, shape: [Int]) throws {
        let count = shape.reduce(1, *)
        switch type {
        case .float32: try roundTrip(Self.sampleValues(Float.self, count: count), shape: shape)
        case .float64: try roundTrip(Self.sampleValues(Double.self, count: count), shape: shape)
        case .int8: try roundTrip(Self.sampleValues(Int8.self, count: count), shape: shape)
        case .uint8: try roundTrip(Self.sampleValues(UInt8.self, count: count), shape: shape)
        case .int32: try roundTrip(Self.sampleValues(Int32.self, count: count), shape: shape)
        case .int64: try roundTrip(Self.sampleValues(Int64.self, count: count), shape: shape)
        }
    }

    @Test("a range of rows reads back alone", arguments: [0..<0, 0..<1, 1..<3, 0..<4, 3..<4])
    func rows(_ rows: Range<Int>) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("rows.h5")
        let values = (0..<24).map { Int64($0) }
        for (name, chunks, level) in [("plain", nil, nil), ("packed", [3, 2, 1] as [Int]?, 5 as Int?)] {
            let file = try HDF5File.create(path: path)
            try file.createDataset("x", values: values, shape: [4, 3, 2], chunks: chunks, deflateLevel: level)
            try file.commit()
            let slice = try HDF5File.open(path: path).dataset("x").read(Int64.self, rows: rows)
            #expect(slice.shape == [rows.count, 3, 2], "\(name)")
            #expect(slice.values == Array(values[rows.lowerBound * 6..<rows.upperBound * 6]), "\(name)")
        }
    }

    @Test("row ranges outside the dataset are errors")
    func rowsOutOfRange() throws {
        let directory = try TemporaryDirectory()
        let file = try HDF5File.create(path: directory.file("rows.h5"))
        let dataset = try file.createDataset("x", values: [Float(1), 2], shape: [2])
        let error = #expect(throws: HDF5Error.self) { try dataset.read(Float.self, rows: 1..<3) }
        #expect(error?.description.contains("rows 1..<3 lie outside 0..<2") == true)
        #expect(throws: HDF5Error.self) { try dataset.read(Int32.self, rows: 0..<1) }
        let scalar = try file.createDataset("s", values: [Float(1)], shape: [])
        #expect(throws: HDF5Error.self) { try scalar.read(Float.self, rows: 0..<1) }
        file.discard()
    }

    @Test("NaN survives a round trip (compared bitwise)")
    func notANumber() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("nan.h5")
        let file = try HDF5File.create(path: path)
        try file.createDataset("x", values: [Float.nan, 1], shape: [2])
        try file.commit()
        let values = try HDF5File.open(path: path).read(Float.self, dataset: "x").values
        #expect(values[0].isNaN && values[1] == 1)
    }

    @Test("chunked and deflate-compressed datasets round-trip", arguments: [
        ([4, 6, 5], [2, 3, 5], 4 as Int?), ([4, 6, 5], [4, 6, 5], nil), ([4, 6, 5], nil, 9), ([10], [3], 1),
    ] as [([Int], [Int]?, Int?)])
    func chunkedAndCompressed(shape: [Int], chunks: [Int]?, deflateLevel: Int?) throws {
        let count = shape.reduce(1, *)
        try roundTrip(Self.sampleValues(Float.self, count: count), shape: shape, chunks: chunks, deflateLevel: deflateLevel)
        try roundTrip(Self.sampleValues(Int32.self, count: count), shape: shape, chunks: chunks, deflateLevel: deflateLevel)
    }

    @Test("deflate makes a compressible dataset smaller on disk")
    func compressionShrinksFile() throws {
        let directory = try TemporaryDirectory()
        let values = [Float](repeating: 0.25, count: 64 * 1024)
        var sizes: [Int] = []
        for level in [nil, 6] as [Int?] {
            let path = directory.file("level-\(level ?? -1).h5")
            let file = try HDF5File.create(path: path)
            try file.createDataset("x", values: values, shape: [256, 256], chunks: [64, 256], deflateLevel: level)
            try file.commit()
            sizes.append(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
        }
        #expect(sizes[1] * 10 < sizes[0], "compressed \(sizes[1]) bytes vs plain \(sizes[0]) bytes")
    }

    @Test("string datasets round-trip, including empty and non-ASCII strings", arguments: [
        ["keep", "evict", ""], ["Grüße", "注意力", "🙂 emoji"], [], ["single"],
    ])
    func strings(_ labels: [String]) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("strings.h5")
        let file = try HDF5File.create(path: path)
        let dataset = try file.createDataset("labels", strings: labels)
        #expect(dataset.content == .strings)
        #expect(dataset.shape == [labels.count])
        try file.commit()
        #expect(try HDF5File.open(path: path).readStrings(dataset: "labels") == labels)
    }

    @Test("an HDF5Array writes with its own shape")
    func arrayValue() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("array.h5")
        let array = try HDF5Array(shape: [2, 2], values: [UInt8(1), 2, 3, 4])
        let file = try HDF5File.create(path: path)
        try file.createDataset("a", array: array)
        try file.commit()
        #expect(try HDF5File.open(path: path).read(UInt8.self, dataset: "a") == array)
        #expect(throws: HDF5ShapeError.self) { try HDF5Array(shape: [3], values: [Int8(1)]) }
    }

    @Test("many tasks writing and reading files at once stay consistent (the global lock)")
    func concurrentUse() async throws {
        let directory = try TemporaryDirectory()
        let root = directory.path
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let path = root + "/task-\(task).h5"
                    let values = (0..<1000).map { Double($0 * task) }
                    let file = try HDF5File.create(path: path)
                    for index in 0..<5 {
                        try file.createDataset("runs/\(index)/x", values: values, shape: [10, 100], deflateLevel: 1)
                        try file.group("runs/\(index)").setAttribute("task", task)
                    }
                    try file.commit()
                    let reopened = try HDF5File.open(path: path)
                    for index in 0..<5 {
                        #expect(try reopened.read(Double.self, dataset: "runs/\(index)/x").values == values)
                        #expect(try reopened.group("runs/\(index)").attribute("task", as: Int.self) == task)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
