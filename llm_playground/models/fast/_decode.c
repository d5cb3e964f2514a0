/* One Llama decode (or prefill) step in C: the fast path of llm_playground.models.fast.

   Read llm_playground/models/fast/reference.py first: it is the same computation in plain torch,
   and the tests prove the two equal. This file only makes it fast on a CPU with AVX-512:
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

typedef struct {
    const float *attn_norm, *mlp_norm;  /* (C,) */
    Linear qkv, o, gate_up, down;       /* (nh+2nkv)·hs × C, C × nh·hs, 2I × C, C × I */
    float *k_cache, *v_cache;           /* (sequences, nkv, max_len, hs) */
} Layer;

typedef struct {
    int32_t n_layer, n_embd, n_head, n_kv_head, head_dim, intermediate, vocab, max_len, max_tokens, threads;
    float eps, attn_scale;
    const float *embedding;             /* (V, C) */
    const float *rope_cos, *rope_sin;   /* (max_len, hs) */
    const float *final_norm;            /* (C,) */
    Linear head;                        /* V × C */
    Layer *layers;
    float *x, *h, *qkv, *att, *gu, *act, *scores, *xsum;  /* scratch, sized for max_tokens */
} Model;


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

#if defined(__AVX512F__)
/* e^x on 16 lanes (Cephes' expf: a degree-7 polynomial on x - n·ln2, times 2^n); relative
   error ~1e-7, like the C library's expf, without leaving the vector registers. */
static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  /* ln2 in two parts: exact n·ln2_hi */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static inline float dot(const float *a, const float *b, int n) {
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#else  /* the model step without AVX-512 (issue-13a replaces this with its portable step) */
static inline float exp_scalar(float x) { return expf(x < 88.0f ? x : 88.0f); }

static inline float dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
#endif

/* ---- the pieces of a block -------------------------------------------------------------- */
static void rmsnorm(const float *x, const float *w, int T, int C, float eps, float *out) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (int64_t)t * C;
        float ss = dot(xt, xt, C);
        float r = 1.0f / sqrtf(ss / C + eps);
        for (int c = 0; c < C; c++) out[(int64_t)t * C + c] = w[c] * (xt[c] * r);
    }
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


/* Causal grouped-query attention: row t (a token of sequence slot[t] at position pos[t]) attends
   to its sequence's cache [0, pos[t]]. One chunk = one (row, head) pair. */
typedef struct { const Model *M; const Layer *Ly; const int32_t *slot, *pos; } AttentionJob;

static void attention_chunk(const void *ctx, int chunk) {
    const AttentionJob *j = (const AttentionJob *)ctx;
    const Model *M = j->M;
    const int nh = M->n_head, nkv = M->n_kv_head, hs = M->head_dim, group = nh / nkv;
    const int t = chunk / nh, h = chunk % nh, width = (nh + 2 * nkv) * hs;
    const int64_t head_offset = ((int64_t)j->slot[t] * nkv + h / group) * M->max_len * hs;
    const float *q = M->qkv + (int64_t)t * width + h * hs;
    const float *keys = j->Ly->k_cache + head_offset, *values = j->Ly->v_cache + head_offset;
    float *p = M->scores + ((int64_t)t * nh + h) * M->max_len;
    int S = j->pos[t] + 1;
    float top = -INFINITY;
    for (int s = 0; s < S; s++) {
        p[s] = dot(q, keys + (int64_t)s * hs, hs) * M->attn_scale;
        if (p[s] > top) top = p[s];
    }
#if defined(__AVX512F__)
    __m512 sum = _mm512_setzero_ps(), shift = _mm512_set1_ps(top);
    for (int s = 0; s < S; s += 16) {  /* p = e^(score - top), 16 at a time (a masked tail) */
        __mmask16 live = S - s >= 16 ? 0xFFFF : (__mmask16)((1u << (S - s)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, p + s), shift));
        e = _mm512_maskz_mov_ps(live, e);
        _mm512_mask_storeu_ps(p + s, live, e);
        sum = _mm512_add_ps(sum, e);
    }
    float total = _mm512_reduce_add_ps(sum);
#else
    float total = 0.0f;
    for (int s = 0; s < S; s++) total += (p[s] = exp_scalar(p[s] - top));
#endif
    float *out = M->att + (int64_t)t * nh * hs + h * hs;
    for (int i = 0; i < hs; i++) out[i] = 0.0f;
    for (int s = 0; s < S; s++) {
        float w = p[s] / total;
        for (int i = 0; i < hs; i++) out[i] += w * values[(int64_t)s * hs + i];
    }
}

static void attend(const Model *M, const Layer *Ly, int T, const int32_t *slot, const int32_t *pos) {
    AttentionJob job = {M, Ly, slot, pos};
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
    for (int t = 0; t < T; t++) memcpy(M->x + (int64_t)t * C, M->embedding + tokens[t] * (int64_t)C, C * sizeof(float));
    for (int l = 0; l < M->n_layer; l++) {
        Layer *Ly = &M->layers[l];
        rmsnorm(M->x, Ly->attn_norm, T, C, M->eps, M->h);
        linear(&Ly->qkv, M->h, T, M->qkv, M->xsum, M->threads);     /* (T, (nh + 2nkv)·hs) */
        for (int t = 0; t < T; t++) {
            float *row = M->qkv + (int64_t)t * width;
            const float *c = M->rope_cos + (int64_t)pos[t] * hs, *s = M->rope_sin + (int64_t)pos[t] * hs;
            for (int h = 0; h < nh + nkv; h++) rope(row + h * hs, c, s, hs);  /* queries, then keys */
            for (int h = 0; h < nkv; h++) {
                int64_t at = (((int64_t)slot[t] * nkv + h) * M->max_len + pos[t]) * hs;
                memcpy(Ly->k_cache + at, row + (nh + h) * hs, hs * sizeof(float));
                memcpy(Ly->v_cache + at, row + (nh + nkv + h) * hs, hs * sizeof(float));
            }
        }
        attend(M, Ly, T, slot, pos);                                    /* (T, nh·hs) */
        linear(&Ly->o, M->att, T, M->h, M->xsum, M->threads);         /* (T, C) */
        for (int64_t i = 0; i < (int64_t)T * C; i++) M->x[i] += M->h[i];
        rmsnorm(M->x, Ly->mlp_norm, T, C, M->eps, M->h);
        linear(&Ly->gate_up, M->h, T, M->gu, M->xsum, M->threads);   /* (T, 2I): gate | up */
#if defined(__AVX512F__)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < I; i += 16) {  /* silu(gate) · up = gate / (1 + e^-gate) · up; I % 32 == 0 */
                __m512 g = _mm512_loadu_ps(M->gu + (int64_t)t * 2 * I + i);
                __m512 u = _mm512_loadu_ps(M->gu + (int64_t)t * 2 * I + I + i);
                __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
                _mm512_storeu_ps(M->act + (int64_t)t * I + i,
                                 _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u));
            }
#else
        for (int64_t t = 0; t < T; t++)
            for (int i = 0; i < I; i++) {
                float g = M->gu[t * 2 * I + i];
                M->act[t * I + i] = g / (1.0f + exp_scalar(-g)) * M->gu[t * 2 * I + I + i];
            }
#endif
        linear(&Ly->down, M->act, T, M->h, M->xsum, M->threads);     /* (T, C) */
        for (int64_t i = 0; i < (int64_t)T * C; i++) M->x[i] += M->h[i];
    }
    int first = all_logits ? 0 : T - 1, rows = T - first;
    rmsnorm(M->x + (int64_t)first * C, M->final_norm, rows, C, M->eps, M->h);
    linear(&M->head, M->h, rows, logits, M->xsum, M->threads);       /* (rows, V) */
}
