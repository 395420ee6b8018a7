// Vectorized element-wise kernels for Easel's CPU backend. The transcendental functions (exp for softmax,
// SiLU and the tanh-GELU) dominated the small-model profile when done through libm one float at a time.
// An AVX2+FMA path is chosen at run time; the scalar path uses libm and is the reference.
#include "CEaselCPU.h"
#include <math.h>
#include <immintrin.h>

static int simd_allowed = 1;
void easel_cpu_allow_simd(int allowed) { simd_allowed = allowed; }

static int easel_has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached && simd_allowed;
}

// Cephes-style exp: e^x = 2^n · e^r, |r| ≤ ln2/2, degree-6 polynomial; about 1–2 ulp over the clamped range.
__attribute__((target("avx2,fma")))
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447504f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma")))
static float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,fma")))
static float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static float exp1_avx(float x) {
    float out[8];
    _mm256_storeu_ps(out, exp8(_mm256_set1_ps(x)));
    return out[0];
}

__attribute__((target("avx2,fma")))
static void softmax_row_avx(float *row, int n) {
    int i = 0;
    __m256 vm = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(row + i));
    float m = hmax8(vm);
    for (; i < n; i++) if (row[i] > m) m = row[i];
    __m256 vmax = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), vmax));
        _mm256_storeu_ps(row + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    float s = hsum8(vs);
    for (; i < n; i++) { row[i] = exp1_avx(row[i] - m); s += row[i]; }
    __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), inv));
    for (; i < n; i++) row[i] *= 1.0f / s;
}

static void softmax_row_scalar(float *row, int n) {
    float m = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) if (row[i] > m) m = row[i];
    for (int i = 0; i < n; i++) { row[i] = expf(row[i] - m); s += row[i]; }
    for (int i = 0; i < n; i++) row[i] *= 1.0f / s;
}

void easel_softmax_rows(float *x, int rows, int cols, int causal) {
    int avx = easel_has_avx2_fma();
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        int valid = causal ? (r + 1 < cols ? r + 1 : cols) : cols;
        if (avx) softmax_row_avx(row, valid); else softmax_row_scalar(row, valid);
        for (int j = valid; j < cols; j++) row[j] = 0;
    }
}

// x / (1 + e^(-k·g(x))): SiLU with g(x) = x, k = 1; tanh-GELU with g(x) = x + 0.044715x³ and
// k = 2·sqrt(2/π), since 0.5·(1 + tanh(u)) = σ(2u).
__attribute__((target("avx2,fma")))
static void sigmoid_gate_avx(float *x, size_t n, int gelu) {
    const __m256 one = _mm256_set1_ps(1.0f), c = _mm256_set1_ps(0.044715f);
    const __m256 k = _mm256_set1_ps(gelu ? -1.5957691216057308f : -1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u = gelu ? _mm256_fmadd_ps(_mm256_mul_ps(c, v), _mm256_mul_ps(v, v), v) : v;
        __m256 e = exp8(_mm256_mul_ps(k, u));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
    for (; i < n; i++) {
        float v = x[i], u = gelu ? v + 0.044715f * v * v * v : v;
        x[i] = v / (1.0f + exp1_avx((gelu ? -1.5957691216057308f : -1.0f) * u));
    }
}

void easel_gelu_tanh(float *x, size_t n) {
    if (easel_has_avx2_fma()) { sigmoid_gate_avx(x, n, 1); return; }
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void easel_silu(float *x, size_t n) {
    if (easel_has_avx2_fma()) { sigmoid_gate_avx(x, n, 0); return; }
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

__attribute__((target("avx2,fma")))
static void exp_avx(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = exp1_avx(x[i]);
}

void easel_exp(float *x, size_t n) {
    if (easel_has_avx2_fma()) { exp_avx(x, n); return; }
    for (size_t i = 0; i < n; i++) x[i] = expf(x[i]);
}
