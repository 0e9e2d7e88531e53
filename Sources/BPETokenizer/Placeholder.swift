import GGUF
public enum BPETokenizerPlaceholder {}
