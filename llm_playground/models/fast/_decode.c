/* One decoder step (Llama, Gemma-3, GPT-2: decode or prefill) in C: the fast path of llm_playground.models.fast.

   Read llm_playground/models/fast/reference.py first: it is the same computation in plain torch,
   and the tests prove the two equal. This file makes it fast on any CPU (the matrix kernels, in
   _kernels.h, come in AVX-512, AVX2+FMA and portable builds; kernels.py loads the best):
   - every weight matrix is streamed once per step by a GEMV that reads 4 rows at a time (4
     independent FMA chains) from fp32, bf16, int8 (a scale per group of 32 inputs) or 4-bit
     (a scale and a minimum per group of 32) storage, converting to fp32 in registers;
     activations and sums stay fp32;
   - output rows are split into chunks that the calling thread and helper threads claim one at a
     time (pool_run below), so a helper that the OS has not scheduled never holds up a step;
   - the whole step (embedding → 30 blocks → head) is one call, so no Python runs per layer.
   Shapes: T rows (tokens, each of one sequence at one position), C = n_embd, I = intermediate, hs = head_dim. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FMT_F32 = 0, FMT_BF16 = 1, FMT_Q8 = 2, FMT_Q4 = 3 };

typedef struct {
    int32_t format, n_out, n_in, pad;
    const void *weight;    /* f32 (N, K) | bf16 bits (N, K) | int8 (N, K) | packed nibbles (N, K/2) */
    const float *scale;    /* Q8, Q4: (N, K/32) */
    const float *minimum;  /* Q4: (N, K/32) */
} Linear;


/* ---- a tiny thread pool: work-claiming, no barrier ---------------------------------------
   The caller publishes a job of n chunks and claims chunks itself; helpers that are awake claim
   chunks too. The caller then waits only for chunks that were claimed, never for a helper to
   wake up: on a busy machine (other processes on the cores) a fork/join barrier would wait for
   a descheduled thread every time, i.e. ~150 times per token.
   state = generation (24 bits) | chunk count (20 bits) | next chunk (20 bits), one atomic word,
   so a helper can only claim a chunk of the job it read. */
typedef void (*task_fn)(const void *ctx, int chunk);
static _Alignas(64) _Atomic uint64_t pool_state;  /* own cache lines: the counters are written by */
static _Alignas(64) atomic_int pool_done;          /* different threads at the same time */
static _Alignas(64) atomic_int pool_sleepers, pool_helpers, pool_wanted;
static task_fn pool_fn;
static const void *pool_ctx;
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
#define STATE(gen, n, next) (((uint64_t)(gen) << 40) | ((uint64_t)(n) << 20) | (uint64_t)(next))
#define STATE_GEN(s) ((s) >> 40)
#define STATE_N(s) (((s) >> 20) & 0xFFFFF)
#define STATE_NEXT(s) ((s) & 0xFFFFF)

static int claim(uint64_t gen) {  /* a chunk index of job `gen`, or -1 when none is left */
    uint64_t s = atomic_load(&pool_state);
    while (STATE_GEN(s) == gen && STATE_NEXT(s) < STATE_N(s))
        if (atomic_compare_exchange_weak(&pool_state, &s, s + 1)) return (int)STATE_NEXT(s);
    return -1;
}

static void work(uint64_t gen) {
    int chunk;
    while ((chunk = claim(gen)) >= 0) {  /* the job cannot finish (nor its fn/ctx change) before this chunk is done */
        pool_fn(pool_ctx, chunk);
        atomic_fetch_add(&pool_done, 1);
    }
}

static void *helper(void *arg) {
    int index = (int)(intptr_t)arg;
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        uint64_t s;
        while (STATE_GEN(s = atomic_load(&pool_state)) == seen) {
            /* wait for the next job: spin briefly, then yield the core (the caller may share it
               with us while it runs the serial parts of a step), then sleep */
            if (++spins < 200) { cpu_relax(); continue; }
            if (spins < 20000) { sched_yield(); continue; }
            pthread_mutex_lock(&pool_mutex);
            atomic_fetch_add(&pool_sleepers, 1);
            while (STATE_GEN(atomic_load(&pool_state)) == seen) pthread_cond_wait(&pool_wake, &pool_mutex);
            atomic_fetch_sub(&pool_sleepers, 1);
            pthread_mutex_unlock(&pool_mutex);
            spins = 0;
        }
        seen = STATE_GEN(s);
        if (index < atomic_load(&pool_wanted)) work(seen);
    }
    return NULL;
}

/* Run fn(ctx, 0 … n-1) on the caller and up to threads - 1 helpers; return when all are done. */
static void pool_run(task_fn fn, const void *ctx, int n, int threads) {
    static uint64_t generation = 0;
    if (threads <= 1 || n <= 1) {
        for (int i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    while (atomic_load(&pool_helpers) < threads - 1) {
        pthread_t thread;
        int index = atomic_fetch_add(&pool_helpers, 1);
        if (pthread_create(&thread, NULL, helper, (void *)(intptr_t)index) != 0) {
            atomic_fetch_sub(&pool_helpers, 1);
            break;
        }
        pthread_detach(thread);
    }
    atomic_store(&pool_wanted, threads - 1);
    pool_fn = fn;
    pool_ctx = ctx;
    atomic_store(&pool_done, 0);
    generation = (generation + 1) & 0xFFFFFF;
    if (generation == 0) generation = 1;  /* helpers start having seen generation 0 */
    atomic_store(&pool_state, STATE(generation, n, 0));
    if (atomic_load(&pool_sleepers) > 0) {
        pthread_mutex_lock(&pool_mutex);
        pthread_cond_broadcast(&pool_wake);
        pthread_mutex_unlock(&pool_mutex);
    }
    work(generation);
    /* wait only for chunks a helper is running right now; if that takes long, the helper was
       probably preempted: yielding lets the OS run it (or something else) on this core */
    for (int spins = 0; atomic_load(&pool_done) < n; spins++) {
        if (spins < 4000) cpu_relax();
        else sched_yield();
    }
}

#include "_kernels.h"

/* ==== the model step: one decoder step (Llama, Gemma-3, GPT-2) over the kernels above =========
   Read llm_playground/models/fast/reference.py first: it is this computation in plain torch, and
   the tests prove the two equal. This part is portable C: the matrix products go through
   `linear` (the CPU-specific kernels above), everything else is plain loops that gcc vectorizes
   for any target (GCC vector types `vf8` where a sum runs across lanes, since without
   -ffast-math gcc will not reorder a float sum by itself). */
typedef float vf8 __attribute__((vector_size(32), aligned(4), may_alias));  /* 8 lanes, unaligned loads */

static inline float sum8(vf8 v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }

static inline float dot_f(const float *a, const float *b, int n) {  /* Σ a_i b_i */
    vf8 acc0 = {0}, acc1 = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 += *(const vf8 *)(a + i) * *(const vf8 *)(b + i);
        acc1 += *(const vf8 *)(a + i + 8) * *(const vf8 *)(b + i + 8);
    }
    for (; i + 8 <= n; i += 8) acc0 += *(const vf8 *)(a + i) * *(const vf8 *)(b + i);
    float s = sum8(acc0 + acc1);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline float sum_f(const float *a, int n) {
    vf8 acc = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) acc += *(const vf8 *)(a + i);
    float s = sum8(acc);
    for (; i < n; i++) s += a[i];
    return s;
}

/* e^x (Cephes' expf: a degree-7 polynomial on r = x - n·ln2, times 2^n built in the exponent
   bits); relative error ~1e-7. Branch-free, so loops over it vectorize. x ≤ -87 gives ~1e-38. */
static inline float exp_f(float x) {
    x = x < 88.0f ? x : 88.0f;
    x = x > -87.0f ? x : -87.0f;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;  /* ln2 in two parts: n·ln2_hi is exact */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + (r + 1.0f);
    union { int32_t i; float f; } two_n = {.i = ((int32_t)n + 127) << 23};
    return p * two_n.f;
}

/* ---- prefill: matrix-matrix products over a panel of tokens ------------------------------
   y (M, N) = x (M, K) · Wᵀ for M ≥ Model.gemm_min_rows tokens, in the classic register-tiled form.
   A task takes 16 output rows of W, unpacks them to fp32 with the kernels' own `unpack_rows`
   (exactly `dequantize`), lays them out k-major (K × 16), then sweeps every token over them in
   tiles of 6 tokens × 16 outputs: 12 accumulators of 8 lanes, each weight vector loaded feeds 6
   FMAs and each token value broadcast feeds 2, no horizontal sums. K runs in blocks of 256 so the
   weight block (16 KB) stays in L1 while the tokens stream past. Written with GCC vector types:
   the compiler emits AVX-512/AVX2/NEON code for whatever target the library is built for. */
#define GEMM_NR 16
#define GEMM_MR 6
#define GEMM_KC 256
#define GEMM_MIN_ROWS 16  /* a run of this many positions of one sequence takes the attention GEMMs */

__attribute__((optimize("fp-contract=fast")))  /* a·b + c as one FMA where the target has it */
static void gemm_tile(const float *panel, int64_t stride, const float *const x[GEMM_MR], int kc,
                      float *const y[GEMM_MR], int rows, int cols, int accumulate) {  /* panel[k·stride + n], n < 16 */
    vf8 c[GEMM_MR][2];
    for (int i = 0; i < GEMM_MR; i++) {
        if (accumulate && i < rows && cols == GEMM_NR) {
            c[i][0] = *(const vf8 *)y[i];
            c[i][1] = *(const vf8 *)(y[i] + 8);
        } else if (accumulate && i < rows) {
            float full[GEMM_NR] = {0};
            memcpy(full, y[i], cols * sizeof(float));
            c[i][0] = *(const vf8 *)full;
            c[i][1] = *(const vf8 *)(full + 8);
        } else {
            c[i][0] = c[i][1] = (vf8){0};
        }
    }
    for (int k = 0; k < kc; k++) {
        const vf8 b0 = *(const vf8 *)(panel + k * stride), b1 = *(const vf8 *)(panel + k * stride + 8);
        for (int i = 0; i < GEMM_MR; i++) {
            const float a = x[i][k];
            c[i][0] += a * b0;
            c[i][1] += a * b1;
        }
    }
    for (int i = 0; i < rows; i++) {
        if (cols == GEMM_NR) {
            *(vf8 *)y[i] = c[i][0];
            *(vf8 *)(y[i] + 8) = c[i][1];
        } else {
            float full[GEMM_NR];
            *(vf8 *)full = c[i][0];
            *(vf8 *)(full + 8) = c[i][1];
            memcpy(y[i], full, cols * sizeof(float));
        }
    }
}

typedef struct { const Linear *L; const float *x; int M; float *y; int panels_per_task; } GemmJob;

static void gemm_chunk(const void *ctx, int chunk) {
    static __thread float *rows_buffer = NULL, *panel = NULL;  /* per thread: 16 unpacked rows, their k-major copy */
    static __thread int64_t capacity = 0;
    const GemmJob *j = (const GemmJob *)ctx;
    const Linear *L = j->L;
    const int64_t K = L->n_in, N = L->n_out;
    if (capacity < GEMM_NR * K) {
        free(rows_buffer);
        free(panel);
        rows_buffer = (float *)malloc(GEMM_NR * K * sizeof(float));
        panel = (float *)malloc(GEMM_NR * K * sizeof(float));
        capacity = GEMM_NR * K;
    }
    for (int p = chunk * j->panels_per_task; p < (chunk + 1) * j->panels_per_task; p++) {
        const int n0 = p * GEMM_NR;
        if (n0 >= N) return;
        const int cols = N - n0 < GEMM_NR ? (int)(N - n0) : GEMM_NR;
        const float *w = (const float *)L->weight + (int64_t)n0 * K;
        if (L->format != FMT_F32) {
            unpack_rows(L, n0, cols, rows_buffer);
            w = rows_buffer;
        }
        for (int64_t k = 0; k < K; k++)  /* k-major, missing rows of the last panel zero */
            for (int r = 0; r < GEMM_NR; r++) panel[k * GEMM_NR + r] = r < cols ? w[r * K + k] : 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += GEMM_KC) {
            const int kc = K - k0 < GEMM_KC ? (int)(K - k0) : GEMM_KC;
            for (int m = 0; m < j->M; m += GEMM_MR) {
                const int rows = j->M - m < GEMM_MR ? j->M - m : GEMM_MR;
                const float *x[GEMM_MR];
                float *y[GEMM_MR];
                for (int i = 0; i < GEMM_MR; i++) {  /* a short last tile repeats its last token (not stored) */
                    const int row = m + (i < rows ? i : rows - 1);
                    x[i] = j->x + (int64_t)row * K + k0;
                    y[i] = j->y + (int64_t)row * N + n0;
                }
                gemm_tile(panel + k0 * GEMM_NR, GEMM_NR, x, kc, y, rows, cols, k0 > 0);
            }
        }
    }
}

/* y (M, N) = x (M, K) · Wᵀ: a matrix-matrix product for a panel of tokens, the kernels' `linear` otherwise. */
static void matmul(const Linear *L, const float *x, int M, float *y, float *xsum, int threads, int min_rows) {
    if (M < min_rows) {
        linear(L, x, M, y, xsum, threads);
        return;
    }
    const int panels = (L->n_out + GEMM_NR - 1) / GEMM_NR, wanted = 8 * (threads > 0 ? threads : 1);
    const int per_task = panels > wanted ? (panels + wanted - 1) / wanted : 1;
    GemmJob job = {L, x, M, y, per_task};
    pool_run(gemm_chunk, &job, (panels + per_task - 1) / per_task, threads);
}

enum { ACT_SILU = 0, ACT_GELU_TANH = 1, ACT_GELU = 2 };

typedef struct {
    const float *scale, *bias;  /* (width,); scale NULL: no such norm; bias NULL: RMSNorm, else LayerNorm */
} Norm;

typedef struct {
    Norm attn_norm, q_norm, k_norm, post_attn_norm, mlp_norm, post_mlp_norm;
    Linear qkv, o, gate_up, down;         /* (nh+2nkv)·hs × C, C × nh·hs, 2I (or I) × C, C × I */
    const float *qkv_bias, *o_bias, *gate_up_bias, *down_bias;  /* NULL: none (GPT-2 has them) */
    const float *rope_cos, *rope_sin;     /* (max_len, hs) at this layer's base; NULL: no RoPE */
    int32_t window, pad;                  /* sliding window in positions; 0: the whole cache */
    float *k_cache, *v_cache;             /* (sequences, nkv, max_len, hs) */
} Layer;

typedef struct {
    int32_t n_layer, n_embd, n_head, n_kv_head, head_dim, intermediate, vocab, max_len, max_tokens, threads;
    int32_t gated, activation;            /* gated: gate_up holds gate then up (SwiGLU, GeGLU); ACT_* */
    float eps, attn_scale, embedding_scale;
    int32_t gemm_min_rows;                /* row counts from this on take `matmul`'s tiled product (prefill) */
    const float *embedding;               /* (V, C) */
    const float *positions;               /* (block_size, C) learned positions (GPT-2), or NULL */
    Norm final_norm;
    Linear head;                          /* V × C */
    Layer *layers;
    float *x, *h, *qkv, *att, *gu, *act, *xsum;  /* scratch, sized for max_tokens rows */
} Model;

/* out[t] = norm(x[t]) for T rows of width C; out may be x. */
static void normalize(const float *x, Norm n, int T, int C, float eps, float *out) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (int64_t)t * C;
        float *o = out + (int64_t)t * C;
        if (n.bias == NULL) {  /* RMSNorm: scale · x / sqrt(mean(x²) + eps) */
            float r = 1.0f / sqrtf(dot_f(xt, xt, C) / C + eps);
            for (int c = 0; c < C; c++) o[c] = n.scale[c] * (xt[c] * r);
        } else {               /* LayerNorm: scale · (x - mean) / sqrt(var + eps) + bias */
            float mean = sum_f(xt, C) / C;
            for (int c = 0; c < C; c++) o[c] = xt[c] - mean;
            float r = 1.0f / sqrtf(dot_f(o, o, C) / C + eps);
            for (int c = 0; c < C; c++) o[c] = o[c] * r * n.scale[c] + n.bias[c];
        }
    }
}

static void add_bias(float *y, const float *bias, int T, int N) {
    if (bias == NULL) return;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) y[(int64_t)t * N + n] += bias[n];
}

/* x += norm(h) (or x += h without a sandwich norm), T rows of width C; h is overwritten. */
static void add_branch(float *x, float *h, Norm post, int T, int C, float eps) {
    if (post.scale != NULL) normalize(h, post, T, C, eps, h);
    for (int64_t i = 0; i < (int64_t)T * C; i++) x[i] += h[i];
}

/* v (hs,) rotated in place by position p: pairs (i, i + hs/2), as transformers' rotate_half. */
static void rope(float *v, const float *cos_p, const float *sin_p, int hs) {
    int half = hs / 2;
    for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cos_p[i] - x2 * sin_p[i];
        v[i + half] = x2 * cos_p[i + half] + x1 * sin_p[i + half];
    }
}

/* The MLP's hidden layer: act (T, I) from gu (T, 2I: gate | up) or (T, I: up). */
static void activate(const Model *M, int T) {
    const int I = M->intermediate, width = M->gated ? 2 * I : I;
    for (int t = 0; t < T; t++) {
        const float *g = M->gu + (int64_t)t * width, *u = g + I;
        float *a = M->act + (int64_t)t * I;
        if (M->activation == ACT_SILU)
            for (int i = 0; i < I; i++) a[i] = g[i] / (1.0f + exp_f(-g[i]));
        else if (M->activation == ACT_GELU_TANH)  /* 0.5 g (1 + tanh(√(2/π)(g + 0.044715 g³))), tanh y = 1 - 2/(e^2y + 1) */
            for (int i = 0; i < I; i++) {
                float y = 0.7978845608028654f * (g[i] + 0.044715f * g[i] * g[i] * g[i]);
                a[i] = 0.5f * g[i] * (2.0f - 2.0f / (exp_f(2.0f * y) + 1.0f));
            }
        else
            for (int i = 0; i < I; i++) a[i] = 0.5f * g[i] * (1.0f + erff(g[i] * 0.70710678118654752f));
        if (M->gated)
            for (int i = 0; i < I; i++) a[i] *= u[i];
    }
}

/* Causal grouped-query attention: row t (a token of sequence slot[t] at position pos[t]) attends
   to its sequence's cache, positions [pos[t] - window + 1, pos[t]] (sliding) or [0, pos[t]].
   One chunk = one (row, head) pair. */
typedef struct { const Model *M; const Layer *Ly; const int32_t *slot, *pos; int rows; } AttentionJob;

static void attention_chunk(const void *ctx, int chunk) {
    static __thread float *scores = NULL;  /* one row of probabilities per thread */
    static __thread int capacity = 0;
    const AttentionJob *j = (const AttentionJob *)ctx;
    const Model *M = j->M;
    const int nh = M->n_head, nkv = M->n_kv_head, hs = M->head_dim, group = nh / nkv;
    const int t = chunk / nh, h = chunk % nh, width = (nh + 2 * nkv) * hs;
    const int64_t head_offset = ((int64_t)j->slot[t] * nkv + h / group) * M->max_len * hs;
    const float *q = M->qkv + (int64_t)t * width + h * hs;
    const float *keys = j->Ly->k_cache + head_offset, *values = j->Ly->v_cache + head_offset;
    const int end = j->pos[t] + 1, window = j->Ly->window;
    const int begin = window > 0 && end > window ? end - window : 0;
    if (capacity < M->max_len) {
        free(scores);
        scores = (float *)malloc((size_t)M->max_len * sizeof(float));
        capacity = M->max_len;
    }
    float *p = scores + begin, top = -INFINITY;
    const int S = end - begin;
    for (int s = 0; s < S; s++) {
        p[s] = dot_f(q, keys + (int64_t)(begin + s) * hs, hs) * M->attn_scale;
        top = p[s] > top ? p[s] : top;
    }
    for (int s = 0; s < S; s++) p[s] = exp_f(p[s] - top);
    const float total = sum_f(p, S);
    float *out = M->att + (int64_t)t * nh * hs + h * hs;
    for (int i = 0; i < hs; i++) out[i] = 0.0f;
    for (int s = 0; s < S; s++) {
        const float w = p[s] / total, *v = values + (int64_t)(begin + s) * hs;
        for (int i = 0; i < hs; i++) out[i] += w * v[i];
    }
}

/* Prefill attention: T ≥ GEMM_MIN_ROWS consecutive positions of one sequence. One chunk = one head
   × a block of up to PREFILL_ROWS queries: scores = Q Kᵀ (keys laid out k-major, 16 at a time) and
   out = P V, both through `gemm_tile`; masked positions (the future, or outside a sliding window)
   get probability 0. The same softmax as attention_chunk, without one dot product per key. */
#define PREFILL_ROWS 48
static void prefill_attention_chunk(const void *ctx, int chunk) {
    static __thread float *scores = NULL, *panel = NULL;  /* PREFILL_ROWS × max_len; hs × 16 */
    static __thread int64_t capacity = 0, panel_capacity = 0;
    const AttentionJob *j = (const AttentionJob *)ctx;
    const Model *M = j->M;
    const int nh = M->n_head, nkv = M->n_kv_head, hs = M->head_dim, group = nh / nkv;
    const int blocks = (j->rows + PREFILL_ROWS - 1) / PREFILL_ROWS;
    const int h = chunk / blocks, t0 = (chunk % blocks) * PREFILL_ROWS;
    const int rows = j->rows - t0 < PREFILL_ROWS ? j->rows - t0 : PREFILL_ROWS;
    const int width = (nh + 2 * nkv) * hs, window = j->Ly->window, p0 = j->pos[0];
    const int64_t head_offset = ((int64_t)j->slot[0] * nkv + h / group) * M->max_len * hs;
    const float *keys = j->Ly->k_cache + head_offset, *values = j->Ly->v_cache + head_offset;
    const int end = p0 + t0 + rows;  /* keys [begin, end) cover every query of the block */
    const int begin = window > 0 && p0 + t0 + 1 > window ? p0 + t0 + 1 - window : 0, S = end - begin;
    if (capacity < (int64_t)PREFILL_ROWS * M->max_len) {
        free(scores);
        capacity = (int64_t)PREFILL_ROWS * M->max_len;
        scores = (float *)malloc(capacity * sizeof(float));
    }
    if (panel_capacity < (int64_t)hs * GEMM_NR) {
        free(panel);
        panel_capacity = (int64_t)hs * GEMM_NR;
        panel = (float *)malloc(panel_capacity * sizeof(float));
    }
    for (int s0 = 0; s0 < S; s0 += GEMM_NR) {  /* scores (rows, S) = Q Kᵀ, 16 keys at a time */
        const int cols = S - s0 < GEMM_NR ? S - s0 : GEMM_NR;
        for (int k = 0; k < hs; k++)  /* keys s0 … s0+15, k-major */
            for (int c = 0; c < GEMM_NR; c++)
                panel[k * GEMM_NR + c] = c < cols ? keys[(int64_t)(begin + s0 + c) * hs + k] : 0.0f;
        for (int m = 0; m < rows; m += GEMM_MR) {
            const int tile = rows - m < GEMM_MR ? rows - m : GEMM_MR;
            const float *q[GEMM_MR];
            float *y[GEMM_MR];
            for (int i = 0; i < GEMM_MR; i++) {
                const int r = m + (i < tile ? i : tile - 1);
                q[i] = M->qkv + (int64_t)(t0 + r) * width + h * hs;
                y[i] = scores + (int64_t)r * S + s0;
            }
            gemm_tile(panel, GEMM_NR, q, hs, y, tile, cols, 0);
        }
    }
    for (int r = 0; r < rows; r++) {  /* softmax over the positions row r may see; 0 elsewhere */
        float *p = scores + (int64_t)r * S;
        const int position = p0 + t0 + r;
        const int lo = (window > 0 && position + 1 > window ? position + 1 - window : 0) - begin, hi = position + 1 - begin;
        float top = -INFINITY;
        for (int s = lo; s < hi; s++) {
            p[s] *= M->attn_scale;
            top = p[s] > top ? p[s] : top;
        }
        for (int s = lo; s < hi; s++) p[s] = exp_f(p[s] - top);
        const float total = sum_f(p + lo, hi - lo);
        for (int s = 0; s < S; s++) p[s] = s >= lo && s < hi ? p[s] / total : 0.0f;
    }
    for (int m = 0; m < rows; m += GEMM_MR) {  /* out (rows, hs) = P V, V rows already k-major */
        const int tile = rows - m < GEMM_MR ? rows - m : GEMM_MR;
        for (int i0 = 0; i0 < hs; i0 += GEMM_NR) {
            const float *p[GEMM_MR];
            float *y[GEMM_MR];
            for (int i = 0; i < GEMM_MR; i++) {
                const int r = m + (i < tile ? i : tile - 1);
                y[i] = M->att + (int64_t)(t0 + r) * nh * hs + h * hs + i0;
            }
            for (int64_t k0 = 0; k0 < S; k0 += GEMM_KC) {
                const int kc = S - k0 < GEMM_KC ? (int)(S - k0) : GEMM_KC;
                for (int i = 0; i < GEMM_MR; i++) p[i] = scores + (int64_t)(m + (i < tile ? i : tile - 1)) * S + k0;
                gemm_tile(values + (begin + k0) * hs + i0, hs, p, kc, y, tile, GEMM_NR, k0 > 0);
            }
        }
    }
}

static void attend(const Model *M, const Layer *Ly, int T, const int32_t *slot, const int32_t *pos) {
    AttentionJob job = {M, Ly, slot, pos, T};
    int one_run = T >= GEMM_MIN_ROWS && M->head_dim % GEMM_NR == 0;  /* T positions in a row of one sequence */
    for (int t = 1; t < T && one_run; t++) one_run = slot[t] == slot[0] && pos[t] == pos[0] + t;
    if (one_run) {
        pool_run(prefill_attention_chunk, &job, M->n_head * ((T + PREFILL_ROWS - 1) / PREFILL_ROWS), M->threads);
        return;
    }
    /* one token over a short cache: too little work to share */
    pool_run(attention_chunk, &job, T * M->n_head, T > 1 || pos[0] >= 64 ? M->threads : 1);
}

/* Run T ≤ max_tokens rows: row t is token tokens[t] of sequence slot[t] at position pos[t] (its
   keys/values go into that sequence's cache). Rows of one sequence come in position order.
   logits: (T, V) when all_logits, else (V,) for the last row. */
void forward_rows(Model *M, const int64_t *tokens, const int32_t *slot, const int32_t *pos, int T, float *logits,
                  int all_logits) {
    const int C = M->n_embd, I = M->intermediate, hs = M->head_dim, nh = M->n_head, nkv = M->n_kv_head;
    const int width = (nh + 2 * nkv) * hs;
    for (int t = 0; t < T; t++) {
        float *x = M->x + (int64_t)t * C;
        const float *e = M->embedding + tokens[t] * (int64_t)C;
        for (int c = 0; c < C; c++) x[c] = e[c] * M->embedding_scale;  /* × 1 exactly, or × sqrt(C) (Gemma) */
        if (M->positions != NULL)
            for (int c = 0; c < C; c++) x[c] += M->positions[(int64_t)pos[t] * C + c];
    }
    for (int l = 0; l < M->n_layer; l++) {
        Layer *Ly = &M->layers[l];
        normalize(M->x, Ly->attn_norm, T, C, M->eps, M->h);
        matmul(&Ly->qkv, M->h, T, M->qkv, M->xsum, M->threads, M->gemm_min_rows);     /* (T, (nh + 2nkv)·hs) */
        add_bias(M->qkv, Ly->qkv_bias, T, width);
        for (int t = 0; t < T; t++) {
            float *row = M->qkv + (int64_t)t * width;
            if (Ly->q_norm.scale != NULL) {  /* Gemma-3: each query and key head normalised */
                normalize(row, Ly->q_norm, nh, hs, M->eps, row);
                normalize(row + nh * hs, Ly->k_norm, nkv, hs, M->eps, row + nh * hs);
            }
            if (Ly->rope_cos != NULL) {
                const float *c = Ly->rope_cos + (int64_t)pos[t] * hs, *s = Ly->rope_sin + (int64_t)pos[t] * hs;
                for (int h = 0; h < nh + nkv; h++) rope(row + h * hs, c, s, hs);  /* queries, then keys */
            }
            for (int h = 0; h < nkv; h++) {
                int64_t at = (((int64_t)slot[t] * nkv + h) * M->max_len + pos[t]) * hs;
                memcpy(Ly->k_cache + at, row + (nh + h) * hs, hs * sizeof(float));
                memcpy(Ly->v_cache + at, row + (nh + nkv + h) * hs, hs * sizeof(float));
            }
        }
        attend(M, Ly, T, slot, pos);                                    /* (T, nh·hs) */
        matmul(&Ly->o, M->att, T, M->h, M->xsum, M->threads, M->gemm_min_rows);         /* (T, C) */
        add_bias(M->h, Ly->o_bias, T, C);
        add_branch(M->x, M->h, Ly->post_attn_norm, T, C, M->eps);
        normalize(M->x, Ly->mlp_norm, T, C, M->eps, M->h);
        matmul(&Ly->gate_up, M->h, T, M->gu, M->xsum, M->threads, M->gemm_min_rows);   /* (T, 2I): gate | up, or (T, I) */
        add_bias(M->gu, Ly->gate_up_bias, T, M->gated ? 2 * I : I);
        activate(M, T);                                                 /* (T, I) */
        matmul(&Ly->down, M->act, T, M->h, M->xsum, M->threads, M->gemm_min_rows);     /* (T, C) */
        add_bias(M->h, Ly->down_bias, T, C);
        add_branch(M->x, M->h, Ly->post_mlp_norm, T, C, M->eps);
    }
    int first = all_logits ? 0 : T - 1, rows = T - first;
    normalize(M->x + (int64_t)first * C, M->final_norm, rows, C, M->eps, M->h);
    matmul(&M->head, M->h, rows, logits, M->xsum, M->threads, M->gemm_min_rows);       /* (rows, V) */
}
