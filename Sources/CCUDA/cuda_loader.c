// dlopen-based loader of the CUDA driver API and of NVRTC (see include/kvc_cuda.h).
//
// Each library is described by an X-macro list of (field, exported symbol, fallback symbol or NULL,
// signature). Opening resolves
// every symbol once; a missing one fails the open with its name, so a wrapper never calls NULL.
// Driver entry points: the `_v2` names are the ones cuda.h maps the plain names to since CUDA 3.2/4.0
// (64-bit sizes and device pointers); exporting libraries keep both, we bind the `_v2` ones explicitly.
#define _GNU_SOURCE
#include "kvc_cuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*kvc_init_fn)(unsigned int);
typedef int (*kvc_int_out_fn)(int *);
typedef int (*kvc_device_get_fn)(kvc_cuda_device *, int);
typedef int (*kvc_device_get_name_fn)(char *, int, kvc_cuda_device);
typedef int (*kvc_device_get_attribute_fn)(int *, int, kvc_cuda_device);
typedef int (*kvc_device_total_mem_fn)(size_t *, kvc_cuda_device);
typedef int (*kvc_primary_retain_fn)(kvc_cuda_context *, kvc_cuda_device);
typedef int (*kvc_primary_release_fn)(kvc_cuda_device);
typedef int (*kvc_ctx_set_current_fn)(kvc_cuda_context);
typedef int (*kvc_void_fn)(void);
typedef int (*kvc_module_load_data_fn)(kvc_cuda_module *, const void *);
typedef int (*kvc_module_unload_fn)(kvc_cuda_module);
typedef int (*kvc_module_get_function_fn)(kvc_cuda_function *, kvc_cuda_module, const char *);
typedef int (*kvc_func_set_attribute_fn)(kvc_cuda_function, int, int);
typedef int (*kvc_launch_kernel_fn)(
    kvc_cuda_function, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
    unsigned int, kvc_cuda_stream, void **, void **);
typedef int (*kvc_mem_alloc_fn)(kvc_cuda_device_ptr *, size_t);
typedef int (*kvc_mem_free_fn)(kvc_cuda_device_ptr);
typedef int (*kvc_memcpy_htod_fn)(kvc_cuda_device_ptr, const void *, size_t);
typedef int (*kvc_memcpy_dtoh_fn)(void *, kvc_cuda_device_ptr, size_t);
typedef int (*kvc_memset_d8_fn)(kvc_cuda_device_ptr, unsigned char, size_t);
typedef int (*kvc_event_create_fn)(kvc_cuda_event *, unsigned int);
typedef int (*kvc_event_record_fn)(kvc_cuda_event, kvc_cuda_stream);
typedef int (*kvc_event_fn)(kvc_cuda_event);
typedef int (*kvc_event_elapsed_fn)(float *, kvc_cuda_event, kvc_cuda_event);
typedef int (*kvc_get_error_string_fn)(int, const char **);

// (field, symbol, fallback, type) of every driver entry point; names as exported by libcuda.so.1.
// cuEventElapsedTime: CUDA 12.8 added cuEventElapsedTime_v2 (same arguments); a driver that some day
// exports only the new name still works.
#define KVC_DRIVER_SYMBOLS(X)                                                                           \
    X(init, "cuInit", NULL, kvc_init_fn)                                                                \
    X(driver_get_version, "cuDriverGetVersion", NULL, kvc_int_out_fn)                                   \
    X(device_get_count, "cuDeviceGetCount", NULL, kvc_int_out_fn)                                       \
    X(device_get, "cuDeviceGet", NULL, kvc_device_get_fn)                                               \
    X(device_get_name, "cuDeviceGetName", NULL, kvc_device_get_name_fn)                                 \
    X(device_get_attribute, "cuDeviceGetAttribute", NULL, kvc_device_get_attribute_fn)                  \
    X(device_total_mem, "cuDeviceTotalMem_v2", NULL, kvc_device_total_mem_fn)                           \
    X(primary_ctx_retain, "cuDevicePrimaryCtxRetain", NULL, kvc_primary_retain_fn)                      \
    X(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2", NULL, kvc_primary_release_fn)                \
    X(ctx_set_current, "cuCtxSetCurrent", NULL, kvc_ctx_set_current_fn)                                 \
    X(ctx_synchronize, "cuCtxSynchronize", NULL, kvc_void_fn)                                           \
    X(module_load_data, "cuModuleLoadData", NULL, kvc_module_load_data_fn)                              \
    X(module_unload, "cuModuleUnload", NULL, kvc_module_unload_fn)                                      \
    X(module_get_function, "cuModuleGetFunction", NULL, kvc_module_get_function_fn)                     \
    X(func_set_attribute, "cuFuncSetAttribute", NULL, kvc_func_set_attribute_fn)                        \
    X(launch_kernel, "cuLaunchKernel", NULL, kvc_launch_kernel_fn)                                      \
    X(mem_alloc, "cuMemAlloc_v2", NULL, kvc_mem_alloc_fn)                                               \
    X(mem_free, "cuMemFree_v2", NULL, kvc_mem_free_fn)                                                  \
    X(memcpy_htod, "cuMemcpyHtoD_v2", NULL, kvc_memcpy_htod_fn)                                         \
    X(memcpy_dtoh, "cuMemcpyDtoH_v2", NULL, kvc_memcpy_dtoh_fn)                                         \
    X(memset_d8, "cuMemsetD8_v2", NULL, kvc_memset_d8_fn)                                               \
    X(event_create, "cuEventCreate", NULL, kvc_event_create_fn)                                         \
    X(event_record, "cuEventRecord", NULL, kvc_event_record_fn)                                         \
    X(event_synchronize, "cuEventSynchronize", NULL, kvc_event_fn)                                      \
    X(event_elapsed_time, "cuEventElapsedTime", "cuEventElapsedTime_v2", kvc_event_elapsed_fn)          \
    X(event_destroy, "cuEventDestroy_v2", NULL, kvc_event_fn)                                           \
    X(get_error_string, "cuGetErrorString", NULL, kvc_get_error_string_fn)

struct kvc_cuda_driver {
#define KVC_FIELD(field, symbol, fallback, type) type field;
    KVC_DRIVER_SYMBOLS(KVC_FIELD)
#undef KVC_FIELD
};

typedef int (*kvc_nvrtc_version_fn)(int *, int *);
typedef int (*kvc_nvrtc_create_program_fn)(
    kvc_nvrtc_program *, const char *, const char *, int, const char *const *, const char *const *);
typedef int (*kvc_nvrtc_compile_program_fn)(kvc_nvrtc_program, int, const char *const *);
typedef int (*kvc_nvrtc_size_fn)(kvc_nvrtc_program, size_t *);
typedef int (*kvc_nvrtc_bytes_fn)(kvc_nvrtc_program, char *);
typedef int (*kvc_nvrtc_destroy_program_fn)(kvc_nvrtc_program *);
typedef const char *(*kvc_nvrtc_get_error_string_fn)(int);

// (field, symbol, fallback, type) of every NVRTC entry point (nvrtc.h; the CUBIN getters exist since NVRTC 11.1).
#define KVC_NVRTC_SYMBOLS(X)                                                                            \
    X(version, "nvrtcVersion", NULL, kvc_nvrtc_version_fn)                                              \
    X(create_program, "nvrtcCreateProgram", NULL, kvc_nvrtc_create_program_fn)                          \
    X(compile_program, "nvrtcCompileProgram", NULL, kvc_nvrtc_compile_program_fn)                       \
    X(get_program_log_size, "nvrtcGetProgramLogSize", NULL, kvc_nvrtc_size_fn)                          \
    X(get_program_log, "nvrtcGetProgramLog", NULL, kvc_nvrtc_bytes_fn)                                  \
    X(get_cubin_size, "nvrtcGetCUBINSize", NULL, kvc_nvrtc_size_fn)                                     \
    X(get_cubin, "nvrtcGetCUBIN", NULL, kvc_nvrtc_bytes_fn)                                             \
    X(get_ptx_size, "nvrtcGetPTXSize", NULL, kvc_nvrtc_size_fn)                                         \
    X(get_ptx, "nvrtcGetPTX", NULL, kvc_nvrtc_bytes_fn)                                                 \
    X(destroy_program, "nvrtcDestroyProgram", NULL, kvc_nvrtc_destroy_program_fn)                       \
    X(get_error_string, "nvrtcGetErrorString", NULL, kvc_nvrtc_get_error_string_fn)

struct kvc_nvrtc {
#define KVC_FIELD(field, symbol, fallback, type) type field;
    KVC_NVRTC_SYMBOLS(KVC_FIELD)
#undef KVC_FIELD
};

// MARK: - Opening

/// dlopen with RTLD_NOW | RTLD_LOCAL (a broken library fails here, not at the first call); on failure
/// copies dlerror's text into `error`.
static void *kvc_open_library(const char *path, char *error, size_t error_capacity) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle && error && error_capacity > 0) {
        const char *why = dlerror();
        snprintf(error, error_capacity, "%s", why ? why : "dlopen failed");
    }
    return handle;
}

/// Resolves `symbol` (else `fallback`, when not NULL) into `slot`; false (and the symbol named in
/// `error`) when the library lacks both.
static int kvc_resolve(
    void *handle, const char *path, const char *symbol, const char *fallback, void **slot, char *error, size_t error_capacity) {
    *slot = dlsym(handle, symbol);
    if (!*slot && fallback) *slot = dlsym(handle, fallback);
    if (*slot) return 1;
    if (error && error_capacity > 0) snprintf(error, error_capacity, "%s has no symbol %s", path, symbol);
    return 0;
}

kvc_cuda_driver *kvc_cuda_driver_open(const char *path, char *error, size_t error_capacity) {
    void *handle = kvc_open_library(path, error, error_capacity);
    if (!handle) return NULL;
    kvc_cuda_driver *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(error, error_capacity, "out of memory");
        dlclose(handle);
        return NULL;
    }
#define KVC_RESOLVE(field, symbol, fallback, type)                                                        \
    if (!kvc_resolve(handle, path, symbol, fallback, (void **)&d->field, error, error_capacity)) { \
        free(d);                                                                                \
        dlclose(handle);                                                                        \
        return NULL;                                                                            \
    }
    KVC_DRIVER_SYMBOLS(KVC_RESOLVE)
#undef KVC_RESOLVE
    return d;
}

kvc_nvrtc *kvc_nvrtc_open(const char *path, char *error, size_t error_capacity) {
    void *handle = kvc_open_library(path, error, error_capacity);
    if (!handle) return NULL;
    kvc_nvrtc *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(error, error_capacity, "out of memory");
        dlclose(handle);
        return NULL;
    }
#define KVC_RESOLVE(field, symbol, fallback, type)                                                        \
    if (!kvc_resolve(handle, path, symbol, fallback, (void **)&n->field, error, error_capacity)) { \
        free(n);                                                                                \
        dlclose(handle);                                                                        \
        return NULL;                                                                            \
    }
    KVC_NVRTC_SYMBOLS(KVC_RESOLVE)
#undef KVC_RESOLVE
    return n;
}

// MARK: - Driver wrappers

int kvc_cuda_init(const kvc_cuda_driver *d, unsigned int flags) { return d->init(flags); }
int kvc_cuda_driver_get_version(const kvc_cuda_driver *d, int *version) { return d->driver_get_version(version); }
int kvc_cuda_device_get_count(const kvc_cuda_driver *d, int *count) { return d->device_get_count(count); }
int kvc_cuda_device_get(const kvc_cuda_driver *d, kvc_cuda_device *device, int ordinal) { return d->device_get(device, ordinal); }
int kvc_cuda_device_get_name(const kvc_cuda_driver *d, char *name, int capacity, kvc_cuda_device device) {
    return d->device_get_name(name, capacity, device);
}
int kvc_cuda_device_get_attribute(const kvc_cuda_driver *d, int *value, int attribute, kvc_cuda_device device) {
    return d->device_get_attribute(value, attribute, device);
}
int kvc_cuda_device_total_mem(const kvc_cuda_driver *d, size_t *bytes, kvc_cuda_device device) {
    return d->device_total_mem(bytes, device);
}
int kvc_cuda_device_primary_ctx_retain(const kvc_cuda_driver *d, kvc_cuda_context *context, kvc_cuda_device device) {
    return d->primary_ctx_retain(context, device);
}
int kvc_cuda_device_primary_ctx_release(const kvc_cuda_driver *d, kvc_cuda_device device) { return d->primary_ctx_release(device); }
int kvc_cuda_ctx_set_current(const kvc_cuda_driver *d, kvc_cuda_context context) { return d->ctx_set_current(context); }
int kvc_cuda_ctx_synchronize(const kvc_cuda_driver *d) { return d->ctx_synchronize(); }
int kvc_cuda_module_load_data(const kvc_cuda_driver *d, kvc_cuda_module *module, const void *image) {
    return d->module_load_data(module, image);
}
int kvc_cuda_module_unload(const kvc_cuda_driver *d, kvc_cuda_module module) { return d->module_unload(module); }
int kvc_cuda_module_get_function(const kvc_cuda_driver *d, kvc_cuda_function *function, kvc_cuda_module module, const char *name) {
    return d->module_get_function(function, module, name);
}
int kvc_cuda_func_set_attribute(const kvc_cuda_driver *d, kvc_cuda_function function, int attribute, int value) {
    return d->func_set_attribute(function, attribute, value);
}
int kvc_cuda_launch_kernel(
    const kvc_cuda_driver *d, kvc_cuda_function function,
    unsigned int grid_x, unsigned int grid_y, unsigned int grid_z,
    unsigned int block_x, unsigned int block_y, unsigned int block_z,
    unsigned int shared_memory_bytes, kvc_cuda_stream stream, void **arguments) {
    return d->launch_kernel(function, grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_memory_bytes, stream, arguments, NULL);
}
int kvc_cuda_mem_alloc(const kvc_cuda_driver *d, kvc_cuda_device_ptr *pointer, size_t bytes) { return d->mem_alloc(pointer, bytes); }
int kvc_cuda_mem_free(const kvc_cuda_driver *d, kvc_cuda_device_ptr pointer) { return d->mem_free(pointer); }
int kvc_cuda_memcpy_htod(const kvc_cuda_driver *d, kvc_cuda_device_ptr destination, const void *source, size_t bytes) {
    return d->memcpy_htod(destination, source, bytes);
}
int kvc_cuda_memcpy_dtoh(const kvc_cuda_driver *d, void *destination, kvc_cuda_device_ptr source, size_t bytes) {
    return d->memcpy_dtoh(destination, source, bytes);
}
int kvc_cuda_memset_d8(const kvc_cuda_driver *d, kvc_cuda_device_ptr destination, unsigned char value, size_t bytes) {
    return d->memset_d8(destination, value, bytes);
}
int kvc_cuda_event_create(const kvc_cuda_driver *d, kvc_cuda_event *event, unsigned int flags) { return d->event_create(event, flags); }
int kvc_cuda_event_record(const kvc_cuda_driver *d, kvc_cuda_event event, kvc_cuda_stream stream) { return d->event_record(event, stream); }
int kvc_cuda_event_synchronize(const kvc_cuda_driver *d, kvc_cuda_event event) { return d->event_synchronize(event); }
int kvc_cuda_event_elapsed_time(const kvc_cuda_driver *d, float *milliseconds, kvc_cuda_event start, kvc_cuda_event end) {
    return d->event_elapsed_time(milliseconds, start, end);
}
int kvc_cuda_event_destroy(const kvc_cuda_driver *d, kvc_cuda_event event) { return d->event_destroy(event); }

const char *kvc_cuda_error_string(const kvc_cuda_driver *d, int code) {
    const char *message = NULL;
    if (d->get_error_string(code, &message) != KVC_CUDA_SUCCESS || !message) return "unknown error code";
    return message;
}

// MARK: - NVRTC wrappers

int kvc_nvrtc_version(const kvc_nvrtc *n, int *major, int *minor) { return n->version(major, minor); }
int kvc_nvrtc_create_program(const kvc_nvrtc *n, kvc_nvrtc_program *program, const char *source, const char *name) {
    // No headers: kernel sources are self-contained (Sources/KVCCUDA/Kernels/README.md).
    return n->create_program(program, source, name, 0, NULL, NULL);
}
int kvc_nvrtc_compile_program(const kvc_nvrtc *n, kvc_nvrtc_program program, int option_count, const char *const *options) {
    return n->compile_program(program, option_count, options);
}
int kvc_nvrtc_get_program_log_size(const kvc_nvrtc *n, kvc_nvrtc_program program, size_t *size) {
    return n->get_program_log_size(program, size);
}
int kvc_nvrtc_get_program_log(const kvc_nvrtc *n, kvc_nvrtc_program program, char *log) { return n->get_program_log(program, log); }
int kvc_nvrtc_get_cubin_size(const kvc_nvrtc *n, kvc_nvrtc_program program, size_t *size) { return n->get_cubin_size(program, size); }
int kvc_nvrtc_get_cubin(const kvc_nvrtc *n, kvc_nvrtc_program program, char *cubin) { return n->get_cubin(program, cubin); }
int kvc_nvrtc_get_ptx_size(const kvc_nvrtc *n, kvc_nvrtc_program program, size_t *size) { return n->get_ptx_size(program, size); }
int kvc_nvrtc_get_ptx(const kvc_nvrtc *n, kvc_nvrtc_program program, char *ptx) { return n->get_ptx(program, ptx); }
int kvc_nvrtc_destroy_program(const kvc_nvrtc *n, kvc_nvrtc_program *program) { return n->destroy_program(program); }
const char *kvc_nvrtc_error_string(const kvc_nvrtc *n, int code) {
    const char *message = n->get_error_string(code);
    return message ? message : "unknown NVRTC error code";
}
