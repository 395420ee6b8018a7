// Internal interface between attention.cu (validation, dispatch, the mma.sync kernel) and attention_sm90.cu (the
// Hopper wgmma + TMA kernel). Not part of the C API.
#pragma once

#include "easel_kernels.h"

namespace easel {

// Runs the sm_90a warpgroup attention kernel if it can take this (already validated) call: compute capability 9.0,
// head_dim 128, the driver's tensor-map encoder available, q/k/v expressible as TMA tensor maps. Returns true when
// it took the call (status in *st: EASEL_OK or a launch error); false when the caller should use another kernel
// (nothing was launched, no CUDA error is left pending). scale: the resolved softmax scale (> 0).
__attribute__((visibility("hidden"))) bool attention_sm90_run(const easel_attention_params &p, float scale,
                                                              easel_status *st);

}  // namespace easel
