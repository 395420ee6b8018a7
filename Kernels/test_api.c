/* Plain-C test of the exported API (no GPU needed): easel_kernels.h compiles as strict C99, libeasel_kernels.so
 * links and exports the easel_ symbols, and argument validation answers before any CUDA call.
 * Built and run by Scripts/build-kernels. */
#include <stdio.h>
#include <string.h>

#include "easel_kernels.h"

static int failures = 0;
#define EXPECT(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); ++failures; } } while (0)

int main(void) {
    char dummy[64];
    easel_rmsnorm_params r;
    easel_layernorm_adaln_params l;

    EXPECT(strcmp(easel_status_string(EASEL_OK), "ok") == 0);
    EXPECT(strcmp(easel_status_string(EASEL_ERR_LAUNCH), "launch failed") == 0);
    EXPECT(strcmp(easel_status_string((easel_status)42), "unknown status") == 0);
    EXPECT(easel_last_cuda_error() == 0);

    EXPECT(easel_rmsnorm_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
    memset(&r, 0, sizeof r);
    r.x = dummy; r.weight = dummy; r.y = dummy;
    r.n_outer = 4; r.n_inner = 1; r.dim = 8; r.x_stride_outer = 8; r.y_stride_outer = 8; r.eps = 1e-6f;
    r.n_inner = 0;
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_ERR_INVALID_ARGUMENT);
    r.n_inner = 1; r.y_stride_outer = 4;  /* output rows overlap */
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_ERR_INVALID_ARGUMENT);
    r.y_stride_outer = 8; r.n_outer = 0;  /* nothing to do: no CUDA call */
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_OK);
    r.n_outer = (int64_t)1 << 31;         /* rows >= 2^31 */
    r.x_stride_outer = r.y_stride_outer = 8;
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_ERR_UNSUPPORTED);

    EXPECT(easel_layernorm_adaln_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
    memset(&l, 0, sizeof l);
    l.x = dummy; l.shift = dummy; l.scale = dummy; l.y = dummy;
    l.mod_dtype = EASEL_DTYPE_F32; l.batch = 1; l.seq = 2; l.dim = 8;
    l.x_stride_batch = l.y_stride_batch = 16; l.x_stride_seq = l.y_stride_seq = 8; l.eps = 1e-6f;
    l.mod_dtype = (easel_dtype)3;
    EXPECT(easel_layernorm_adaln_bf16(&l) == EASEL_ERR_INVALID_ARGUMENT);
    l.mod_dtype = EASEL_DTYPE_BF16; l.eps = -1.0f;
    EXPECT(easel_layernorm_adaln_bf16(&l) == EASEL_ERR_INVALID_ARGUMENT);
    l.eps = 1e-6f; l.batch = 0;
    EXPECT(easel_layernorm_adaln_bf16(&l) == EASEL_OK);

    if (failures) { fprintf(stderr, "test_api: %d failure(s)\n", failures); return 1; }
    printf("test_api: all passed\n");
    return 0;
}
