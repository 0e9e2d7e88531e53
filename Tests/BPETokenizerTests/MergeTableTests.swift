@testable import BPETokenizer
import PropertyBased
import Testing

struct MergeTableTests {
    @Test func lowestRankMergesFirst() throws {
        var vocabulary = TinyVocabulary()
        let bc = vocabulary.merge("b", "c")
        vocabulary.merge("a", "b")
        let abc = vocabulary.merge("a", "bc")
        // "b c" (rank 0) wins over "a b" (rank 1), then "a bc" applies.
        #expect(try vocabulary.tokenizer().encode("abc") == [abc])
        #expect(try vocabulary.tokenizer().encode("bca") == [bc, TinyVocabulary.byte("a")])
    }

    @Test func equalRanksMergeLeftmostFirst() throws {
        var vocabulary = TinyVocabulary()
        let aa = vocabulary.merge("a", "a")
        #expect(try vocabulary.tokenizer().encode("aaa") == [aa, TinyVocabulary.byte("a")])
        #expect(try vocabulary.tokenizer().encode("aaaa") == [aa, aa])
    }

    @Test func unmergeableBytesStayByteTokens() throws {
        let tokenizer = try TinyVocabulary().tokenizer()
        #expect(tokenizer.encode("xyz") == [120, 121, 122])
        #expect(tokenizer.encode("é") == [0xC3, 0xA9])  // one token per UTF-8 byte
    }

    /// The priority queue (long words) and rescanning (short words) pick the same merges.
    @Test func queueAndScanningAgree() async throws {
        var vocabulary = TinyVocabulary()
        for (left, right) in [("a", "b"), ("b", "a"), ("a", "a"), ("ab", "a"), ("aa", "b"), ("ba", "ab"), ("c", "a"),
                              ("ab", "ab"), ("ca", "b"), ("aba", "ba")] {
            vocabulary.merge(left, right)
        }
        let tokenizer = try vocabulary.tokenizer()
        let words = Gen<Character?>.element(of: Array("abc")).map { String($0 ?? "a") }.array(of: 1...200)
            .map { $0.joined() }
        await propertyCheck(count: 300, input: words) { word in
            recordingErrors {
                var scanned: [Int32] = []
                var queued: [Int32] = []
                tokenizer.merges.encode(word: Array(word.utf8), into: &scanned, strategy: .scanning)
                tokenizer.merges.encode(word: Array(word.utf8), into: &queued, strategy: .queue)
                #expect(scanned == queued)
                #expect(tokenizer.decode(scanned) == word)
            }
        }
    }

    @Test func mergesOfStringsOutsideTheVocabularyStillChain() throws {
        // "x y" produces "xy", which is no token, but "xy z" produces the token "xyz".
        var vocabulary = TinyVocabulary()
        vocabulary.merges.append("x y")
        let xyz = vocabulary.merge("xy", "z")
        let tokenizer = try vocabulary.tokenizer()
        #expect(tokenizer.encode("xyz") == [xyz])
        // A final symbol that is no token falls back to its printable-ASCII byte tokens (llama.cpp).
        #expect(tokenizer.encode("xy") == [TinyVocabulary.byte("x"), TinyVocabulary.byte("y")])
    }
}
