// Shim for HDF5 (Debian: libhdf5-dev, serial flavour).
// HDF5 exposes its default property lists and native types as macros that expand to
// global ids initialised at library start; Swift cannot import those macros, so each
// is wrapped in a static inline getter (the approach of open-meteo/swift-hdf5).
#ifndef KVC_HDF5_SHIM_H
#define KVC_HDF5_SHIM_H
#include <hdf5/serial/hdf5.h>
#include <string.h>

static inline hid_t kvc_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t kvc_h5s_all(void) { return H5S_ALL; }
static inline hid_t kvc_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t kvc_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t kvc_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t kvc_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t kvc_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t kvc_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t kvc_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t kvc_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t kvc_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
// File (on-disk) types: little-endian standard types, so a file written here reads the same
// on any machine regardless of the writer's native byte order.
static inline hid_t kvc_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t kvc_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t kvc_h5t_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t kvc_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t kvc_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t kvc_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t kvc_h5t_c_s1(void) { return H5T_C_S1; }
static inline unsigned kvc_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned kvc_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned kvc_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline size_t kvc_h5t_variable(void) { return H5T_VARIABLE; }
/// Silence HDF5's automatic error stack printing: the wrapper turns failures into Swift errors.
static inline void kvc_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
/// Forget errors recorded by earlier calls, so a later message belongs to the failing call.
static inline void kvc_h5_clear_errors(void) { H5Eclear2(H5E_DEFAULT); }

static inline herr_t kvc_h5_innermost_error_walker(unsigned n, const H5E_error2_t *err, void *buffer) {
    // Walking upward, entry 0 is where the library first detected the failure: the most specific text.
    if (n == 0 && err != NULL && err->desc != NULL) {
        strncpy((char *)buffer, err->desc, 511);
        ((char *)buffer)[511] = '\0';
    }
    return 0;
}
/// Copies the most specific message of the current error stack into `buffer` (at least 512 bytes);
/// leaves an empty string when the stack is empty.
static inline void kvc_h5_innermost_error(char *buffer) {
    buffer[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, kvc_h5_innermost_error_walker, buffer);
}

static inline herr_t kvc_h5_attribute_counter(hid_t location, const char *name, const H5A_info_t *info, void *count) {
    (void)location; (void)name; (void)info;
    *(hsize_t *)count += 1;
    return 0;
}
/// Number of attributes on an object, or -1 on failure. (H5Oget_info changed signature between
/// HDF5 1.10 and 1.12; iterating attributes works the same in both.)
static inline long long kvc_h5_attribute_count(hid_t object) {
    hsize_t count = 0;
    hsize_t index = 0;
    if (H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, kvc_h5_attribute_counter, &count) < 0) return -1;
    return (long long)count;
}
/// Frees the strings HDF5 allocated while reading variable-length strings into `buffer`.
/// (H5Treclaim replaced H5Dvlen_reclaim in 1.12; 1.10 headers declare it but the library lacks it.)
static inline herr_t kvc_h5_reclaim(hid_t type, hid_t space, void *buffer) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
    return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}
#endif
