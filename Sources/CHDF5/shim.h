// Shim for HDF5 (Debian: libhdf5-dev, serial flavour).
// HDF5 exposes its default property lists and native types as macros that expand to
// global ids initialised at library start; Swift cannot import those macros, so each
// is wrapped in a static inline getter (the approach of open-meteo/swift-hdf5).
#ifndef KVC_HDF5_SHIM_H
#define KVC_HDF5_SHIM_H
#include <hdf5/serial/hdf5.h>

static inline hid_t kvc_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t kvc_h5s_all(void) { return H5S_ALL; }
static inline hid_t kvc_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t kvc_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t kvc_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t kvc_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t kvc_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t kvc_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t kvc_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t kvc_h5t_c_s1(void) { return H5T_C_S1; }
static inline unsigned kvc_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned kvc_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned kvc_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline size_t kvc_h5t_variable(void) { return H5T_VARIABLE; }
/// Silence HDF5's automatic error stack printing: the wrapper turns failures into Swift errors.
static inline void kvc_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
