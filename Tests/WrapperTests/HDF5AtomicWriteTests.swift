import Foundation
import KVCHDF5
import Testing

/// The partial-file guarantee: a write appears at its path only when committed, and an
/// abandoned or failed write leaves neither a half-written file nor a damaged older file.
@Suite struct HDF5AtomicWriteTests {
    /// Writes a committed file holding `marker` at `path`.
    func writeFile(_ path: String, marker: Int32) throws {
        let file = try HDF5File.create(path: path)
        try file.createDataset("marker", values: [marker], shape: [1])
        try file.commit()
    }

    func marker(_ path: String) throws -> Int32 {
        try HDF5File.open(path: path).read(Int32.self, dataset: "marker").values[0]
    }

    @Test("until commit the data lives only in <path>.partial")
    func commitMovesIntoPlace() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("out.h5")
        let file = try HDF5File.create(path: path)
        try file.createDataset("marker", values: [Int32(1)], shape: [1])
        #expect(try directory.entries() == ["out.h5.partial"])
        try file.commit()
        #expect(try directory.entries() == ["out.h5"])
        #expect(try marker(path) == 1)
        try file.commit()  // a second commit is harmless
        #expect(!file.isOpen)
    }

    @Test("an abandoned write (released without commit) leaves no file")
    func abandonedWriteLeavesNothing() throws {
        let directory = try TemporaryDirectory()
        do {
            let file = try HDF5File.create(path: directory.file("out.h5"))
            try file.createGroup("runs/0").createDataset("x", values: [Float(1)], shape: [1])
        }
        #expect(try directory.entries() == [])
    }

    @Test("the partial file survives while a group still references it, then goes")
    func groupKeepsFileAlive() throws {
        let directory = try TemporaryDirectory()
        var group: HDF5Group? = try HDF5File.create(path: directory.file("out.h5")).createGroup("g")
        try group?.setAttribute("still", "usable")
        #expect(try directory.entries() == ["out.h5.partial"])
        group = nil
        #expect(try directory.entries() == [])
    }

    @Test("a failed or discarded rewrite keeps the existing file intact", arguments: ["release", "discard", "failure"])
    func existingFileSurvives(ending: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("results.h5")
        try writeFile(path, marker: 1)
        func rewrite() throws {
            let file = try HDF5File.create(path: path)
            try file.createDataset("marker", values: [Int32(2)], shape: [1])
            #expect(try marker(path) == 1)  // the old file is untouched while writing
            switch ending {
            case "discard": file.discard()
            case "failure": try file.createDataset("broken", values: [Float(1)], shape: [2])  // throws
            default: break
            }
        }
        if ending == "failure" {
            #expect(throws: HDF5Error.self) { try rewrite() }
        } else {
            try rewrite()
        }
        #expect(try directory.entries() == ["results.h5"])
        #expect(try marker(path) == 1)
    }

    @Test("a committed rewrite replaces the existing file")
    func commitReplaces() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("results.h5")
        try writeFile(path, marker: 1)
        try writeFile(path, marker: 2)
        #expect(try marker(path) == 2)
        #expect(try directory.entries() == ["results.h5"])
    }

    @Test("readWrite edits a copy: committed edits land, uncommitted ones vanish")
    func readWriteEditsCopy() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("results.h5")
        try writeFile(path, marker: 1)
        do {
            let file = try HDF5File.open(path: path, mode: .readWrite)
            try file.setAttribute("note", "lost")
        }
        #expect(try !HDF5File.open(path: path).hasAttribute("note"))
        let file = try HDF5File.open(path: path, mode: .readWrite)
        try file.setAttribute("note", "kept")
        try file.createDataset("extra", values: [Double(3)], shape: [1])
        try file.commit()
        let reopened = try HDF5File.open(path: path)
        #expect(try reopened.attribute("note", as: String.self) == "kept")
        #expect(try reopened.datasetNames() == ["extra", "marker"])
        #expect(try directory.entries() == ["results.h5"])
    }

    @Test("a second writer to the same path is refused without harming the first")
    func concurrentWritersToOnePath() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("out.h5")
        let first = try HDF5File.create(path: path)
        try first.createDataset("marker", values: [Int32(1)], shape: [1])
        let error = #expect(throws: HDF5Error.self) { try HDF5File.create(path: path) }
        #expect(error?.description.contains("another writer still has") == true, "\(String(describing: error))")
        try first.commit()
        #expect(try marker(path) == 1)
        #expect(try directory.entries() == ["out.h5"])
    }

    /// Paths whose directory cannot take a file, with the errno text the error must carry.
    static func unwritablePaths(in directory: TemporaryDirectory) throws -> [(path: String, reason: String)] {
        let regularFile = directory.file("plain")
        _ = FileManager.default.createFile(atPath: regularFile, contents: Data("x".utf8))
        try FileManager.default.createDirectory(atPath: directory.file("folder.h5"), withIntermediateDirectories: false)
        return [
            (directory.file("no/such/dir/out.h5"), "No such file or directory"),
            (regularFile + "/out.h5", "Not a directory"),
            (directory.file("folder.h5"), "a directory exists at that path"),
        ]
    }

    @Test("an unwritable path fails at create, naming the path and the reason")
    func unwritablePath() throws {
        let directory = try TemporaryDirectory()
        for (path, reason) in try Self.unwritablePaths(in: directory) {
            let error = #expect(throws: HDF5Error.self) { try HDF5File.create(path: path) }
            #expect(error?.kind == .unwritablePath)
            #expect(error?.description.contains("'\(path)'") == true, "\(String(describing: error))")
            #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
        }
        #expect(try directory.entries() == ["folder.h5", "plain"])
    }

    @Test("a directory without write permission is refused", .enabled(if: getuid() != 0, "root may write anywhere"))
    func readOnlyDirectory() throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o555)
        let error = #expect(throws: HDF5Error.self) { try HDF5File.create(path: directory.file("out.h5")) }
        #expect(error?.description.contains("Permission denied") == true)
    }
}
