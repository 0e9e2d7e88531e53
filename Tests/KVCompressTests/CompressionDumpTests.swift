import EvictionPolicies
import Foundation
import KVCHDF5
import KVCompress
import LlamaInference
import Testing

/// The HDF5 dump of `kvc compress --dump`: layout of notebooks-export/SCHEMA.md, consistent with the cache.
@Suite struct CompressionDumpTests {
    @Test func dumpRecordsScoresEvictionsAndTheCacheAfter() throws {
        let prompt = ModelCompressionTests.tokens(60, seed: 21)
        let model = ModelCompressionTests.model
        let cache = try model.makeCache(blockSize: 4, capacityBlocks: 200)
        let sequence = cache.addSequence()
        let compressor = try Compressor(configuration: configuration(budget: .rate(3), protectedWindow: 8, blockSize: 4), registry: builtins)
        let collector = MetricCollector(metric: compressor.plugins.metric, window: compressor.plugins.window)
        _ = try model.prefill(prompt, sequence: sequence, cache: cache, observer: collector)
        let (report, snapshot) = try compressor.compressWithSnapshot(sequence, cache: cache, trigger: .manual)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvc-dump-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("run.h5").path
        try CompressionDump.write(to: path, snapshot: snapshot, report: report, configuration: compressor.configuration, plugins: compressor.plugins)

        let file = try HDF5File.open(path: path)
        let l = ModelCompressionTests.llama.layers, h = ModelCompressionTests.llama.kvHeads
        let metrics = try file.read(Float.self, dataset: "metrics")
        let evicted = try file.read(UInt8.self, dataset: "evicted")
        let lengths = try file.read(Int32.self, dataset: "context_lens")
        let tables = try file.read(Int32.self, dataset: "block_tables")
        #expect(metrics.shape == [l, h, 60] && evicted.shape == [l, h, 60] && lengths.shape == [l, h])
        #expect(tables.shape.prefix(2) == [l, h])
        #expect(evicted.values.reduce(0) { $0 + Int($1) } == report.kvsEvicted)
        #expect(lengths.values.map(Int.init) == cache.contextLengths(sequence))
        for index in 0..<(l * h) {
            // Kept per head = positions not evicted = context length; the last 8 positions are +inf and kept.
            let row = evicted.values[(index * 60)..<((index + 1) * 60)]
            #expect(row.filter { $0 == 0 }.count == Int(lengths.values[index]))
            for p in 52..<60 {
                #expect(metrics.values[index * 60 + p] == .infinity && evicted.values[index * 60 + p] == 0)
            }
            let width = tables.shape[2]
            let table = Array(tables.values[(index * width)..<((index + 1) * width)])
            let layer = index / h, head = index % h
            #expect(table.filter { $0 >= 0 } == cache.blockTable(sequence, layer: layer, head: head))
            #expect(table.drop(while: { $0 >= 0 }).allSatisfy { $0 == -1 })
            // Everything evicted scored no higher than anything kept.
            let scores = (0..<60).map { metrics.values[index * 60 + $0] }
            let maxEvicted = (0..<60).filter { row[index * 60 + $0] == 1 }.map { scores[$0] }.max() ?? -Float.infinity
            let minKept = (0..<60).filter { row[index * 60 + $0] == 0 }.map { scores[$0] }.min() ?? Float.infinity
            #expect(maxEvicted <= minKept)
        }
        #expect(try file.attribute("block_size", as: Int.self) == 4)
        #expect(try file.attribute("protected_window", as: Int.self) == 8)
        #expect(try file.attribute("rate", as: Double.self) == 3)
        #expect(try file.attribute("aggregate", as: String.self) == "sum")
        #expect(try file.attribute("norm", as: String.self) == "l2")
        #expect(try file.attribute("maxpool", as: Int.self) == 7)
        #expect(try file.attribute("window_queries", as: Int.self) == 8)
        #expect(try file.attribute("blocks_freed", as: Int.self) == report.blocksFreed)
        #expect(try CompressionConfiguration.fromJSON(file.attribute("configuration_json", as: String.self)) == compressor.configuration)
    }

    @Test func anUnwritablePathFailsBeforeWritingAnything() throws {
        let compressor = try Compressor(configuration: configuration(budget: .rate(3), protectedWindow: 0, blockSize: 1), registry: builtins)
        let (cache, sequence) = try ScheduleExampleTests.cache([[[1, 2, 3]]], blockSize: 1)
        let (report, snapshot) = try compressor.compressWithSnapshot(sequence, cache: cache, trigger: .manual)
        #expect(throws: HDF5Error.self) {
            try CompressionDump.write(
                to: "/nonexistent-dir/run.h5", snapshot: snapshot, report: report, configuration: compressor.configuration, plugins: compressor.plugins)
        }
    }
}
