import KVCompress
import LlamaInference
import PagedKVCache
import Serving
import Testing

/// The request scheduler on a tiny random model: admission by free blocks, preemption of the newest
/// with recompute, compression under memory pressure, no request lost, the pool never exceeded.
@Suite struct RequestSchedulerTests {
    typealias F = ServingFixture

    /// Runs `requests` through a scheduler on a pool of `blocks` blocks; checks the invariants every run
    /// must keep (all served requests complete, nothing left in the pool, peak within it).
    static func serve(
        _ requests: [ServingRequest], blocks: Int, options: SchedulerOptions = SchedulerOptions()
    ) throws -> (served: [ServedRequest], scheduler: RequestScheduler) {
        let cache = try F.cache(blocks: blocks)
        let scheduler = try RequestScheduler(model: F.model, cache: cache, registry: F.registry, options: options)
        let served = try scheduler.serve(requests)
        #expect(served.count == requests.count)
        #expect(served.filter { $0.rejection == nil }.allSatisfy { $0.completed })
        #expect(cache.usedBlockCount == 0 && cache.sequences.isEmpty)
        #expect(scheduler.statistics.peakUsedBlocks <= blocks)
        #expect(scheduler.statistics.completed == served.filter(\.completed).count)
        return (served, scheduler)
    }

    @Test func admissionWaitsForFreeBlocksAndEveryOutputMatchesAnUnscheduledRun() throws {
        let requests = F.requests(6, lengths: 20...40, maxTokens: 6)
        // Room for about two prompts at once: the others wait in the queue.
        let blocks = 2 * F.blocks(tokens: 46) + 4
        let (served, scheduler) = try Self.serve(requests, blocks: blocks)
        #expect(served.map(\.tokens) == (try F.unscheduled(requests)))
        #expect(scheduler.statistics.meanRunning > 1 && scheduler.statistics.meanRunning <= 2.5)
        #expect(scheduler.statistics.peakUsedBlocks > blocks / 2)
    }

    @Test(arguments: [SchedulerOptions(), SchedulerOptions(tokenBudget: 12)])
    func preemptedRequestsAreRecomputedToTheSameGreedyOutput(options: SchedulerOptions) throws {
        // Short prompts admitted together, long outputs: the pool runs out while decoding.
        let requests = F.requests(5, lengths: 8...16, maxTokens: 40, seed: 3)
        let blocks = F.blocks(tokens: 56) + F.blocks(tokens: 40)
        let (served, scheduler) = try Self.serve(requests, blocks: blocks, options: options)
        #expect(scheduler.statistics.preemptions > 0)
        #expect(served.contains { $0.preemptions > 0 })
        #expect(scheduler.statistics.recomputedTokens > 0)
        #expect(served.map(\.tokens) == (try F.unscheduled(requests)))
    }

    @Test func aPoolSizedForOneSequenceLosesNoRequest() throws {
        let requests = F.requests(5, lengths: 10...30, maxTokens: 12, seed: 5)
        let longest = requests.map { $0.prompt.count + $0.maxTokens }.max()!
        let (served, scheduler) = try Self.serve(requests, blocks: F.blocks(tokens: longest))
        #expect(served.allSatisfy { $0.completed && $0.tokens.count == 12 })
        #expect(served.map(\.tokens) == (try F.unscheduled(requests)))
        #expect(scheduler.statistics.rejected == 0)
    }

    /// Whatever the pool size (each request fitting alone), admissions never take the blocks the
    /// decoding sequences need for their next token: no run fails with the pool out of blocks.
    @Test(arguments: [0.0, 0.01])
    func admissionsLeaveTheDecodeBlocksFreeInEveryPoolSize(watermark: Double) throws {
        let requests = F.requests(8, lengths: 3...21, maxTokens: 11, seed: 23)
        let smallest = F.blocks(tokens: 32) + 1
        for blocks in smallest..<(smallest + 40) {
            let (served, _) = try Self.serve(requests, blocks: blocks, options: SchedulerOptions(watermark: watermark))
            #expect(served.allSatisfy { $0.tokens.count == 11 })
        }
    }

    @Test func compressionUnderMemoryPressureKeepsMoreSequencesRunningThanNone() throws {
        let prompt = 60...80, output = 24
        let blocks = 2 * F.blocks(tokens: 80 + output) + 8
        let plain = try Self.serve(F.requests(6, lengths: prompt, maxTokens: output, seed: 9), blocks: blocks)
        let compressed = try Self.serve(
            F.requests(6, lengths: prompt, maxTokens: output, seed: 9, compression: F.compression(rate: 4)), blocks: blocks)
        let s = compressed.scheduler.statistics
        #expect(s.compressions >= 6)
        #expect(compressed.scheduler.reports.contains { $0.trigger == .afterPrefill && $0.blocksFreed > 0 })
        #expect(s.meanRunning > plain.scheduler.statistics.meanRunning)
        #expect(compressed.served.allSatisfy { $0.tokens.count == output })
    }

    @Test func thePoolShortDuringDecodeIsRelievedByCompressionWithoutPreemption() throws {
        // Rate 2 after prefill leaves half the prompt; 60 more tokens each then fill the pool, which
        // the memory-pressure compressions free again (each at its own rate: here 2).
        let requests = F.requests(3, lengths: 60...64, maxTokens: 60, seed: 11, compression: F.compression(rate: 2))
        let blocks = F.blocks(tokens: 124) + 2 * F.blocks(tokens: 40)
        let (served, scheduler) = try Self.serve(requests, blocks: blocks)
        #expect(scheduler.statistics.memoryPressureCompressions > 0)
        #expect(scheduler.statistics.preemptions == 0)
        #expect(scheduler.reports.filter { $0.trigger == .memoryPressure }.contains { $0.blocksFreed > 0 })
        #expect(served.allSatisfy { $0.tokens.count == 60 })
    }

    /// Under memory pressure only sequences over their budget are compressed: each such compression
    /// evicts KVs, and a shortage no compression can relieve preempts instead; no request is lost.
    @Test func pressureCompressionsSkipSequencesWithinBudget() throws {
        let requests = F.requests(6, lengths: 60...64, maxTokens: 120, seed: 29, compression: F.compression(rate: 2))
        let blocks = F.blocks(tokens: 144) + 2 * F.blocks(tokens: 40)
        let run = try Self.serve(requests, blocks: blocks)
        let pressure = run.scheduler.reports.filter { $0.trigger == .memoryPressure }
        #expect(pressure.count > 10)
        #expect(pressure.allSatisfy { $0.kvsEvicted > 0 })
        #expect(run.scheduler.statistics.preemptions > 0)
        #expect(run.served.allSatisfy { $0.tokens.count == 120 })
    }

    /// The estimate the scheduler ranks by: the KVs over the budget in whole blocks, 0 right after a
    /// compression to that budget.
    @Test(arguments: [2.0, 4.0])
    func reclaimableBlocksAreTheKVsOverTheBudgetInWholeBlocks(rate: Double) throws {
        let cache = try F.cache(blocks: 400)
        let id = cache.addSequence()
        _ = try F.model.prefill(F.tokens(90, seed: 31), sequence: id, cache: cache)
        let compressor = try Compressor(configuration: F.compression(rate: rate), registry: F.registry)
        let limit = Int((Double((90 - 8) * F.heads) / rate).rounded(.up)) + 8 * F.heads
        #expect(compressor.reclaimableBlocks(id, cache: cache) == (90 * F.heads - limit) / F.blockSize)
        _ = try compressor.compress(id, cache: cache, trigger: .afterPrefill)
        #expect(compressor.reclaimableBlocks(id, cache: cache) == 0)
    }

    @Test func theStatisticsAccountForEveryTokenCompressionAndSecond() throws {
        let requests = F.requests(5, lengths: 30...60, maxTokens: 30, seed: 19, compression: F.compression(rate: 4))
        let blocks = F.blocks(tokens: 90) + F.blocks(tokens: 50)
        let (served, scheduler) = try Self.serve(requests, blocks: blocks)
        let s = scheduler.statistics
        #expect(s.submitted == 5 && s.completed == 5 && s.rejected == 0)
        #expect(s.outputTokens == served.reduce(0) { $0 + $1.tokens.count })
        #expect(s.prefilledTokens == requests.reduce(0) { $0 + $1.prompt.count } + s.recomputedTokens)
        #expect(s.preemptions == served.reduce(0) { $0 + $1.preemptions })
        #expect(s.compressions == scheduler.reports.count && s.compressions == served.reduce(0) { $0 + $1.compressions })
        #expect(s.memoryPressureCompressions == scheduler.reports.filter { $0.trigger == .memoryPressure }.count)
        let parts = s.metricSeconds + s.scheduleSeconds + s.moveSeconds + s.allocationSeconds
        #expect(s.overheadFraction > 0 && abs(s.overheadFraction - parts / s.totalSeconds) < 1e-9)
        #expect(s.prefillSeconds + s.decodeSeconds + s.samplingSeconds + s.moveSeconds + s.allocationSeconds <= s.totalSeconds)
        #expect(s.meanRunning > 1 && s.steps > 30)
    }

    @Test func eachRequestIsCompressedAtItsOwnRate() throws {
        var requests = F.requests(2, lengths: 100...100, maxTokens: 2, seed: 13)
        requests[0].compression = F.compression(rate: 2)
        requests[1].compression = F.compression(rate: 8, protectedWindow: 4)
        let (_, scheduler) = try Self.serve(requests, blocks: 4 * F.blocks(tokens: 102))
        let afterPrefill = scheduler.reports.filter { $0.trigger == .afterPrefill }
        #expect(afterPrefill.map(\.budget) == ["rate 2.0x", "rate 8.0x"])
        #expect(afterPrefill.allSatisfy { $0.budgetHeld })
        #expect(afterPrefill[0].blocksAfter > 2 * afterPrefill[1].blocksAfter)
    }

    /// Admission reserves a prompt's blocks before its chunks arrive: attention must read only the
    /// blocks holding KVs, not the reserved ones after them.
    @Test func chunksPrefilledIntoBlocksReservedAtAdmissionGiveTheLogitsOfOnePrefill() throws {
        let prompt = F.tokens(37, seed: 21)
        let whole = try F.cache(blocks: 100), chunked = try F.cache(blocks: 100)
        let a = whole.addSequence(), b = chunked.addSequence()
        let expected = try F.model.prefill(prompt, sequence: a, cache: whole)
        try chunked.reserve(b, tokens: prompt.count)
        var logits: [Float] = []
        for start in stride(from: 0, to: prompt.count, by: 10) {
            logits = try F.model.prefill(Array(prompt[start..<min(prompt.count, start + 10)]), sequence: b, cache: chunked)
        }
        #expect(zip(logits, expected).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        #expect(chunked.usedBlockCount == whole.usedBlockCount)
    }

    @Test func aRequestTooLargeForThePoolIsRejectedWithItsSizesAndTheOthersServed() throws {
        var requests = F.requests(3, lengths: 10...20, maxTokens: 4, seed: 17)
        requests.insert(ServingRequest(prompt: F.tokens(200, seed: 1), maxTokens: 50), at: 1)
        let blocks = F.blocks(tokens: 100)
        let (served, scheduler) = try Self.serve(requests, blocks: blocks)
        let rejection = try #require(served[1].rejection)
        #expect(rejection.contains("request 1 needs \(F.blocks(tokens: 250)) blocks"))
        #expect(rejection.contains("admission keeps 1 block(s) free"))
        #expect(rejection.contains("200 prompt + 50 output tokens"))
        #expect(rejection.contains("pool holds \(blocks) blocks"))
        #expect(!served[1].completed && served[1].tokens.isEmpty)
        #expect([0, 2, 3].allSatisfy { served[$0].completed && served[$0].tokens.count == 4 })
        #expect(scheduler.statistics.rejected == 1 && scheduler.statistics.completed == 3)
    }

    @Test func aPoolWithoutOneBlockPerHeadIsRefusedNamingTheSizes() throws {
        let cache = try F.cache(blocks: F.heads - 1)
        #expect {
            _ = try RequestScheduler(model: F.model, cache: cache, registry: F.registry)
        } throws: { error in
            guard let error = error as? ServingError, case .poolTooSmall(let capacity, _, let heads, _) = error else { return false }
            return capacity == F.heads - 1 && heads == F.heads && error.description.contains("\(F.heads) KV heads")
        }
    }

    @Test func compressedRequestsWithDifferentMetricsAreRefusedBeforeAnyWork() throws {
        var requests = F.requests(2, lengths: 10...10, maxTokens: 2, compression: F.compression(rate: 2))
        requests[1].compression!.metric = PluginSpec("kvcompress", options: ["norm": "l1"])
        let cache = try F.cache(blocks: 200)
        let scheduler = try RequestScheduler(model: F.model, cache: cache, registry: F.registry)
        #expect(throws: ServingError.self) { _ = try scheduler.serve(requests) }
        #expect(cache.usedBlockCount == 0)
    }

    /// Methods that read more than the cache (KVzip's reconstruction, the window's queries or
    /// attention, W_O) are refused before any work, naming the request, the method and what it reads;
    /// the cache-only presets are served.
    @Test(arguments: F.registry.registeredPresets.map(\.name))
    func aMethodThatReadsBeyondTheCacheIsRefusedNamingIt(method: String) throws {
        let preset = try #require(F.registry.preset(named: method))
        let configuration = preset.configuration(
            budget: .rate(2), blockSize: PluginSpec("fixed", options: ["size": .int(F.blockSize)]), protectedWindow: 8)
        let requests = F.requests(2, lengths: 20...20, maxTokens: 2, compression: configuration)
        let cache = try F.cache(blocks: 400)
        let scheduler = try RequestScheduler(model: F.model, cache: cache, registry: F.registry)
        if try Compressor(configuration: configuration, registry: F.registry).contextRequirement != nil {
            #expect {
                _ = try scheduler.serve(requests)
            } throws: { error in
                guard let error = error as? ServingError, case .unsupportedCompression(0, _, _) = error else { return false }
                return error.description.contains("request 0") && error.description.contains("reads")
            }
            #expect(cache.usedBlockCount == 0)
        } else {
            let served = try scheduler.serve(requests)
            #expect(served.count == 2 && served.allSatisfy(\.completed))
        }
    }
}
