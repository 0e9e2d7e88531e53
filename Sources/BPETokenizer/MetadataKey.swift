extension BPETokenizer {
    /// Metadata keys of the tokenizer in a GGUF file (llama.cpp's `LLM_KV_TOKENIZER_*`).
    public enum MetadataKey {
        public static let model = "tokenizer.ggml.model"
        public static let preTokenizer = "tokenizer.ggml.pre"
        public static let tokens = "tokenizer.ggml.tokens"
        public static let merges = "tokenizer.ggml.merges"
        /// SentencePiece merge priorities (float per token).
        public static let scores = "tokenizer.ggml.scores"
        public static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
        public static let tokenTypes = "tokenizer.ggml.token_type"
        public static let bos = "tokenizer.ggml.bos_token_id"
        public static let eos = "tokenizer.ggml.eos_token_id"
        public static let endOfTurn = "tokenizer.ggml.eot_token_id"
        public static let unknown = "tokenizer.ggml.unknown_token_id"
        public static let padding = "tokenizer.ggml.padding_token_id"
        public static let addBOS = "tokenizer.ggml.add_bos_token"
        public static let addEOS = "tokenizer.ggml.add_eos_token"
        public static let chatTemplate = "tokenizer.chat_template"
    }
}
