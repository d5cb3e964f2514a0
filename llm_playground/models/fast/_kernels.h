/* The matrix kernels of the fast engine: y = x · Wᵀ for every weight storage format.

   Included by _decode.c (after the thread pool, which `linear` uses). This file holds everything
   that depends on the CPU's vector instructions; the model step in _decode.c is plain C.
   Formats (see kernels.py): FMT_F32, FMT_BF16, FMT_Q8 (a scale per group of 32), FMT_Q4 (a scale
   and a minimum per group of 32). Entry point: `linear` (decode rows for M < 4 tokens, unpacked
   panels times register tiles for M ≥ 4).

   kernels.py compiles this once per instruction set and loads the best one the CPU has:
   - avx512   (-mavx512f -mavx512bw …): 16 fp32 lanes, the original kernels;
   - avx2     (-mavx2 -mfma): 8 lanes with AVX2/FMA intrinsics;
   - portable (no -m flags): the same 8-lane code written with GCC/Clang vector types, which the
     compiler turns into SSE2 on x86-64 and NEON on ARM (two 128-bit registers per vector).
   avx2 and portable share every loop below; only the few primitives (load, multiply-add, widen
   bytes to floats, sum the lanes) differ. */
#if defined(__AVX512F__) && defined(__AVX512BW__)
#define KERNELS_ISA "avx512"
/* ---- weight loads: 16 weights → 16 fp32 lanes ------------------------------------------- */
static inline __m512 load_f32(const void *p, int64_t i) { return _mm512_loadu_ps((const float *)p + i); }
static inline __m512 load_bf16(const void *p, int64_t i) {  /* bf16 is the top half of an fp32 */
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* y[m, n] = Σ_k x[m, k] · w[n, k] for rows n0 ≤ n < n1; K a multiple of 16. */
#define DENSE_ROWS(NAME, LOAD, WT)                                                                    \
    static void NAME(const Linear *L, const float *x, int M, float *y, int n0, int n1) {           \
        const int64_t K = L->n_in, N = L->n_out;                                                   \
        int n = n0;                                                                                \
        for (; n + 4 <= n1; n += 4) {                                                              \
            for (int m = 0; m < M; m++) {                                                          \
                const float *xm = x + m * K;                                                       \
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                        \
                for (int64_t k = 0; k < K; k += 16) {                                              \
                    __m512 xv = _mm512_loadu_ps(xm + k);                                           \
                    if (m == 0 && (k & 31) == 0 && n + 8 <= n1)  /* the next 4 rows, a block ahead */ \
                        for (int r = 4; r < 8; r++)                                                \
                            _mm_prefetch((const char *)L->weight + ((n + r) * K + k) * (int64_t)sizeof(*WT), _MM_HINT_T0); \
                    a0 = _mm512_fmadd_ps(LOAD(L->weight, (n + 0) * K + k), xv, a0);                \
                    a1 = _mm512_fmadd_ps(LOAD(L->weight, (n + 1) * K + k), xv, a1);                \
                    a2 = _mm512_fmadd_ps(LOAD(L->weight, (n + 2) * K + k), xv, a2);                \
                    a3 = _mm512_fmadd_ps(LOAD(L->weight, (n + 3) * K + k), xv, a3);                \
                }                                                                                  \
                float *ym = y + m * N + n;                                                         \
                ym[0] = _mm512_reduce_add_ps(a0); ym[1] = _mm512_reduce_add_ps(a1);                \
                ym[2] = _mm512_reduce_add_ps(a2); ym[3] = _mm512_reduce_add_ps(a3);                \
            }                                                                                      \
        }                                                                                          \
        for (; n < n1; n++)                                                                        \
            for (int m = 0; m < M; m++) {                                                          \
                __m512 a = _mm512_setzero_ps();                                                    \
                for (int64_t k = 0; k < K; k += 16)                                                \
                    a = _mm512_fmadd_ps(LOAD(L->weight, n * K + k), _mm512_loadu_ps(x + m * K + k), a); \
                y[m * N + n] = _mm512_reduce_add_ps(a);                                            \
            }                                                                                      \
    }
DENSE_ROWS(rows_f32, load_f32, (const float *)0)
DENSE_ROWS(rows_bf16, load_bf16, (const uint16_t *)0)

/* Grouped formats: the K inputs form groups of 32, each with its own scale (and minimum).
   int8:  w = scale_g · q, q in [-127, 127], one byte each (llama.cpp's Q8_0 layout of values).
   4-bit: w = scale_g · q + minimum_g, q in [0, 15]; byte j of group g holds q[32g + j] (low
          nibble) and q[32g + 16 + j] (high nibble) (llama.cpp's Q4_1 values).
   Σ_k x_k w_k = Σ_g scale_g Σ_{k∈g} x_k q_k (+ minimum_g Σ_{k∈g} x_k): one fp32 dot per group,
   then one FMA by the group's scale. xsum (M, K/32) holds the per-group sums of x. */
static inline __m512 q8_group(const uint8_t *p, const float *x) {  /* Σ x_k q_k over one group, 16 lanes */
    __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
    __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))));
    return _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x)));
}
static inline __m512 q4_group(const uint8_t *p, const float *x) {
    __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
    __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(15)));
    __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(q, 4));
    return _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x)));
}
static inline float masked_dot(const float *a, const float *b, int n) {  /* Σ a_i b_i, 16 lanes, masked tail */
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 live = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(live, a + i), _mm512_maskz_loadu_ps(live, b + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}
#define GROUPED_ROWS(NAME, GROUP_DOT, GROUP_BYTES)                                                  \
    static void NAME(const Linear *L, const float *x, const float *xsum, int M, float *y, int n0, int n1) { \
        const int64_t K = L->n_in, N = L->n_out, G = K / 32, row_bytes = G * (GROUP_BYTES);        \
        const uint8_t *w = (const uint8_t *)L->weight;                                             \
        for (int n = n0; n < n1; n += 4) {                                                         \
            int rows = n1 - n < 4 ? n1 - n : 4;                                                    \
            for (int m = 0; m < M; m++) {                                                          \
                const float *xm = x + m * K;                                                       \
                __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()}; \
                for (int64_t g = 0; g < G; g++) {                                                  \
                    if (m == 0 && (g * (GROUP_BYTES)) % 64 == 0 && n + 8 <= n1)  /* next 4 rows */ \
                        for (int r = 4; r < 8; r++)                                                \
                            _mm_prefetch((const char *)w + (n + r) * row_bytes + g * (GROUP_BYTES), _MM_HINT_T0); \
                    for (int r = 0; r < rows; r++)                                                 \
                        a[r] = _mm512_fmadd_ps(GROUP_DOT(w + (n + r) * row_bytes + g * (GROUP_BYTES), xm + g * 32), \
                                               _mm512_set1_ps(L->scale[(n + r) * G + g]), a[r]);   \
                }                                                                                  \
                for (int r = 0; r < rows; r++) {                                                   \
                    float offset = 0.0f;                                                           \
                    if (L->minimum) offset = masked_dot(L->minimum + (n + r) * G, xsum + m * G, (int)G); \
                    y[m * N + n + r] = _mm512_reduce_add_ps(a[r]) + offset;                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
GROUPED_ROWS(rows_q8, q8_group, 32)
GROUPED_ROWS(rows_q4, q4_group, 16)

/* ---- prefill: many tokens at once ----------------------------------------------------------
   With M ≥ 4 tokens the same weights serve every token, so they are unpacked to fp32 once per
   panel of 16 rows (exactly as `dequantize` in kernels.py: scale · q (+ minimum)), then multiplied
   in 4 × 4 register tiles: 4 weight rows × 4 tokens = 16 accumulators, so each vector loaded
   feeds 4 FMAs. */
#define PANEL 16
static void unpack_rows(const Linear *L, int n0, int rows, float *out) {
    const int64_t K = L->n_in, G = K / 32;
    for (int r = 0; r < rows; r++) {
        const int64_t n = n0 + r;
        float *o = out + r * K;
        if (L->format == FMT_BF16) {
            for (int64_t k = 0; k < K; k += 16) _mm512_storeu_ps(o + k, load_bf16(L->weight, n * K + k));
        } else if (L->format == FMT_Q8) {
            const int8_t *q = (const int8_t *)L->weight + n * K;
            for (int64_t k = 0; k < K; k += 16)
                _mm512_storeu_ps(o + k, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                    _mm_loadu_si128((const __m128i *)(q + k)))), _mm512_set1_ps(L->scale[n * G + k / 32])));
        } else {  /* FMT_Q4 */
            const uint8_t *q = (const uint8_t *)L->weight + n * (K / 2);
            for (int64_t g = 0; g < G; g++) {
                __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + g * 16)));
                __m512 scale = _mm512_set1_ps(L->scale[n * G + g]), minimum = _mm512_set1_ps(L->minimum[n * G + g]);
                __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(b, _mm512_set1_epi32(15)));
                __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(b, 4));
                _mm512_storeu_ps(o + g * 32, _mm512_add_ps(_mm512_mul_ps(lo, scale), minimum));
                _mm512_storeu_ps(o + g * 32 + 16, _mm512_add_ps(_mm512_mul_ps(hi, scale), minimum));
            }
        }
    }
}

/* y[m, n0 + r] = w[r] · x[m] for r < rows (w: rows × K fp32), every m < M. */
static void panel_f32(const float *w, int rows, int64_t K, const float *x, int M, float *y, int64_t N, int n0) {
    for (int r = 0; r < rows; r += 4)
        for (int m = 0; m < M; m += 4) {
            if (r + 4 <= rows && m + 4 <= M) {
                __m512 c[4][4];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) c[i][j] = _mm512_setzero_ps();
                for (int64_t k = 0; k < K; k += 16) {
                    __m512 wv[4], xv[4];
                    for (int i = 0; i < 4; i++) wv[i] = _mm512_loadu_ps(w + (r + i) * K + k);
                    for (int j = 0; j < 4; j++) xv[j] = _mm512_loadu_ps(x + (m + j) * K + k);
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) c[i][j] = _mm512_fmadd_ps(wv[i], xv[j], c[i][j]);
                }
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) y[(int64_t)(m + j) * N + n0 + r + i] = _mm512_reduce_add_ps(c[i][j]);
            } else {  /* the ragged edge: one dot product at a time */
                for (int i = r; i < rows && i < r + 4; i++)
                    for (int j = m; j < M && j < m + 4; j++) {
                        __m512 a = _mm512_setzero_ps();
                        for (int64_t k = 0; k < K; k += 16)
                            a = _mm512_fmadd_ps(_mm512_loadu_ps(w + i * K + k), _mm512_loadu_ps(x + j * K + k), a);
                        y[(int64_t)j * N + n0 + i] = _mm512_reduce_add_ps(a);
                    }
            }
        }
}

static void prefill_rows(const Linear *L, const float *x, int M, float *y, int n0, int n1) {
    static __thread float *buffer = NULL;  /* one panel of unpacked rows per thread */
    static __thread int64_t capacity = 0;
    const int64_t K = L->n_in, N = L->n_out;
    if (L->format != FMT_F32 && capacity < PANEL * K) {
        free(buffer);
        buffer = (float *)aligned_alloc(64, PANEL * K * sizeof(float));
        capacity = PANEL * K;
    }
    for (int p = n0; p < n1; p += PANEL) {
        int rows = n1 - p < PANEL ? n1 - p : PANEL;
        const float *w = (const float *)L->weight + (int64_t)p * K;
        if (L->format != FMT_F32) {
            unpack_rows(L, p, rows, buffer);
            w = buffer;
        }
        panel_f32(w, rows, K, x, M, y, N, p);
    }
}

#else  /* ---- 8 lanes: AVX2+FMA intrinsics, or portable vector types ---------------------------- */
#if defined(__AVX2__) && defined(__FMA__)
#define KERNELS_ISA "avx2"
typedef __m256 vf;
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_SET1(s) _mm256_set1_ps(s)
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))  /* a·b + c */
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
static inline float v_sum(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
static inline vf load_bf16(const void *p, int64_t i) {  /* bf16 is the top half of an fp32 */
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline void i8_unpack16(const int8_t *p, vf out[2]) {  /* 16 int8 → 2 × 8 floats */
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8))));
}
/* the 32 weights of one 4-bit group (16 bytes: low nibbles k = 0…15, high nibbles k = 16…31) as 4 × 8 lanes */
static inline void q4_unpack(const uint8_t *p, vf q[4]) {
    __m128i b = _mm_loadu_si128((const __m128i *)p), mask = _mm_set1_epi8(15);
    __m128i lo = _mm_and_si128(b, mask), hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
    q[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    q[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    q[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    q[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}
#else
#define KERNELS_ISA "portable"
/* Widening bytes to floats is written with shuffles against zero (zip, in NEON's words): a plain
   __builtin_convertvector from 8 bytes is scalarized by gcc on SSE2. Each 128-bit shuffle below is
   one punpck on SSE2 and one zip1/zip2 on NEON. */
typedef float vf __attribute__((vector_size(32), aligned(4), may_alias));  /* 8 lanes, unaligned */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi32x4 __attribute__((vector_size(16)));
typedef uint8_t vu8x16 __attribute__((vector_size(16), aligned(1), may_alias));
typedef int16_t vi16x8 __attribute__((vector_size(16), aligned(1), may_alias));
typedef uint16_t vu16x8 __attribute__((vector_size(16), aligned(2), may_alias));
#define V_ZERO() ((vf){0})
#define V_LOAD(p) (*(const vf *)(p))
#define V_STORE(p, v) (*(vf *)(p) = (v))
#define V_SET1(s) ((vf){0} + (s))
#define V_FMA(a, b, c) ((a) * (b) + (c))  /* two roundings: -ffp-contract=off keeps them apart */
#define V_MUL(a, b) ((a) * (b))
#define V_ADD(a, b) ((a) + (b))
#define PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#define ZIP_LO16(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define ZIP_HI16(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#define ZIP_LO8(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIP_HI8(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
static inline float v_sum(vf v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }
static inline vf join(vf4 lo, vf4 hi) { return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7); }
static inline vf i16_to_f(vi16x8 w) {  /* 8 int16 → 8 floats: w in the top half of each int32, then >> 16 */
    const vi16x8 z = {0};
    vi32x4 lo = (vi32x4)ZIP_LO8(z, w) >> 16, hi = (vi32x4)ZIP_HI8(z, w) >> 16;
    return join(__builtin_convertvector(lo, vf4), __builtin_convertvector(hi, vf4));
}
static inline vf load_bf16(const void *p, int64_t i) {  /* bf16 is the top half of an fp32 */
    const vu16x8 z = {0}, w = *(const vu16x8 *)((const uint16_t *)p + i);
    return join((vf4)ZIP_LO8(z, w), (vf4)ZIP_HI8(z, w));
}
static inline void i8_unpack16(const int8_t *p, vf out[2]) {  /* 16 int8 → 2 × 8 floats: b in each int16's top byte, >> 8 */
    const vu8x16 z = {0}, b = *(const vu8x16 *)p;
    out[0] = i16_to_f((vi16x8)ZIP_LO16(z, b) >> 8);
    out[1] = i16_to_f((vi16x8)ZIP_HI16(z, b) >> 8);
}
static inline void q4_unpack(const uint8_t *p, vf q[4]) {
    const vu8x16 z = {0}, b = *(const vu8x16 *)p, lo = b & 15, hi = b >> 4;
    q[0] = i16_to_f((vi16x8)ZIP_LO16(lo, z)); q[1] = i16_to_f((vi16x8)ZIP_HI16(lo, z));
    q[2] = i16_to_f((vi16x8)ZIP_LO16(hi, z)); q[3] = i16_to_f((vi16x8)ZIP_HI16(hi, z));
}
#endif

static inline vf load_f32(const void *p, int64_t i) { return V_LOAD((const float *)p + i); }

/* y[m, n] = Σ_k x[m, k] · w[n, k] for rows n0 ≤ n < n1; K a multiple of 8. 4 rows at a time
   (4 independent FMA chains), the next 4 rows prefetched a block ahead. */
#define DENSE_ROWS(NAME, LOAD, WT)                                                                    \
    static void NAME(const Linear *L, const float *x, int M, float *y, int n0, int n1) {           \
        const int64_t K = L->n_in, N = L->n_out;                                                   \
        int n = n0;                                                                                \
        for (; n + 4 <= n1; n += 4) {                                                              \
            for (int m = 0; m < M; m++) {                                                          \
                const float *xm = x + m * K;                                                       \
                vf a0 = V_ZERO(), a1 = a0, a2 = a0, a3 = a0;                                       \
                for (int64_t k = 0; k < K; k += 8) {                                               \
                    vf xv = V_LOAD(xm + k);                                                        \
                    if (m == 0 && (k & 15) == 0 && n + 8 <= n1)                                    \
                        for (int r = 4; r < 8; r++)                                                \
                            PREFETCH((const char *)L->weight + ((n + r) * K + k) * (int64_t)sizeof(*WT)); \
                    a0 = V_FMA(LOAD(L->weight, (n + 0) * K + k), xv, a0);                          \
                    a1 = V_FMA(LOAD(L->weight, (n + 1) * K + k), xv, a1);                          \
                    a2 = V_FMA(LOAD(L->weight, (n + 2) * K + k), xv, a2);                          \
                    a3 = V_FMA(LOAD(L->weight, (n + 3) * K + k), xv, a3);                          \
                }                                                                                  \
                float *ym = y + m * N + n;                                                         \
                ym[0] = v_sum(a0); ym[1] = v_sum(a1); ym[2] = v_sum(a2); ym[3] = v_sum(a3);        \
            }                                                                                      \
        }                                                                                          \
        for (; n < n1; n++)                                                                        \
            for (int m = 0; m < M; m++) {                                                          \
                vf a = V_ZERO();                                                                   \
                for (int64_t k = 0; k < K; k += 8)                                                 \
                    a = V_FMA(LOAD(L->weight, n * K + k), V_LOAD(x + m * K + k), a);               \
                y[m * N + n] = v_sum(a);                                                           \
            }                                                                                      \
    }
DENSE_ROWS(rows_f32, load_f32, (const float *)0)
DENSE_ROWS(rows_bf16, load_bf16, (const uint16_t *)0)

/* Grouped formats (see the AVX-512 section above for the arithmetic): one fp32 dot per group of
   32, 8 lanes wide, then one multiply-add by the group's scale. */
static inline vf q8_group(const uint8_t *p, const float *x) {
    const int8_t *q = (const int8_t *)p;
    vf v[4];
    i8_unpack16(q, v);
    i8_unpack16(q + 16, v + 2);
    vf a = V_MUL(v[0], V_LOAD(x));
    a = V_FMA(v[1], V_LOAD(x + 8), a);
    a = V_FMA(v[2], V_LOAD(x + 16), a);
    return V_FMA(v[3], V_LOAD(x + 24), a);
}
static inline vf q4_group(const uint8_t *p, const float *x) {
    vf q[4];
    q4_unpack(p, q);
    vf a = V_MUL(q[0], V_LOAD(x));
    a = V_FMA(q[1], V_LOAD(x + 8), a);
    a = V_FMA(q[2], V_LOAD(x + 16), a);
    return V_FMA(q[3], V_LOAD(x + 24), a);
}
static inline float small_dot(const float *a, const float *b, int n) {  /* Σ a_i b_i for short n */
    vf acc = V_ZERO();
    int i = 0;
    for (; i + 8 <= n; i += 8) acc = V_FMA(V_LOAD(a + i), V_LOAD(b + i), acc);
    float s = v_sum(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#define GROUPED_ROWS(NAME, GROUP_DOT, GROUP_BYTES)                                                  \
    static void NAME(const Linear *L, const float *x, const float *xsum, int M, float *y, int n0, int n1) { \
        const int64_t K = L->n_in, N = L->n_out, G = K / 32, row_bytes = G * (GROUP_BYTES);        \
        const uint8_t *w = (const uint8_t *)L->weight;                                             \
        for (int n = n0; n < n1; n += 4) {                                                         \
            int rows = n1 - n < 4 ? n1 - n : 4;                                                    \
            for (int m = 0; m < M; m++) {                                                          \
                const float *xm = x + m * K;                                                       \
                vf a[4] = {V_ZERO(), V_ZERO(), V_ZERO(), V_ZERO()};                                \
                for (int64_t g = 0; g < G; g++) {                                                  \
                    if (m == 0 && (g * (GROUP_BYTES)) % 64 == 0 && n + 8 <= n1)                    \
                        for (int r = 4; r < 8; r++)                                                \
                            PREFETCH((const char *)w + (n + r) * row_bytes + g * (GROUP_BYTES));   \
                    for (int r = 0; r < rows; r++)                                                 \
                        a[r] = V_FMA(GROUP_DOT(w + (n + r) * row_bytes + g * (GROUP_BYTES), xm + g * 32), \
                                     V_SET1(L->scale[(n + r) * G + g]), a[r]);                     \
                }                                                                                  \
                for (int r = 0; r < rows; r++) {                                                   \
                    float offset = 0.0f;                                                           \
                    if (L->minimum) offset = small_dot(L->minimum + (n + r) * G, xsum + m * G, (int)G); \
                    y[m * N + n + r] = v_sum(a[r]) + offset;                                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
GROUPED_ROWS(rows_q8, q8_group, 32)
GROUPED_ROWS(rows_q4, q4_group, 16)

/* ---- prefill: weights unpacked to fp32 once per panel of 16 rows (as `dequantize`), then
   multiplied in 4 rows × 2 tokens register tiles (8 accumulators + 6 loads fit 16 registers). */
#define PANEL 16
static void unpack_rows(const Linear *L, int n0, int rows, float *out) {
    const int64_t K = L->n_in, G = K / 32;
    for (int r = 0; r < rows; r++) {
        const int64_t n = n0 + r;
        float *o = out + r * K;
        if (L->format == FMT_BF16) {
            for (int64_t k = 0; k < K; k += 8) V_STORE(o + k, load_bf16(L->weight, n * K + k));
        } else if (L->format == FMT_Q8) {
            const int8_t *q = (const int8_t *)L->weight + n * K;
            for (int64_t k = 0; k < K; k += 16) {
                vf v[2], scale = V_SET1(L->scale[n * G + k / 32]);
                i8_unpack16(q + k, v);
                V_STORE(o + k, V_MUL(v[0], scale));
                V_STORE(o + k + 8, V_MUL(v[1], scale));
            }
        } else {  /* FMT_Q4 */
            const uint8_t *q = (const uint8_t *)L->weight + n * (K / 2);
            for (int64_t g = 0; g < G; g++) {
                vf v[4], scale = V_SET1(L->scale[n * G + g]), minimum = V_SET1(L->minimum[n * G + g]);
                q4_unpack(q + g * 16, v);
                for (int i = 0; i < 4; i++) V_STORE(o + g * 32 + 8 * i, V_ADD(V_MUL(v[i], scale), minimum));
            }
        }
    }
}

static void panel_f32(const float *w, int rows, int64_t K, const float *x, int M, float *y, int64_t N, int n0) {
    for (int r = 0; r < rows; r += 4)
        for (int m = 0; m < M; m += 2) {
            if (r + 4 <= rows && m + 2 <= M) {
                vf c[4][2];
                for (int i = 0; i < 4; i++) c[i][0] = c[i][1] = V_ZERO();
                for (int64_t k = 0; k < K; k += 8) {
                    vf x0 = V_LOAD(x + (int64_t)m * K + k), x1 = V_LOAD(x + (int64_t)(m + 1) * K + k);
                    for (int i = 0; i < 4; i++) {
                        vf wv = V_LOAD(w + (r + i) * K + k);
                        c[i][0] = V_FMA(wv, x0, c[i][0]);
                        c[i][1] = V_FMA(wv, x1, c[i][1]);
                    }
                }
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 2; j++) y[(int64_t)(m + j) * N + n0 + r + i] = v_sum(c[i][j]);
            } else {  /* the ragged edge: one dot product at a time */
                for (int i = r; i < rows && i < r + 4; i++)
                    for (int j = m; j < M && j < m + 2; j++) {
                        vf a = V_ZERO();
                        for (int64_t k = 0; k < K; k += 8) a = V_FMA(V_LOAD(w + i * K + k), V_LOAD(x + (int64_t)j * K + k), a);
                        y[(int64_t)j * N + n0 + i] = v_sum(a);
                    }
            }
        }
}

static void prefill_rows(const Linear *L, const float *x, int M, float *y, int n0, int n1) {
    static __thread float *buffer = NULL;  /* one panel of unpacked rows per thread */
    static __thread int64_t capacity = 0;
    const int64_t K = L->n_in, N = L->n_out;
    if (L->format != FMT_F32 && capacity < PANEL * K) {
        free(buffer);
        buffer = (float *)aligned_alloc(64, PANEL * K * sizeof(float));
        capacity = PANEL * K;
    }
    for (int p = n0; p < n1; p += PANEL) {
        int rows = n1 - p < PANEL ? n1 - p : PANEL;
        const float *w = (const float *)L->weight + (int64_t)p * K;
        if (L->format != FMT_F32) {
            unpack_rows(L, p, rows, buffer);
            w = buffer;
        }
        panel_f32(w, rows, K, x, M, y, N, p);
    }
}
#endif  /* the 8-lane kernels */

/* The instruction set this copy of the library was compiled for: "avx512", "avx2" or "portable". */
const char *kernels_isa(void) { return KERNELS_ISA; }

/* y (M, N) = x (M, K) · Wᵀ, output rows in about 8 chunks per thread (each a multiple of 4 rows,
   at least 32): enough to even out threads that run at different speeds, few enough that claiming
   chunks (one atomic each) costs nothing. */
typedef struct { const Linear *L; const float *x; int M; float *y; const float *xsum; int rows; } LinearJob;

static void linear_chunk(const void *ctx, int chunk) {
    const LinearJob *j = (const LinearJob *)ctx;
    int n0 = chunk * j->rows, n1 = n0 + j->rows < j->L->n_out ? n0 + j->rows : j->L->n_out;
    if (j->M >= 4) {
        prefill_rows(j->L, j->x, j->M, j->y, n0, n1);
        return;
    }
    switch (j->L->format) {
        case FMT_F32: rows_f32(j->L, j->x, j->M, j->y, n0, n1); break;
        case FMT_BF16: rows_bf16(j->L, j->x, j->M, j->y, n0, n1); break;
        case FMT_Q8: rows_q8(j->L, j->x, j->xsum, j->M, j->y, n0, n1); break;
        case FMT_Q4: rows_q4(j->L, j->x, j->xsum, j->M, j->y, n0, n1); break;
    }
}

void linear(const Linear *L, const float *x, int M, float *y, float *xsum, int threads) {
    const int K = L->n_in;
    if (L->format == FMT_Q4)
        for (int m = 0; m < M; m++)
            for (int g = 0; g < K / 32; g++) {
                float s = 0.0f;
                for (int k = 0; k < 32; k++) s += x[(int64_t)m * K + g * 32 + k];
                xsum[m * (K / 32) + g] = s;
            }
    int rows = (L->n_out / (8 * (threads > 0 ? threads : 1)) + 3) & ~3;
    if (rows < 32) rows = 32;
    LinearJob job = {L, x, M, y, xsum, rows};
    pool_run(linear_chunk, &job, (L->n_out + rows - 1) / rows, threads);
}

/* For measurements (kernels.time_linear): `linear` applied `repeats` times with no Python in between. */
void linear_repeat(const Linear *L, const float *x, int M, float *y, float *xsum, int threads, int repeats) {
    for (int i = 0; i < repeats; i++) linear(L, x, M, y, xsum, threads);
}
