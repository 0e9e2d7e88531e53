// The CUDA driver API and NVRTC, loaded with dlopen at run time, behind `kvc_cuda_*` / `kvc_nvrtc_*`
// functions. No CUDA header is needed to build: the few types are declared here (their layout is the
// driver's ABI: handles are pointers, CUdeviceptr is 64-bit, CUresult/nvrtcResult are C enums = int),
// so the package builds and tests on machines without CUDA.
//
// Every wrapper returns the library's own status code (CUresult or nvrtcResult; 0 is success);
// `kvc_cuda_error_string` / `kvc_nvrtc_error_string` turn a code into the library's message.
// A library handle is opened once and never closed (the driver keeps global state).
#ifndef KVC_CUDA_H
#define KVC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Driver API types (cuda.h: CUdevice is int, CUdeviceptr unsigned long long on 64-bit hosts)

typedef int kvc_cuda_device;
typedef uint64_t kvc_cuda_device_ptr;
typedef struct kvc_cuda_context_s *kvc_cuda_context;   // CUcontext
typedef struct kvc_cuda_module_s *kvc_cuda_module;     // CUmodule
typedef struct kvc_cuda_function_s *kvc_cuda_function; // CUfunction
typedef struct kvc_cuda_event_s *kvc_cuda_event;       // CUevent
typedef struct kvc_cuda_stream_s *kvc_cuda_stream;     // CUstream (NULL: the legacy default stream)

// Values of the cuda.h enums this shim passes through, as cuda.h declares them (CUresult,
// CUdevice_attribute_enum, CUfunction_attribute_enum, CUevent_flags; checked against the CUDA 12
// headers; NVIDIA never renumbers them, since the driver ABI depends on them).
enum {
    KVC_CUDA_SUCCESS = 0,                                             // CUDA_SUCCESS
    KVC_CUDA_ERROR_NO_DEVICE = 100,                                   // CUDA_ERROR_NO_DEVICE
    KVC_CUDA_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,              // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    KVC_CUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,          // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    KVC_CUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,          // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    KVC_CUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97, // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    KVC_CUDA_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,        // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    KVC_CUDA_EVENT_DEFAULT = 0,                                       // CU_EVENT_DEFAULT
};

/// The driver library (libcuda) with every entry point this shim uses resolved.
typedef struct kvc_cuda_driver kvc_cuda_driver;

/// Opens the driver at `path` (a file path or a soname for the dynamic loader's search) and resolves
/// its symbols. Returns NULL and writes the reason (dlerror text or the missing symbol) into `error`.
kvc_cuda_driver *kvc_cuda_driver_open(const char *path, char *error, size_t error_capacity);

int kvc_cuda_init(const kvc_cuda_driver *d, unsigned int flags);
int kvc_cuda_driver_get_version(const kvc_cuda_driver *d, int *version);
int kvc_cuda_device_get_count(const kvc_cuda_driver *d, int *count);
int kvc_cuda_device_get(const kvc_cuda_driver *d, kvc_cuda_device *device, int ordinal);
int kvc_cuda_device_get_name(const kvc_cuda_driver *d, char *name, int capacity, kvc_cuda_device device);
int kvc_cuda_device_get_attribute(const kvc_cuda_driver *d, int *value, int attribute, kvc_cuda_device device);
int kvc_cuda_device_total_mem(const kvc_cuda_driver *d, size_t *bytes, kvc_cuda_device device);
int kvc_cuda_device_primary_ctx_retain(const kvc_cuda_driver *d, kvc_cuda_context *context, kvc_cuda_device device);
int kvc_cuda_device_primary_ctx_release(const kvc_cuda_driver *d, kvc_cuda_device device);
int kvc_cuda_ctx_set_current(const kvc_cuda_driver *d, kvc_cuda_context context);
int kvc_cuda_ctx_synchronize(const kvc_cuda_driver *d);
int kvc_cuda_module_load_data(const kvc_cuda_driver *d, kvc_cuda_module *module, const void *image);
int kvc_cuda_module_unload(const kvc_cuda_driver *d, kvc_cuda_module module);
int kvc_cuda_module_get_function(const kvc_cuda_driver *d, kvc_cuda_function *function, kvc_cuda_module module, const char *name);
int kvc_cuda_func_set_attribute(const kvc_cuda_driver *d, kvc_cuda_function function, int attribute, int value);
int kvc_cuda_launch_kernel(
    const kvc_cuda_driver *d, kvc_cuda_function function,
    unsigned int grid_x, unsigned int grid_y, unsigned int grid_z,
    unsigned int block_x, unsigned int block_y, unsigned int block_z,
    unsigned int shared_memory_bytes, kvc_cuda_stream stream, void **arguments);
int kvc_cuda_mem_alloc(const kvc_cuda_driver *d, kvc_cuda_device_ptr *pointer, size_t bytes);
int kvc_cuda_mem_free(const kvc_cuda_driver *d, kvc_cuda_device_ptr pointer);
int kvc_cuda_memcpy_htod(const kvc_cuda_driver *d, kvc_cuda_device_ptr destination, const void *source, size_t bytes);
int kvc_cuda_memcpy_dtoh(const kvc_cuda_driver *d, void *destination, kvc_cuda_device_ptr source, size_t bytes);
int kvc_cuda_memset_d8(const kvc_cuda_driver *d, kvc_cuda_device_ptr destination, unsigned char value, size_t bytes);
int kvc_cuda_event_create(const kvc_cuda_driver *d, kvc_cuda_event *event, unsigned int flags);
int kvc_cuda_event_record(const kvc_cuda_driver *d, kvc_cuda_event event, kvc_cuda_stream stream);
int kvc_cuda_event_synchronize(const kvc_cuda_driver *d, kvc_cuda_event event);
int kvc_cuda_event_elapsed_time(const kvc_cuda_driver *d, float *milliseconds, kvc_cuda_event start, kvc_cuda_event end);
int kvc_cuda_event_destroy(const kvc_cuda_driver *d, kvc_cuda_event event);
/// The driver's message for `code` ("unknown error code" when the driver has none).
const char *kvc_cuda_error_string(const kvc_cuda_driver *d, int code);

// MARK: - NVRTC

typedef struct kvc_nvrtc_program_s *kvc_nvrtc_program; // nvrtcProgram

enum {
    KVC_NVRTC_SUCCESS = 0,           // nvrtc.h nvrtcResult: NVRTC_SUCCESS
    KVC_NVRTC_ERROR_COMPILATION = 6, // NVRTC_ERROR_COMPILATION: the source is at fault, the log says why
};

/// The NVRTC library with every entry point this shim uses resolved.
typedef struct kvc_nvrtc kvc_nvrtc;

/// Opens NVRTC at `path`; NULL and the reason in `error` when it cannot be loaded or lacks a symbol.
kvc_nvrtc *kvc_nvrtc_open(const char *path, char *error, size_t error_capacity);

int kvc_nvrtc_version(const kvc_nvrtc *n, int *major, int *minor);
int kvc_nvrtc_create_program(const kvc_nvrtc *n, kvc_nvrtc_program *program, const char *source, const char *name);
int kvc_nvrtc_compile_program(const kvc_nvrtc *n, kvc_nvrtc_program program, int option_count, const char *const *options);
int kvc_nvrtc_get_program_log_size(const kvc_nvrtc *n, kvc_nvrtc_program program, size_t *size);
int kvc_nvrtc_get_program_log(const kvc_nvrtc *n, kvc_nvrtc_program program, char *log);
int kvc_nvrtc_get_cubin_size(const kvc_nvrtc *n, kvc_nvrtc_program program, size_t *size);
int kvc_nvrtc_get_cubin(const kvc_nvrtc *n, kvc_nvrtc_program program, char *cubin);
int kvc_nvrtc_get_ptx_size(const kvc_nvrtc *n, kvc_nvrtc_program program, size_t *size);
int kvc_nvrtc_get_ptx(const kvc_nvrtc *n, kvc_nvrtc_program program, char *ptx);
int kvc_nvrtc_destroy_program(const kvc_nvrtc *n, kvc_nvrtc_program *program);
/// NVRTC's message for `code`.
const char *kvc_nvrtc_error_string(const kvc_nvrtc *n, int code);

#ifdef __cplusplus
}
#endif

#endif
