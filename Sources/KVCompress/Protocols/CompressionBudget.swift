// `CompressionBudget` and `BudgetLimit` live in the leaf module KVCBudget, shared with KVCCUDA (which
// must not depend on this module: its static GPU binary links no BLAS or HDF5). Re-exported so that
// every `import KVCompress` sees them as before.
@_exported import KVCBudget
