import KVCompress

extension TaskRegistry {
    /// Registers the built-in tasks, each through the same `register(task:summary:factory:)` a user's
    /// task uses.
    public func registerBuiltins() {
        PasskeyTask.register(in: self)
        ProseNeedleTask.register(in: self)
        NeedleInAHaystackTask.register(in: self)
        VariableTrackingTask.register(in: self)
        CommonWordsTask.register(in: self)
        FrequentWordsTask.register(in: self)
    }
}
