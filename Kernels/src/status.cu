// Status strings and the last CUDA launch error.
#include "norm_common.cuh"

namespace easel {
static thread_local int g_last_cuda_error = 0;
void set_last_cuda_error(cudaError_t err) { g_last_cuda_error = static_cast<int>(err); }
}  // namespace easel

extern "C" const char *easel_status_string(easel_status status) {
    switch (status) {
    case EASEL_OK: return "ok";
    case EASEL_ERR_INVALID_ARGUMENT: return "invalid argument";
    case EASEL_ERR_UNSUPPORTED: return "unsupported";
    case EASEL_ERR_LAUNCH: return "launch failed";
    }
    return "unknown status";
}

extern "C" int easel_last_cuda_error(void) { return easel::g_last_cuda_error; }
