public enum KVCompressPlaceholder {}
