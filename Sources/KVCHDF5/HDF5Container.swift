import CHDF5

/// Something that holds groups and datasets: an `HDF5File` (its root group) or an `HDF5Group`.
///
/// Names may be nested paths relative to this container, such as "runs/0/keys"; creating a
/// group or dataset creates the missing intermediate groups.
public protocol HDF5Container: HDF5AttributeHolder {}

extension HDF5Container {
    // MARK: - Groups

    /// Creates the group at `path` (and any missing groups above it). Fails if it already exists.
    @discardableResult
    public func createGroup(_ path: String) throws(HDF5Error) -> HDF5Group {
        let handle = objectHandle
        let object = handle.childPath(path)
        try validateName(path, operation: "create group", object: object)
        return try handle.access("create group", object: object, writing: true) { () throws(HDF5Error) -> HDF5Group in
            if linkExists(path) {
                throw handle.error(.alreadyExists, "create group", object: object, "an object with that name already exists")
            }
            let linkCreation = try intermediateGroupsLinkCreation(operation: "create group", object: object)
            let id = H5Gcreate2(handle.id, path, linkCreation.id, kvc_h5p_default(), kvc_h5p_default())
            guard id >= 0 else { throw handle.libraryError("create group", object: object) }
            return HDF5Group(HDF5ObjectHandle(id: id, kind: .group, file: handle.file, path: object))
        }
    }

    /// Opens the existing group at `path`.
    public func group(_ path: String) throws(HDF5Error) -> HDF5Group {
        HDF5Group(try openChild(path, expecting: H5I_GROUP, operation: "open group"))
    }

    // MARK: - Datasets

    /// Writes a new dataset of `values` in row-major order with the given `shape`.
    ///
    /// - Parameters:
    ///   - shape: dimensions, outermost first; `values.count` must equal their product. `[]` stores a scalar.
    ///   - chunks: chunk shape (same rank, each 1...dimension); required by compression, which
    ///     defaults it to the whole shape.
    ///   - deflateLevel: gzip level 0...9 (with byte shuffling) or nil for no compression.
    ///     Datasets with no elements, and scalars, are always stored contiguously.
    @discardableResult
    public func createDataset<Element: HDF5Element>(
        _ name: String, values: [Element], shape: [Int], chunks: [Int]? = nil, deflateLevel: Int? = nil
    ) throws(HDF5Error) -> HDF5Dataset {
        let handle = objectHandle
        let object = handle.childPath(name)
        let operation = "write dataset"
        try validateName(name, operation: operation, object: object)
        do throws(HDF5ShapeError) {
            try HDF5ShapeError.check(shape: shape, count: values.count)
        } catch {
            throw handle.error(.shapeMismatch, operation, object: object, error.description)
        }
        let layout = try storageLayout(shape: shape, chunks: chunks, deflateLevel: deflateLevel, object: object)
        let elementType = Element.hdf5ElementType
        return try handle.access(operation, object: object, writing: true) { () throws(HDF5Error) -> HDF5Dataset in
            let dataset = try createEmptyDataset(name, object: object, fileType: elementType.fileType, shape: shape, layout: layout)
            if !values.isEmpty {
                let status = values.withUnsafeBytes { H5Dwrite(dataset.id, elementType.memoryType, kvc_h5s_all(), kvc_h5s_all(), kvc_h5p_default(), $0.baseAddress) }
                if status < 0 {
                    let failure = handle.libraryError(operation, object: object)
                    _ = H5Ldelete(handle.id, name, kvc_h5p_default())
                    throw failure
                }
            }
            return try HDF5Dataset(dataset)
        }
    }

    /// Writes `array` as a new dataset (see `createDataset(_:values:shape:chunks:deflateLevel:)`).
    @discardableResult
    public func createDataset<Element: HDF5Element>(
        _ name: String, array: HDF5Array<Element>, chunks: [Int]? = nil, deflateLevel: Int? = nil
    ) throws(HDF5Error) -> HDF5Dataset {
        try createDataset(name, values: array.values, shape: array.shape, chunks: chunks, deflateLevel: deflateLevel)
    }

    /// Writes a 1-D dataset of variable-length UTF-8 strings (h5py reads it with `.asstr()[:]`).
    @discardableResult
    public func createDataset(_ name: String, strings: [String]) throws(HDF5Error) -> HDF5Dataset {
        let handle = objectHandle
        let object = handle.childPath(name)
        let operation = "write string dataset"
        try validateName(name, operation: operation, object: object)
        if let index = strings.firstIndex(where: { $0.utf8.contains(0) }) {
            throw handle.error(.invalidArgument, operation, object: object, "string \(index) contains a NUL character, which HDF5 strings cannot hold")
        }
        return try handle.access(operation, object: object, writing: true) { () throws(HDF5Error) -> HDF5Dataset in
            let stringType = try HDF5Strings.variableLengthType(handle: handle, operation: operation, object: object)
            let dataset = try createEmptyDataset(name, object: object, fileType: stringType.id, shape: [strings.count], layout: .contiguous)
            if !strings.isEmpty {
                let status = HDF5Strings.withCStringPointers(strings) { pointers in
                    H5Dwrite(dataset.id, stringType.id, kvc_h5s_all(), kvc_h5s_all(), kvc_h5p_default(), pointers)
                }
                if status < 0 {
                    let failure = handle.libraryError(operation, object: object)
                    _ = H5Ldelete(handle.id, name, kvc_h5p_default())
                    throw failure
                }
            }
            return try HDF5Dataset(dataset)
        }
    }

    /// Opens the existing dataset at `path`.
    public func dataset(_ path: String) throws(HDF5Error) -> HDF5Dataset {
        let handle = try openChild(path, expecting: H5I_DATASET, operation: "open dataset")
        return try handle.access("open dataset") { () throws(HDF5Error) in try HDF5Dataset(handle) }
    }

    /// Reads a whole numeric dataset; fails unless it holds exactly `Element`'s type.
    public func read<Element: HDF5Element>(_ type: Element.Type, dataset path: String) throws(HDF5Error) -> HDF5Array<Element> {
        try dataset(path).read(type)
    }

    /// Reads a whole 1-D string dataset (variable- or fixed-length strings).
    public func readStrings(dataset path: String) throws(HDF5Error) -> [String] {
        try dataset(path).readStrings()
    }

    // MARK: - Listing

    /// Names of the groups directly inside this container, in name order.
    public func groupNames() throws(HDF5Error) -> [String] {
        try childNames(ofType: H5I_GROUP)
    }

    /// Names of the datasets directly inside this container, in name order.
    public func datasetNames() throws(HDF5Error) -> [String] {
        try childNames(ofType: H5I_DATASET)
    }

    /// Whether a group or dataset exists at the (possibly nested) `path`.
    public func contains(_ path: String) throws(HDF5Error) -> Bool {
        try objectHandle.access("look up", object: objectHandle.childPath(path)) { linkExists(path) }
    }

    // MARK: - Internals (call under the lock unless noted)

    /// Whether every component of `path` exists (H5Lexists itself fails on a missing intermediate group).
    private func linkExists(_ path: String) -> Bool {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix = prefix.isEmpty ? String(component) : prefix + "/" + component
            if H5Lexists(objectHandle.id, prefix, kvc_h5p_default()) <= 0 { return false }
        }
        return !prefix.isEmpty
    }

    /// Not under the lock: pure validation.
    private func validateName(_ path: String, operation: String, object: String) throws(HDF5Error) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        if path.isEmpty || path.hasPrefix("/") || components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            throw objectHandle.error(.invalidArgument, operation, object: object, "'\(path)' is not a valid relative name (use names like \"runs/0\")")
        }
    }

    private func intermediateGroupsLinkCreation(operation: String, object: String) throws(HDF5Error) -> TransientID {
        let linkCreation = TransientID(H5Pcreate(kvc_h5p_link_create()), close: H5Pclose)
        guard linkCreation.id >= 0, H5Pset_create_intermediate_group(linkCreation.id, 1) >= 0 else {
            throw objectHandle.libraryError(operation, object: object)
        }
        return linkCreation
    }

    private func createEmptyDataset(
        _ name: String, object: String, fileType: hid_t, shape: [Int], layout: StorageLayout
    ) throws(HDF5Error) -> HDF5ObjectHandle {
        let handle = objectHandle
        let operation = "write dataset"
        if linkExists(name) {
            throw handle.error(.alreadyExists, operation, object: object, "an object with that name already exists")
        }
        let space = TransientID(HDF5Dataspace.create(shape: shape), close: H5Sclose)
        guard space.id >= 0 else { throw handle.libraryError(operation, object: object) }
        let creation = TransientID(H5Pcreate(kvc_h5p_dataset_create()), close: H5Pclose)
        guard creation.id >= 0 else { throw handle.libraryError(operation, object: object) }
        if case .chunked(let chunks, let deflateLevel) = layout {
            let chunkDims = chunks.map { hsize_t($0) }
            guard H5Pset_chunk(creation.id, Int32(chunkDims.count), chunkDims) >= 0 else {
                throw handle.libraryError(operation, object: object)
            }
            if let deflateLevel {
                guard H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 else {
                    throw handle.error(.libraryFailure, operation, object: object, "this HDF5 library was built without deflate (zlib) compression")
                }
                guard H5Pset_shuffle(creation.id) >= 0, H5Pset_deflate(creation.id, UInt32(deflateLevel)) >= 0 else {
                    throw handle.libraryError(operation, object: object)
                }
            }
        }
        let linkCreation = try intermediateGroupsLinkCreation(operation: operation, object: object)
        let id = H5Dcreate2(handle.id, name, fileType, space.id, linkCreation.id, creation.id, kvc_h5p_default())
        guard id >= 0 else { throw handle.libraryError(operation, object: object) }
        return HDF5ObjectHandle(id: id, kind: .dataset, file: handle.file, path: object)
    }

    /// Not under the lock: decides contiguous or chunked storage and checks the chunk shape.
    private func storageLayout(shape: [Int], chunks: [Int]?, deflateLevel: Int?, object: String) throws(HDF5Error) -> StorageLayout {
        let operation = "write dataset"
        if let deflateLevel, !(0...9).contains(deflateLevel) {
            throw objectHandle.error(.invalidArgument, operation, object: object, "deflate level \(deflateLevel) is outside 0...9")
        }
        if let chunks {
            if chunks.count != shape.count || zip(chunks, shape).contains(where: { chunk, dimension in chunk < 1 || chunk > max(dimension, 1) }) {
                throw objectHandle.error(.shapeMismatch, operation, object: object, "chunk shape \(chunks) does not fit shape \(shape) (same rank, each chunk 1...dimension)")
            }
        }
        guard chunks != nil || deflateLevel != nil else { return .contiguous }
        guard !shape.isEmpty, !shape.contains(0) else { return .contiguous }
        return .chunked(chunks: chunks ?? shape, deflateLevel: deflateLevel)
    }

    private func openChild(_ path: String, expecting expected: H5I_type_t, operation: String) throws(HDF5Error) -> HDF5ObjectHandle {
        let handle = objectHandle
        let object = handle.childPath(path)
        try validateName(path, operation: operation, object: object)
        return try handle.access(operation, object: object) { () throws(HDF5Error) -> HDF5ObjectHandle in
            guard linkExists(path) else { throw handle.error(.notFound, operation, object: object, "no such group or dataset") }
            let id = H5Oopen(handle.id, path, kvc_h5p_default())
            guard id >= 0 else { throw handle.libraryError(operation, object: object) }
            let actual = H5Iget_type(id)
            guard actual == expected else {
                _ = H5Oclose(id)
                let what = actual == H5I_GROUP ? "a group" : actual == H5I_DATASET ? "a dataset" : "another kind of object"
                throw handle.error(.typeMismatch, operation, object: object, "it is \(what)")
            }
            return HDF5ObjectHandle(id: id, kind: expected == H5I_GROUP ? .group : .dataset, file: handle.file, path: object)
        }
    }

    private func childNames(ofType wanted: H5I_type_t) throws(HDF5Error) -> [String] {
        let handle = objectHandle
        return try handle.access("list") { () throws(HDF5Error) -> [String] in
            var info = H5G_info_t()
            guard H5Gget_info(handle.id, &info) >= 0 else { throw handle.libraryError("list") }
            var names: [String] = []
            for index in 0..<info.nlinks {
                let length = H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, kvc_h5p_default())
                guard length >= 0 else { throw handle.libraryError("list") }
                var buffer = [CChar](repeating: 0, count: length + 1)
                guard H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, length + 1, kvc_h5p_default()) >= 0 else {
                    throw handle.libraryError("list")
                }
                let name = HDF5Strings.decode(buffer)
                // A dangling soft or external link cannot be opened; it is neither group nor dataset.
                let id = H5Oopen(handle.id, name, kvc_h5p_default())
                guard id >= 0 else { continue }
                if H5Iget_type(id) == wanted { names.append(name) }
                _ = H5Oclose(id)
            }
            kvc_h5_clear_errors()
            return names
        }
    }
}

/// How a dataset's bytes are laid out in the file.
enum StorageLayout {
    case contiguous
    /// chunks: [rank]; deflateLevel: 0...9 or nil for uncompressed chunks.
    case chunked(chunks: [Int], deflateLevel: Int?)
}

/// Dataspace helpers shared by datasets and attributes (call under the lock).
enum HDF5Dataspace {
    /// A scalar space for `[]`, otherwise a simple space of fixed `shape`.
    static func create(shape: [Int]) -> hid_t {
        if shape.isEmpty { return H5Screate(H5S_SCALAR) }
        let dims = shape.map { hsize_t($0) }
        return H5Screate_simple(Int32(dims.count), dims, nil)
    }

    /// The dimensions of `space` (`[]` for a scalar), or nil when HDF5 cannot tell.
    static func shape(of space: hid_t) -> [Int]? {
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { return nil }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0, H5Sget_simple_extent_dims(space, &dims, nil) < 0 { return nil }
        return dims.map { Int($0) }
    }
}
