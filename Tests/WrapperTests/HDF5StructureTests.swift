import Foundation
import KVCHDF5
import Testing

/// Groups, attributes, listing and the errors a user can provoke.
@Suite struct HDF5StructureTests {
    static let attributeValues: [HDF5AttributeValue] = [
        .int(42), .int(Int.min), .double(-0.125), .double(.infinity), .float(1.5), .string("SmolLM2-135M"),
        .string(""), .string("Grüße 注意力"), .ints([1, -2, 3]), .ints([]), .doubles([0.5, 1e-300, -7]), .doubles([]),
    ]

    /// A file, a group and a dataset, the three kinds of attribute holders.
    func holders(in file: HDF5File) throws -> [any HDF5AttributeHolder] {
        let group = try file.createGroup("runs/0")
        let dataset = try group.createDataset("keys", values: [Float(1), 2], shape: [2])
        return [file, group, dataset]
    }

    @Test("every attribute kind round-trips on files, groups and datasets", arguments: attributeValues)
    func attributeRoundTrip(_ value: HDF5AttributeValue) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("attributes.h5")
        let file = try HDF5File.create(path: path)
        for holder in try holders(in: file) {
            try holder.setAttribute("value", value)
            #expect(try holder.attributeValue("value") == value)
        }
        try file.commit()
        let reopened = try HDF5File.open(path: path)
        #expect(try reopened.attributeValue("value") == value)
        #expect(try reopened.group("runs/0").attributeValue("value") == value)
        #expect(try reopened.dataset("runs/0/keys").attributeValue("value") == value)
    }

    @Test("typed attribute access, listing, replacement and mismatches")
    func typedAttributes() throws {
        let directory = try TemporaryDirectory()
        let file = try HDF5File.create(path: directory.file("typed.h5"))
        try file.setAttribute("steps", 12)
        try file.setAttribute("rate", 0.25)
        try file.setAttribute("scale", Float(0.5))
        try file.setAttribute("model", "SmolLM2")
        try file.setAttribute("layers", [0, 4, 8])
        try file.setAttribute("budgets", [0.1, 0.2])
        #expect(try file.attribute("steps", as: Int.self) == 12)
        #expect(try file.attribute("rate", as: Double.self) == 0.25)
        #expect(try file.attribute("scale", as: Float.self) == 0.5)
        #expect(try file.attribute("scale", as: Double.self) == 0.5)  // float32 widens losslessly
        #expect(try file.attribute("model", as: String.self) == "SmolLM2")
        #expect(try file.attribute("layers", as: [Int].self) == [0, 4, 8])
        #expect(try file.attribute("budgets", as: [Double].self) == [0.1, 0.2])
        #expect(try file.attributeNames() == ["budgets", "layers", "model", "rate", "scale", "steps"])
        #expect(try file.hasAttribute("steps"))
        #expect(try !file.hasAttribute("missing"))

        try file.setAttribute("steps", "twelve")  // replacing changes the type too
        #expect(try file.attribute("steps", as: String.self) == "twelve")

        let mismatch = #expect(throws: HDF5Error.self) { try file.attribute("rate", as: Int.self) }
        #expect(mismatch?.kind == .typeMismatch)
        #expect(mismatch?.description.contains("attribute 'rate' of /") == true)
        let missing = #expect(throws: HDF5Error.self) { try file.attribute("nope", as: Int.self) }
        #expect(missing?.kind == .notFound)
        #expect(missing?.description.contains("nope") == true)
        file.discard()
    }

    @Test("nested groups, listing and lookups")
    func groups() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("groups.h5")
        let file = try HDF5File.create(path: path)
        let run = try file.createGroup("runs/0")
        #expect(run.path == "/runs/0")
        try file.createGroup("runs/1")
        try run.createDataset("scores", values: [Double(1), 2, 3], shape: [3])
        try run.createDataset("labels", strings: ["a", "b", "c"])
        try file.createDataset("runs/1/deep/tensor", values: [Int8](repeating: 3, count: 8), shape: [2, 2, 2])
        #expect(try file.groupNames() == ["runs"])
        #expect(try file.datasetNames() == [])
        #expect(try file.group("runs").groupNames() == ["0", "1"])
        #expect(try run.datasetNames() == ["labels", "scores"])
        #expect(try file.contains("runs/1/deep/tensor"))
        #expect(try !file.contains("runs/2/deep"))
        try file.commit()

        let reopened = try HDF5File.open(path: path)
        #expect(try reopened.group("runs/1").groupNames() == ["deep"])
        #expect(try reopened.read(Int8.self, dataset: "runs/1/deep/tensor").shape == [2, 2, 2])
        #expect(try reopened.group("runs").read(Double.self, dataset: "0/scores").values == [1, 2, 3])
    }

    @Test("misuse gives errors that name the object and the problem")
    func misuse() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("misuse.h5")
        let file = try HDF5File.create(path: path)
        try file.createDataset("x", values: [Int32(1), 2, 3], shape: [3])

        func expectError(_ kind: HDF5Error.Kind, mentioning text: String, _ body: () throws -> Void) {
            let error = #expect(throws: HDF5Error.self, performing: body)
            #expect(error?.kind == kind, "\(String(describing: error))")
            #expect(error?.description.contains(text) == true, "\(String(describing: error))")
        }
        expectError(.shapeMismatch, mentioning: "shape [2, 2] needs 4 values, got 3") {
            try file.createDataset("y", values: [Float(1), 2, 3], shape: [2, 2])
        }
        #expect(try !file.contains("y"))  // rejected before HDF5 was touched
        expectError(.shapeMismatch, mentioning: "negative") { try file.createDataset("y", values: [Float](), shape: [-1, 0]) }
        expectError(.shapeMismatch, mentioning: "chunk shape [4]") { try file.createDataset("y", values: [Float(1), 2], shape: [2], chunks: [4]) }
        expectError(.invalidArgument, mentioning: "deflate level 12") { try file.createDataset("y", values: [Float(1)], shape: [1], deflateLevel: 12) }
        expectError(.alreadyExists, mentioning: "'/x'") { try file.createDataset("x", values: [Float(1)], shape: [1]) }
        expectError(.alreadyExists, mentioning: "'/x'") { try file.createGroup("x") }
        expectError(.typeMismatch, mentioning: "it holds int32, not float32") { _ = try file.read(Float.self, dataset: "x") }
        expectError(.typeMismatch, mentioning: "not strings") { _ = try file.readStrings(dataset: "x") }
        expectError(.typeMismatch, mentioning: "it is a dataset") { _ = try file.group("x") }
        expectError(.notFound, mentioning: "'/missing/data'") { _ = try file.dataset("missing/data") }
        expectError(.invalidArgument, mentioning: "not a valid relative name") { try file.createGroup("/absolute") }
        expectError(.invalidArgument, mentioning: "not a valid relative name") { try file.createGroup("a//b") }
        expectError(.invalidArgument, mentioning: "NUL") { try file.createDataset("s", strings: ["a\0b"]) }

        let dataset = try file.dataset("x")
        try file.commit()
        expectError(.fileClosed, mentioning: "already committed") { _ = try dataset.read(Int32.self) }
        expectError(.fileClosed, mentioning: "already committed") { try file.setAttribute("late", 1) }
        #expect(try HDF5File.open(path: path).read(Int32.self, dataset: "x").values == [1, 2, 3])
    }

    @Test("a file opened read-only refuses writes")
    func readOnly() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("ro.h5")
        let file = try HDF5File.create(path: path)
        try file.createDataset("x", values: [UInt8(7)], shape: [1])
        try file.commit()
        let reader = try HDF5File.open(path: path)
        let error = #expect(throws: HDF5Error.self) { try reader.setAttribute("a", 1) }
        #expect(error?.kind == .readOnly)
        #expect(error?.description.contains(path) == true)
        #expect(throws: HDF5Error.self) { try reader.createGroup("g") }
        try reader.close()
        #expect(try directory.entries() == ["ro.h5"])
    }

    @Test("opening a missing file or a non-HDF5 file fails clearly")
    func unreadable() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.file("missing.h5")
        let missingError = #expect(throws: HDF5Error.self) { try HDF5File.open(path: missing) }
        #expect(missingError?.kind == .unreadableFile)
        #expect(missingError?.description == "HDF5: cannot open HDF5 file '\(missing)': No such file or directory")

        let text = directory.file("notes.h5")
        try "not hdf5".write(toFile: text, atomically: true, encoding: .utf8)
        let textError = #expect(throws: HDF5Error.self) { try HDF5File.open(path: text, mode: .readWrite) }
        #expect(textError?.kind == .unreadableFile)
        #expect(textError?.description.contains("not an HDF5 file") == true)
        #expect(try directory.entries() == ["notes.h5"])
    }

    @Test("the same file opened twice: closing one leaves the other usable")
    func openedTwice() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("twice.h5")
        let writer = try HDF5File.create(path: path)
        try writer.createDataset("x", values: [Double(1), 2], shape: [2])
        try writer.commit()
        let first = try HDF5File.open(path: path)
        let second = try HDF5File.open(path: path)
        let dataset = try second.dataset("x")
        _ = try first.dataset("x")
        try first.close()
        #expect(try dataset.read(Double.self).values == [1, 2])
        #expect(try second.attributeNames() == [])
        let error = #expect(throws: HDF5Error.self) { try first.dataset("x") }
        #expect(error?.kind == .fileClosed)
    }
}
