@testable import BPETokenizer
import Testing

/// Word splits of each pre-tokenizer, derived from llama.cpp's regexes (src/llama-vocab.cpp) and
/// its scanners (src/unicode.cpp). The fixture tests check the same against llama.cpp itself.
struct PreTokenizerTests {
    private func words(_ name: String, _ text: String) throws -> [String] {
        let preTokenizer = try PreTokenizer(named: name)
        let scalars = text.unicodeScalars.map(\.value)
        let classes = scalars.map(CharacterClass.init)
        var start = 0
        return preTokenizer.wordEnds(scalars: scalars, classes: classes).map { end in
            defer { start = end }
            return String(String.UnicodeScalarView(scalars[start..<end].map { Unicode.Scalar($0)! }))
        }
    }

    @Test func smolLMIsolatesEveryDigit() throws {
        #expect(try words("smollm", "Hello world 123") == ["Hello", " world", " ", "1", "2", "3"])
        #expect(try words("smollm", "x1.5") == ["x", "1", ".", "5"])
    }

    @Test func gpt2KeepsNumbersWhole() throws {
        #expect(try words("gpt-2", "Hello world 123") == ["Hello", " world", " 123"])
        #expect(try words("gpt2", "a+b=c!") == ["a", "+", "b", "=", "c", "!"])
    }

    @Test func whitespaceRunsLeaveTheirLastSpaceToTheNextWord() throws {
        #expect(try words("gpt-2", "a   b") == ["a", "  ", " b"])
        #expect(try words("gpt-2", "a  ") == ["a", "  "])  // at the end of the text the run stays whole
        #expect(try words("gpt-2", "a\n\nb") == ["a", "\n", "\n", "b"])
        #expect(try words("gpt-2", " \u{00A0}x") == [" ", "\u{00A0}", "x"])  // no-break space is \s, not " "
    }

    @Test func contractionsAreCaseSensitiveExceptInLlama3() throws {
        #expect(try words("gpt-2", "don't") == ["don", "'t"])
        #expect(try words("gpt-2", "DON'T") == ["DON", "'", "T"])
        #expect(try words("llama-bpe", "DON'T") == ["DON", "'T"])
        #expect(try words("gpt-2", "we'll they're") == ["we", "'ll", " they", "'re"])
    }

    @Test func llama3GroupsDigitsByThreeAndKeepsLineBreaksTogether() throws {
        #expect(try words("llama-bpe", "1234567") == ["123", "456", "7"])
        #expect(try words("llama-bpe", "hello\n\n  world") == ["hello", "\n\n", " ", " world"])
        #expect(try words("llama-bpe", "!!!\n\nx") == ["!!!\n\n", "x"])
        #expect(try words("llama-bpe", "(x)") == ["(x", ")"])  // one non-letter may lead a word
    }

    @Test func defaultSplitsPunctuationThenNumbersThenDigitTriples() throws {
        #expect(try words("default", "a,b 12345") == ["a", ",", "b", " ", "123", "45"])
    }

    @Test func lettersAndNumbersFollowUnicodeCategories() throws {
        #expect(try words("gpt-2", "naïve Ελληνικά 日本語") == ["naïve", " Ελληνικά", " 日本語"])
        #expect(try words("gpt-2", "e\u{301}x") == ["e", "\u{301}", "x"])  // a combining mark is no letter
        #expect(try words("smollm", "٣½") == ["٣", "½"])  // non-ASCII numbers are \p{N}
    }

    @Test func unknownPreTokenizerIsNamedInTheError() {
        #expect(throws: BPETokenizerError.unknownPreTokenizer("qwen9")) { try PreTokenizer(named: "qwen9") }
        #expect(BPETokenizerError.unknownPreTokenizer("qwen9").description.contains("'qwen9'"))
    }
}
