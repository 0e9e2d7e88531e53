import PagedKVCache

/// Names of the kernels that exist once per KV storage type (those that load or store keys and
/// values): one template body in the `.cu` file, one `extern "C"` entry point per type, named
/// `<base>_f32` / `<base>_f16` after ``KVStorageType``'s raw value. A launcher picks the entry point
/// of its cache's `layout.kvType`, so pools are read and written as the elements they hold.
public enum KVKernelName {
    /// The entry point of `base` for pools of `type`, e.g. `kvc_decode_attention_f16`.
    public static func typed(_ base: String, _ type: KVStorageType) -> String { "\(base)_\(type.rawValue)" }

    /// Every type's entry point of `base`, in `KVStorageType.allCases` order.
    public static func allTyped(_ base: String) -> [String] { KVStorageType.allCases.map { typed(base, $0) } }
}
