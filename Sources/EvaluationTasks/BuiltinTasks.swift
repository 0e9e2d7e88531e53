import KVCompress

extension TaskRegistry {
    /// Registers the built-in tasks (each file of this module adds one).
    public func registerBuiltins() {
    }
}
