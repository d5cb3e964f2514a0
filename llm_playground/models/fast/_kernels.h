/* The matrix kernels of the fast engine: y = x · Wᵀ for every weight storage format.

   Included by _decode.c (after the thread pool, which `linear` uses). This file holds everything
   that depends on the CPU's vector instructions; the model step in _decode.c is plain C.
   Formats (see kernels.py): FMT_F32, FMT_BF16, FMT_Q8 (a scale per group of 32), FMT_Q4 (a scale
   and a minimum per group of 32). Entry point: `linear` (decode rows for M < 4 tokens, unpacked
   panels times 4 × 4 register tiles for M ≥ 4). */
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
