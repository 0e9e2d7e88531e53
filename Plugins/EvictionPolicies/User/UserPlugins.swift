import KVCompress

/// Registers the plug-ins in `Plugins/EvictionPolicies/User/`: `swift package scaffold-policy --name X`
/// writes `User/X.swift` (with `registerX(in:)`) and adds its call below; add your own by hand the same way.
/// ``PluginRegistry/withAllPlugins()`` (and so `kvc`, once it uses that registry) calls this.
public func registerUserPlugins(in registry: PluginRegistry) {
    // scaffold-policy: new registrations go above this line
}
