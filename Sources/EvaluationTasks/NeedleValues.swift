import SeededRandom

/// Keys and values of the needles, drawn from a seeded generator, all distinct within a document.
/// Keys are adjective-noun pairs and values 7-digit numbers, single words or UUIDs, as in RULER
/// (scripts/data/synthetic/niah.py: `wonderwords` keys, `random.randint(10**6, 10**7)` numbers, uuid4).
/// The word lists are our own short lists, so a document never depends on a package's dictionary.
struct NeedleValues {
    enum Kind: String, CaseIterable {
        case number, word, uuid

        /// The plural the prompts use ("special magic numbers").
        var plural: String { self == .uuid ? "uuids" : rawValue + "s" }
        /// Generated tokens one value needs, with room for a separator (digits are one token each in
        /// SmolLM2's vocabulary; a UUID is 36 characters).
        var tokensPerValue: Int {
            switch self {
            case .number: 10
            case .word: 6
            case .uuid: 30
            }
        }
    }

    static let adjectives = [
        "amber", "ancient", "bitter", "bold", "brave", "brisk", "calm", "clever", "crimson", "curious", "damp", "dusty",
        "eager", "early", "fancy", "fierce", "fragile", "gentle", "giant", "gloomy", "golden", "hollow", "humble", "icy",
        "jolly", "keen", "lazy", "little", "lively", "lonely", "lucky", "mellow", "misty", "modern", "muddy", "narrow",
        "nervous", "noisy", "olive", "pale", "plain", "polite", "proud", "quiet", "rapid", "rare", "rusty", "sandy",
        "scarlet", "shy", "silent", "silver", "sleepy", "smooth", "snowy", "solid", "spicy", "steep", "sturdy", "sunny",
        "swift", "tall", "tender", "thirsty", "tidy", "tiny", "velvet", "vivid", "wandering", "warm", "wild", "windy",
        "wise", "wooden", "young", "zesty",
    ]
    static let nouns = [
        "anchor", "apple", "badger", "banner", "basket", "beacon", "bridge", "button", "cabin", "canyon", "castle",
        "cedar", "comet", "cottage", "crane", "crystal", "dagger", "desert", "dragon", "falcon", "feather", "forest",
        "fountain", "garden", "glacier", "harbor", "helmet", "island", "jacket", "kettle", "lagoon", "lantern", "ledger",
        "meadow", "mirror", "monkey", "needle", "orchard", "otter", "paddle", "parrot", "pebble", "pillow", "planet",
        "pocket", "puzzle", "quarry", "rabbit", "ribbon", "river", "saddle", "scroll", "shovel", "spider", "statue",
        "summit", "tablet", "teapot", "thimble", "tiger", "trumpet", "tunnel", "valley", "violin", "walnut", "whistle",
        "window", "wizard", "zebra",
    ]
    /// Single-word values: concrete nouns that do not occur in the prose haystack.
    static let valueWords = [
        "accordion", "albatross", "artichoke", "avalanche", "bagpipe", "balalaika", "barracuda", "blizzard", "bonfire",
        "buffalo", "cactus", "camel", "cannonball", "caramel", "cathedral", "chameleon", "chandelier", "cinnamon",
        "coconut", "cyclone", "dolphin", "dumpling", "eclipse", "emerald", "falafel", "flamingo", "gazelle", "giraffe",
        "gondola", "grapefruit", "hammock", "hedgehog", "hurricane", "iceberg", "jaguar", "kangaroo", "koala", "lemonade",
        "lighthouse", "lobster", "mammoth", "mandolin", "marmalade", "meteor", "mongoose", "narwhal", "nutmeg",
        "octopus", "origami", "ostrich", "pancake", "panther", "pelican", "penguin", "pineapple", "porcupine", "pretzel",
        "pyramid", "raccoon", "rhinoceros", "saxophone", "scorpion", "snowflake", "sombrero", "squirrel", "strawberry",
        "submarine", "tambourine", "toboggan", "tornado", "tortoise", "trombone", "tsunami", "tulip", "umbrella",
        "vulture", "waffle", "walrus", "xylophone", "yak",
    ]

    private var rng: SplitMix64
    private var usedKeys: Set<String> = []
    private var usedValues: Set<String> = []

    init(rng: SplitMix64) { self.rng = rng }

    private mutating func pick(_ list: [String]) -> String { list[Int(rng.next() % UInt64(list.count))] }

    /// A key not used before in this document ("tall-river").
    mutating func key() -> String {
        while true {
            let k = pick(Self.adjectives) + "-" + pick(Self.nouns)
            if usedKeys.insert(k).inserted { return k }
        }
    }

    /// A value of `kind` not used before in this document.
    mutating func value(_ kind: Kind) -> String {
        while true {
            let v: String
            switch kind {
            case .number: v = String(1_000_000 + Int(rng.next() % 9_000_000))
            case .word: v = pick(Self.valueWords)
            case .uuid: v = uuid()
            }
            if usedValues.insert(v).inserted { return v }
        }
    }

    /// A random (version 4, variant 10) UUID in lower-case hex.
    private mutating func uuid() -> String {
        let high = rng.next(), low = rng.next()
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: high >> (8 * $0)) } + (0..<8).map { UInt8(truncatingIfNeeded: low >> (8 * $0)) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let c = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(c[$0]) }.joined(separator: "-")
    }

    /// A fraction in [0, 1).
    mutating func depth() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }

    /// The generator's state, for a caller that draws more after the values.
    var generator: SplitMix64 { rng }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
