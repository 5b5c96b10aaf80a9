/*
 * model_cuda.cu: the RetNet model's inference forward on the device (model_cuda.h says what
 * it computes, in which precision, and what it refuses). Host code only: it strings together
 * the backend's kernels (cuda.h, retention.h) as src/model.c's layer_forward and
 * model_forward string together the CPU's, op for op, on all n = B*T positions at once.
 *
 * The parameters live in two arenas, fp32 and bf16, and are reached through device copies of
 * the model's own pointer structs (retnet_global_params / retnet_layer_params): each field
 * holds the device address of that tensor in the one precision the forward reads it in (the
 * bf16 structs' pointers are typed float * but point at bf16), NULL where the config has no
 * such tensor. The table's slots say which field a tensor fills.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/common.cuh"

extern "C" {
#include "model.h"
}
#include "cuda/attention.h"
#include "cuda/model_cuda.h"
#include "cuda/retention.h"

#define ALIGN 256 /* every tensor and activation starts on a 256-byte boundary (cuBLASLt) */

static size_t align_up(size_t b) { return (b + ALIGN - 1) / ALIGN * ALIGN; }

/* One decoding step's graph and what it was captured with: a replay uses the same addresses,
 * so any of them changing means a new capture. A model keeps N_GRAPHS, so that a server
 * stepping several batches in turn (each its own states and logits) replays each batch's
 * graph instead of capturing again at every step. */
#define N_GRAPHS 4
typedef struct {
    cudaGraphExec_t exec; /* NULL: an empty slot */
    uint64_t used;        /* graph_clock at its last launch */
    int32_t B, ctx;       /* the batch and (Transformer) KV-cache capacity */
    float *state, *last;  /* the states and the last position's logits */
    void *acts, *scr;     /* the activations and the attention's scratch */
    int64_t acts_rows;    /* the activations' layout */
    int32_t *next, *dnext; /* the argmax ids: pinned host, device (or NULL) */
} decode_graph;

struct model_cuda {
    retnet_config cfg;
    int device;
    uint64_t id; /* unique in the process (model_cuda_id) */
    void *w32, *w16;                 /* the parameter arenas */
    size_t w32_bytes, w16_bytes;
    retnet_global_params g32, g16;   /* device addresses (see the top of the file) */
    retnet_layer_params *l32, *l16;  /* n_layer each */
    float *gamma;                    /* (h) fp32 decays */
    double *gamma64;                 /* (h) the same in double (§3's row factors) */
    /* activations for n rows (grown on demand; one block) */
    void *acts;
    int64_t acts_rows;
    float *x;                        /* (n, d) residual stream */
    float *q, *k;                    /* (n, d_key) before rope and the bf16 rounding */
    float *g, *o;                    /* (n, d_value) gate pre-activation, retention output */
    float *h1, *h2;                  /* (n, d_ffn) FFN hidden (h2: the GLU's second branch) */
    float *logits;                   /* (n, ldv), and before the output layer a layer's joined
                                        products (joined_out): rows of max(ldv, 2 (d_key +
                                        d_value), 2 d_ffn) */
    /* the logits' row stride on the device: the vocabulary rounded up to 8, so that every
     * row starts on 16 bytes, which cuBLASLt's fast kernels need of the output layer's
     * product and of its gradient's (with cuda_op_gemm's split of odd extents: the paper's
     * vocabulary, 50257, had the output layer in a cutlass "align1" kernel, 505 us of a
     * decoding step at B = 256; dev/cuda/runs/next96.sh to next99.sh) */
    int64_t ldv;
    cuda_bf16 *xb;                   /* (n, max(d, d_value, d_ffn)): a product's bf16 operand */
    cuda_bf16 *qb, *kb, *vb;         /* retention's bf16 operands */
    cuda_bf16 *xw;                   /* (n, d) decoding's next RMSNorm operand, bf16(x w)
                                        (rms_chain) */
    int32_t *tok;                    /* (n) */
    int64_t *pos;                    /* (n) >= B positions */
    cuda_bf16 *tcache;               /* Transformer without states: one layer's KV cache of
                                        the window, (B, T, d_key) then (B, T, d_value) */
    int64_t *hzero;                  /* (hzero_cap) host zeros: positions of a window */
    int32_t hzero_cap;
    /* retnet_forward's hook: the callers' states on the device, and their positions */
    float *state;
    int32_t state_B;
    /* decoding states with a window (retention_cuda_step_window): W tokens, from layers'
     * states of win_min bytes (B sequences' S) up; win_W 0: off (RETNET_CUDA_WINDOW) */
    int win_W;
    double win_min;
    int64_t *hpos;
    int32_t hpos_cap;
    char **hptr;                     /* the host states' data pointers */
    int32_t hptr_cap;
    /* training (model_cuda_train_begin): fp32 master weights, gradients and moments in the
     * host parameters' layout, the master address of every tensor, per-layer activations */
    float *master, *grads, *m1, *m2;
    int64_t n_params;
    retnet_global_params gm;
    retnet_layer_params *lm;
    struct train_layer *tl;          /* n_layer */
    struct train_bufs *tb;
    void *tacts;
    int64_t tacts_rows;
    size_t tacts_bytes, acts_bytes, states_bytes;
    double *dsum;                    /* (2) device: the loss sum, the gradient norm's square */
    /* grad_write (RETNET_CUDA_GRAD_WRITE=0 turns it off): zero_grads zeros only the tensors a
     * backward adds to (zr: nzr ranges of offset, count), and the next backward writes the
     * products' weight gradients (beta 0) instead of adding them to zeros; until it has run
     * (grads_unset), a reader of the buffer zeros it whole first (grads_ready). Saves a write
     * of the whole buffer a step (~1.3 ms of the 1.3B step: the preset 290.9 -> 289.5 ms,
     * means of two runs each, dev/cuda/runs/next127.sh; the same losses). Off for a model whose
     * buffer is handed out (model_cuda_grads: the multi-GPU path reads it directly). */
    int grad_write, grads_unset;
    int64_t *zr;
    int32_t nzr;
    /* decoding steps as CUDA graphs (decode_step_graph), their kernels overlapping (pdl_scope) */
    int graphs, pdl;
    int one_product; /* q k v g (and fc1 | gate) as one product where they lie together */
    int rms_chain;   /* decoding's RMSNorms inside the products (RETNET_CUDA_RMS_CHAIN=0: their
                        own launches) */
    int z_fused;     /* §3's key sums in the step's state update where it has no window
                        (RETNET_CUDA_Z_FUSED=0: their own launch) */
    int hn_fused;    /* the head norm and gate in the step's state update where it has no
                        window, a cluster a head: 1 without §3 (the default), 2 with it too
                        (RETNET_CUDA_HN_FUSED=1), 0 never (=0) */
    int rows_fused;  /* training: §3 in the head norm's passes (a model with §3 and a head norm
                        or gate; RETNET_CUDA_ROWS=0: apart) */
    int rows_ret;    /* training with §3: the row sums' backward inside retention's dq and dk
                        passes (retention_cuda_backward_rows; RETNET_CUDA_ROWSUMS=0: a v = 1
                        pass of its own, as where the wgmma kernel is not built) */
    int rows_fwd;    /* ... and in the forward's pass (with rows_fused, dk <= 256) */
    cudaStream_t gstream;
    cudaEvent_t gready;              /* recorded on the legacy stream before each replay */
    decode_graph graph[N_GRAPHS];    /* the decoding graphs of the batches last stepped */
    uint64_t graph_clock;            /* their last use, for evicting the oldest */
    int64_t captures;                /* graphs captured so far */
    int32_t next_B;                  /* the rows of next_of whose ids hnext holds */
    model_cuda_grad_hook hook;       /* distributed training: gradients of a range are final */
    void *hook_ctx;
    float dropout;                   /* residual dropout of the training passes (0: off) */
    uint64_t dropout_seed;
    int32_t dropout_rank;
    /* argmax ids (next_cap of each): dnext on the device, hnext pinned on the host. The
     * decoding graph computes them itself (graph_argmax; RETNET_CUDA_GRAPH_ARGMAX=0: off):
     * then hnext holds the ids of the next_B rows of logits at next_of until the next forward */
    int32_t *dnext, *hnext;
    int32_t next_cap;
    int32_t *dids; /* a greedy run's ids (model_cuda_greedy), ids_cap of them */
    int64_t ids_cap;
    int greedy_run; /* RETNET_CUDA_GREEDY_RUN, a test's: runs of at most this many steps */
    /* a decoding graph's tokens and positions, staged in pinned memory (hstage: B positions,
     * then B tokens) and copied on the graph's stream: no synchronous copy a step */
    void *hstage;
    int32_t stage_cap;
    int graph_argmax;
    const float *next_of;
    /* the persistent step (decode_persistent.cu) for B = 1 where the config is its variant
     * (pstep_fits) and RETNET_CUDA_PERSISTENT is not 0, its scratch (zeroed once) and down packed
     * for it (pdown), packed again before a step when the bf16 weights changed (pstep_stale) */
    int pstep, pstep_stale, pstep_asked;
    int pstep_bmax;          /* the batches it takes, 1 .. pstep_bmax (2 where the kernel runs;
                                RETNET_CUDA_PSTEP_B=1: one sequence only); they have no decoding
                                window, even where it goes off later (pstep_ready) */
    int pstep_nomem;         /* RETNET_CUDA_PSTEP_NOMEM=1, a test's: the copy of down not made */
    unsigned pstep_delay_ns; /* RETNET_CUDA_PSTEP_DELAY (us), a test's: cuda_pstep.delay_ns */
    void *pstep_scr;
    cuda_bf16 *pdown;
};

/* What the backward reads of one layer (RETNET.md §4-5, src/model.c's layer_acts): fp32 where
 * an elementwise backward needs it, bf16 where it is a product's operand (the weight gradient
 * dW += dY^T X reads X in bf16, as the forward did). */
struct train_layer {
    float *x;                        /* (n, D) the layer's input */
    cuda_bf16 *xn1;                  /* (n, D) Norm(x), the q/k/v/g products' operand */
    cuda_bf16 *q, *k, *v;            /* retention's operands: rotated q, rotated scaled k, v */
    float *g;                        /* (n, d_value) the gate's pre-activation (or NULL) */
    float *o;                        /* (n, d_value) retention's output (times f with §3) */
    float *f, *r;                    /* (n, h) §3's row factors and row sums (or NULL) */
    cuda_bf16 *y;                    /* (n, d_value) head norm + gate output: wo's operand */
    float *xm;                       /* (n, D) x + mixer: the FFN's input */
    cuda_bf16 *xn2;                  /* (n, D) Norm(xm): fc1/gate's operand */
    float *h1, *h2;                  /* (n, d_ffn) FFN hidden, pre-activation */
    cuda_bf16 *a;                    /* (n, d_ffn) act(h1) [* h2]: fc2's operand */
};

/* The rest of a training step's buffers (n rows). */
struct train_bufs {
    float *xs;                       /* (n, D) the last layer's output */
    cuda_bf16 *xnf;                  /* (n, D) final norm, the output projection's operand */
    float *logits;                   /* (n, ldv) */
    float *losses;                   /* (n) */
    int32_t *tok, *tgt;              /* (n) */
    float *dx, *dxn;                 /* (n, D) */
    float *f1;                       /* (n, max(d_ffn, d_value, d_key)) an fp32 temporary */
    float *dq, *dk;                  /* (n, d_key) */
    float *dv;                       /* (n, d_value) */
    cuda_bf16 *gb;                   /* (n, max(D, d_ffn, d_value, d_key, V)) a bf16 operand */
    cuda_bf16 *gb2;                  /* (n, max(d_ffn, d_value, d_key)) a second one */
    cuda_bf16 *dr8, *ones8;          /* (n, h, 8) §3's row sums' gradient, and ones (only
                                        for the v = 1 pass: without rows_ret) */
};


/* Floats of one layer's state of one sequence: S (h, dk, dv), then with §3 on the key sums z
 * (h, dk), as the host lays them out (retnet.h). On the device a layer's block holds the B
 * sequences' S, then their z. */
static int64_t layer_s_floats(const retnet_config *c) {
    return (int64_t)c->d_key * (c->d_value / c->n_head);
}
static int64_t layer_z_floats(const retnet_config *c) { return c->normalize ? c->d_key : 0; }
static int64_t layer_state_floats(const retnet_config *c) {
    return layer_s_floats(c) + layer_z_floats(c);
}

static int is_tf(const retnet_config *c) { return c->arch == RETNET_ARCH_TRANSFORMER; }

/* Device bytes of one layer's states for B sequences: RetNet fp32 (B, h, dk, dv); the
 * Transformer's bf16 KV cache, keys (B, context, d_key) then values (B, context, d_value)
 * (cuda/attention.h's layout). The states of L layers are L such blocks, layer-major. */
static size_t layer_state_bytes(const retnet_config *c, int64_t B) {
    if (is_tf(c))
        return (size_t)cuda_attention_cache_bytes(B, c->context, c->n_head, c->d_key / c->n_head,
                                                  c->d_value / c->n_head);
    return sizeof(float) * (size_t)(B * layer_state_floats(c));
}

/*
 * The decoding window (retention_cuda_step_window): where a layer's states are large, a step
 * reads them and writes them only every W steps, the last tokens' k and v waiting beside them.
 * Its window W for B sequences, or 0 (none: retention_cuda_step reads and writes every step).
 * None for the batches the persistent step takes (it reads and writes the states every step):
 * at the 1.3B shape the window begins at B = 2, where it was level with none (next194).
 */
static int win_of(const model_cuda *d, int64_t B) {
    const retnet_config *c = &d->cfg;
    if (is_tf(c) || d->win_W < 1 || B <= d->pstep_bmax) return 0;
    return (double)B * sizeof(float) * (double)layer_s_floats(c) >= d->win_min ? d->win_W : 0;
}
static size_t round256(size_t n) { return (n + 255) & ~(size_t)255; }
/* a layer's ring of W + 1 slots: keys (B, W + 1, h, dk) bf16, then values (B, W + 1, h, dv) */
static size_t win_k_bytes(const model_cuda *d, int64_t B) {
    const int W = win_of(d, B);
    return W ? round256(2 * (size_t)B * (W + 1) * d->cfg.d_key) : 0;
}
static size_t win_v_bytes(const model_cuda *d, int64_t B) {
    const int W = win_of(d, B);
    return W ? round256(2 * (size_t)B * (W + 1) * d->cfg.d_value) : 0;
}
/* Device bytes of a layer's block: its states (layer_state_bytes), then the window's ring */
static size_t layer_bytes(const model_cuda *d, int64_t B) {
    const size_t s = layer_state_bytes(&d->cfg, B);
    return win_of(d, B) ? round256(s) + win_k_bytes(d, B) + win_v_bytes(d, B) : s;
}
/* All of B sequences' device states: L layer blocks, then with a window its count m (B int32:
 * the tokens since the windows were last empty) */
static size_t states_bytes_of(const model_cuda *d, int64_t B) {
    return (size_t)d->cfg.n_layer * layer_bytes(d, B) + (win_of(d, B) ? 4 * (size_t)B : 0);
}
struct win_ptrs {
    int W, phase;
    void *kw, *vw;
    int *m;
};
/* Layer l's window in states for B sequences; phase spreads the layers' folds over W steps */
static win_ptrs win_at(const model_cuda *d, float *state, int64_t B, int l) {
    win_ptrs w = {win_of(d, B), 0, NULL, NULL, NULL};
    if (!w.W || !state) return w;
    char *blk = (char *)state + (size_t)l * layer_bytes(d, B);
    w.kw = blk + round256(layer_state_bytes(&d->cfg, B));
    w.vw = (char *)w.kw + win_k_bytes(d, B);
    w.m = (int *)((char *)state + (size_t)d->cfg.n_layer * layer_bytes(d, B));
    w.phase = (int)((int64_t)l * w.W / d->cfg.n_layer);
    return w;
}

/* Sequences [b0, b0 + nb) of B: every layer's window folded into its state, their m reset
 * (before anything but the window's step reads the states, or after new ones are written) */
static retnet_status win_flush(const model_cuda *d, float *state, int64_t B, int64_t b0, int64_t nb,
                               int fold) {
    if (!win_of(d, B) || !state) return RETNET_OK;
    /* (reading m on the host to skip empty windows would cost a round trip: the kernels
     * return at once where a sequence's window is empty) */
    const retnet_config *c = &d->cfg;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    win_ptrs w = win_at(d, state, B, 0);
    for (int l = 0; fold && l < c->n_layer; l++) {
        w = win_at(d, state, B, l);
        float *S = (float *)((char *)state + (size_t)l * layer_bytes(d, B)) + b0 * layer_s_floats(c);
        if (retention_cuda_window_flush((int)nb, h, dk, dv, d->gamma, S,
                                        (char *)w.kw + 2 * (size_t)b0 * (w.W + 1) * c->d_key,
                                        (char *)w.vw + 2 * (size_t)b0 * (w.W + 1) * c->d_value,
                                        w.m + b0, w.W, w.phase, NULL))
            return retnet_fail(RETNET_EDEVICE, "CUDA: folding layer %d's window: %s", l,
                               retention_cuda_errmsg());
    }
    if (retention_cuda_window_advance((int)nb, w.m + b0, 1, w.W, NULL))
        return retnet_fail(RETNET_EDEVICE, "CUDA: resetting the windows: %s",
                           retention_cuda_errmsg());
    return RETNET_OK;
}

/* After a decoding step's layers: one more token in every sequence's windows */
static retnet_status win_advance(const model_cuda *d, float *state, int64_t B, cuda_stream cs) {
    const win_ptrs w = win_at(d, state, B, 0);
    if (!w.W) return RETNET_OK;
    if (retention_cuda_window_advance((int)B, w.m, 0, w.W, (cudaStream_t)cs))
        return retnet_fail(RETNET_EDEVICE, "CUDA: advancing the windows: %s",
                           retention_cuda_errmsg());
    return RETNET_OK;
}

/* --------------------------------------------------------------------- parameters */

/* Every decoding graph forgotten (the next step captures its own). */
/*
 * The persistent step (decode_persistent.cu): its variant (RMSNorm, SwiGLU, rope "half", the
 * gate and the head's RMSNorm with weight, no §3: fla's RetNet) at its shapes, with no
 * decoding window at B = 1 (win_of leaves it none up to its batches) and a layer's state a
 * whole number of 16 bytes (its TMA map).
 * Read when the model moves to the GPU.
 */
static int pstep_fits(const model_cuda *d) {
    const retnet_config *c = &d->cfg;
    if (is_tf(c) || c->norm != RETNET_NORM_RMSNORM || c->head_norm != RETNET_HEADNORM_RMSNORM ||
        !c->head_norm_affine || c->ffn != RETNET_FFN_GLU || c->ffn_act != RETNET_ACT_SWISH ||
        c->rope != RETNET_ROPE_HALF || !c->gate || c->normalize || win_of(d, 1) ||
        !cuda_pstep_shape(c->d_model, c->n_head, c->d_key, c->d_value, c->d_ffn, c->n_layer,
                          c->vocab))
        return 0;
    return layer_bytes(d, 1) % 16 == 0;
}

/* down's packed copy in step with the bf16 weights (before a step, outside any capture). Made
 * at the first step (24 / 22 of down's bytes: ~300 MB at the 1.3B shape), so that a model that
 * only trains does not hold it; where it does not fit, the chain takes the steps (d->pstep off),
 * unless RETNET_CUDA_PERSISTENT=1 asked for the persistent step */
static retnet_status pstep_ready(model_cuda *d) {
    if (!d->pdown) {
        const retnet_status s =
            d->pstep_nomem /* a test's stand-in for a full GPU */
                ? retnet_fail(RETNET_ENOMEM, "CUDA: no room for the persistent step's copy of down "
                                             "(RETNET_CUDA_PSTEP_NOMEM)")
                : retnet_cuda_malloc((void **)&d->pdown, cuda_pstep_pack_bytes(d->cfg.n_layer),
                                     "the persistent step's copy of down");
        if (s && d->pstep_asked) return s;
        if (s) {
            d->pstep = 0;
            retnet_clear_error();
            return RETNET_OK;
        }
        d->pstep_stale = 1;
    }
    if (!d->pstep_stale) return RETNET_OK;
    const size_t per = cuda_pstep_pack_bytes(1) / sizeof(cuda_bf16);
    for (int l = 0; l < d->cfg.n_layer; l++)
        TRY(cuda_pstep_pack(d->pdown + (size_t)l * per, (const cuda_bf16 *)d->l16[l].fc2, NULL));
    TRY(retnet_cuda_sync(NULL));
    d->pstep_stale = 0;
    return RETNET_OK;
}

static float embed_scale(const retnet_config *c);

/* B <= pstep_bmax sequences' step by the persistent kernel: logits (B rows of ldv floats,
 * device) from d->tok, d->pos */
static retnet_status pstep_run(model_cuda *d, int32_t B, float *state, float *logits,
                               cuda_stream cs) {
    const retnet_config *c = &d->cfg;
    cuda_pstep p;
    memset(&p, 0, sizeof p);
    p.n_layer = c->n_layer, p.vocab = c->vocab;
    for (int l = 0; l < c->n_layer; l++) {
        const retnet_layer_params *w = &d->l16[l], *f = &d->l32[l];
        p.layer[l] = (cuda_pstep_layer){
            (const cuda_bf16 *)w->wq,  (const cuda_bf16 *)w->wk,   (const cuda_bf16 *)w->wv,
            (const cuda_bf16 *)w->wg,  (const cuda_bf16 *)w->wo,   (const cuda_bf16 *)w->fc1,
            (const cuda_bf16 *)w->gate, f->ret_norm_w, f->ffn_norm_w, f->hn_w};
    }
    p.down = d->pdown;
    p.out = (const cuda_bf16 *)(c->tie_embeddings ? d->g16.embed : d->g16.out);
    p.final_norm = d->g32.norm_w, p.embed = d->g32.embed;
    p.embed_scale = embed_scale(c), p.eps = c->eps;
    p.gamma = d->gamma, p.rope_base = c->rope_base;
    p.batch = B, p.tok = d->tok, p.pos = d->pos;
    p.state = state, p.state_layer_floats = (int64_t)(layer_bytes(d, B) / sizeof(float));
    p.logits = logits, p.logits_stride = d->ldv;
    p.delay_ns = d->pstep_delay_ns;
    return cuda_pstep_run(&p, d->pstep_scr, cs);
}

static void graphs_drop(model_cuda *d) {
    for (int i = 0; i < N_GRAPHS; i++) {
        if (d->graph[i].exec) cudaGraphExecDestroy(d->graph[i].exec);
        d->graph[i].exec = NULL;
    }
}

void model_cuda_free(model_cuda *d) {
    if (!d) return;
    retnet_cuda_free(d->w32);
    retnet_cuda_free(d->w16);
    retnet_cuda_free(d->gamma);
    retnet_cuda_free(d->gamma64);
    retnet_cuda_free(d->acts);
    retnet_cuda_free(d->state);
    retnet_cuda_free(d->master);
    retnet_cuda_free(d->grads);
    retnet_cuda_free(d->m1);
    retnet_cuda_free(d->m2);
    retnet_cuda_free(d->tacts);
    retnet_cuda_free(d->dsum);
    retnet_cuda_free(d->dnext);
    retnet_cuda_free(d->dids);
    retnet_cuda_free(d->pstep_scr);
    retnet_cuda_free(d->pdown);
    if (d->hnext) cudaFreeHost(d->hnext);
    if (d->hstage) cudaFreeHost(d->hstage);
    graphs_drop(d);
    if (d->gstream) cudaStreamDestroy(d->gstream);
    if (d->gready) cudaEventDestroy(d->gready);
    free(d->lm);
    free(d->tl);
    free(d->tb);
    free(d->l32);
    free(d->l16);
    free(d->hpos);
    free(d->hzero);
    free(d->hptr);
    free(d->zr);
    free(d);
}

int64_t model_cuda_bytes(const model_cuda *d) {
    if (!d) return 0;
    return (int64_t)(d->w32_bytes + d->w16_bytes + d->acts_bytes + d->tacts_bytes +
                     d->states_bytes + (d->pdown ? cuda_pstep_pack_bytes(d->cfg.n_layer) : 0)) +
           4 * d->n_params * ((d->master != NULL) + (d->grads != NULL) + (d->m1 != NULL) +
                              (d->m2 != NULL));
}

/* The field of `dst` (a copy of g or of layers[layer]) that tensor p's slot is in the model. */
static float **field(const retnet_model *m, const retnet_param_desc *p,
                     retnet_global_params *g, retnet_layer_params *layers) {
    if (p->layer < 0)
        return (float **)((char *)g + ((const char *)p->slot - (const char *)&m->g));
    return (float **)((char *)&layers[p->layer] +
                      ((const char *)p->slot - (const char *)&m->layers[p->layer]));
}

/* Which precision a tensor is read in: the 2-D weights in bf16 (the products' operands), the
 * rest in fp32; the embedding in fp32 for the lookup, and in bf16 too when it is the tied
 * output projection. */
static int has_bf16(const retnet_model *m, const retnet_param_desc *p) {
    return p->ndim == 2 && (p->slot != &m->g.embed || m->cfg.tie_embeddings);
}
static int has_fp32(const retnet_model *m, const retnet_param_desc *p) {
    return p->ndim != 2 || p->slot == &m->g.embed;
}
/* The device bf16 copy of tensor p (has_bf16). */
static cuda_bf16 *bf16_of(model_cuda *d, const retnet_model *m, const retnet_param_desc *p) {
    return (cuda_bf16 *)*field(m, p, &d->g16, d->l16);
}

retnet_status model_cuda_create(const retnet_model *m, int device, model_cuda **out) {
    if (!out) return retnet_fail(RETNET_EINVAL, "model_cuda_create: NULL output");
    *out = NULL;
    if (!m) return retnet_fail(RETNET_EINVAL, "model_cuda_create: NULL model");
    const retnet_config *c = &m->cfg;
    if (is_tf(c) && (c->d_key / c->n_head > 256 || c->d_value / c->n_head > 256 ||
                     (c->d_key / c->n_head) % 8 || (c->d_value / c->n_head) % 8))
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA: the Transformer's attention kernels take "
                           "head widths that are multiples of 8 up to 256; run it on the cpu");
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    if (dk % 8 || dv % 8 || dk > 512 || dv > 512)
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA: head widths dk %d, dv %d: the retention "
                           "kernels take multiples of 8 up to 512; run this model on the cpu",
                           dk, dv);
    TRY(retnet_cuda_init(device));

    model_cuda *d = (model_cuda *)calloc(1, sizeof *d);
    if (!d) return retnet_fail(RETNET_ENOMEM, "out of memory");
    static uint64_t made = 0; /* ids: a new copy at a freed one's address is still new */
    d->id = __atomic_add_fetch(&made, 1, __ATOMIC_RELAXED);
    d->cfg = *c;
    d->device = device;
    d->ldv = ((int64_t)c->vocab + 7) / 8 * 8;
    const char *ge = getenv("RETNET_CUDA_GRAPHS");
    d->graphs = !(ge && !strcmp(ge, "0"));
    const char *pe = getenv("RETNET_CUDA_PDL");
    d->pdl = !(pe && !strcmp(pe, "0"));
    const char *ae = getenv("RETNET_CUDA_GRAPH_ARGMAX");
    d->graph_argmax = !(ae && !strcmp(ae, "0"));
    const char *gr = getenv("RETNET_CUDA_GREEDY_RUN");
    d->greedy_run = gr ? atoi(gr) : 0;
    /* RETNET_CUDA_WINDOW=W[,MB]: the window's W (0: off) and a layer's states (B sequences')
     * from which it runs, in MB. Default 16,8: B >= 2 at the 1.3B model's heads (4 MB a
     * sequence). With the step kernel of dev/cuda/window_lab2.cu (off -> on, next86.sh, mean
     * of 48 steps): B = 2 1.276 -> 1.262 ms, 4 1.560 -> 1.491, 8 1.815 -> 1.640-1.659, 16
     * 2.400 -> 2.055-2.076; B = 1 no better (1.111 -> 1.121), so off there. */
    const char *we = getenv("RETNET_CUDA_WINDOW");
    d->win_W = 16, d->win_min = 8.0 * (1 << 20);
    if (we) {
        int w = atoi(we);
        const char *comma = strchr(we, ',');
        d->win_W = w >= 0 && w <= 64 ? w : 16;
        if (comma) d->win_min = atof(comma + 1) * (1 << 20);
    }
    const char *gw = getenv("RETNET_CUDA_GRAD_WRITE");
    d->grad_write = !(gw && !strcmp(gw, "0"));
    const char *ze = getenv("RETNET_CUDA_Z_FUSED");
    d->z_fused = !(ze && !strcmp(ze, "0"));
    const char *he = getenv("RETNET_CUDA_HN_FUSED");
    d->hn_fused = he && !strcmp(he, "0") ? 0 : he && !strcmp(he, "1") ? 2 : 1;
    const char *ce = getenv("RETNET_CUDA_RMS_CHAIN");
    d->rms_chain = !(ce && !strcmp(ce, "0"));
    const char *oe = getenv("RETNET_CUDA_ONE_PRODUCT");
    d->one_product = !(oe && !strcmp(oe, "0"));
    const char *re = getenv("RETNET_CUDA_ROWS");
    d->rows_fused = !(re && !strcmp(re, "0")) && c->normalize &&
                    (c->gate || c->head_norm != RETNET_HEADNORM_NONE);
    const char *rs = getenv("RETNET_CUDA_ROWSUMS");
    d->rows_ret = !(rs && !strcmp(rs, "0")) && c->normalize && retention_cuda_have_rows();
    d->rows_fwd = d->rows_ret && d->rows_fused && c->d_key / c->n_head <= RETENTION_CUDA_ROWS_DK_MAX;
    d->l32 = (retnet_layer_params *)calloc((size_t)c->n_layer, sizeof *d->l32);
    d->l16 = (retnet_layer_params *)calloc((size_t)c->n_layer, sizeof *d->l16);
    if (!d->l32 || !d->l16) {
        model_cuda_free(d);
        return retnet_fail(RETNET_ENOMEM, "out of memory");
    }

    size_t b32 = 0, b16 = 0, stage = 0;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const retnet_param_desc *p = &m->table[i];
        if (has_fp32(m, p)) b32 += align_up(4 * (size_t)p->numel);
        if (has_bf16(m, p)) b16 += align_up(2 * (size_t)p->numel);
        if (4 * (size_t)p->numel > stage) stage = 4 * (size_t)p->numel;
    }
    void *tmp = NULL;
    retnet_status st = retnet_cuda_malloc(&d->w32, b32, "the fp32 parameters");
    if (!st) st = retnet_cuda_malloc(&d->w16, b16, "the bf16 weights");
    if (!st) st = retnet_cuda_malloc((void **)&d->gamma, sizeof(float) * (size_t)h, "the decays");
    if (!st) st = retnet_cuda_malloc((void **)&d->gamma64, sizeof(double) * (size_t)h, "the decays");
    if (!st) st = retnet_cuda_malloc(&tmp, stage, "staging a weight");
    d->w32_bytes = b32, d->w16_bytes = b16;

    size_t o32 = 0, o16 = 0;
    for (int32_t i = 0; i < m->n_tensors && !st; i++) {
        const retnet_param_desc *p = &m->table[i];
        /* the host values: bf16 for the 2-D weights of a bf16-only model (whose fp32 range
         * must not be read), fp32 otherwise */
        const uint16_t *src16 = m->bf16_only && p->ndim == 2 ? m->params_bf16 + p->offset : NULL;
        const float *src32 = src16 ? NULL : m->params + p->offset;
        if (has_bf16(m, p)) {
            cuda_bf16 *dst = (cuda_bf16 *)((char *)d->w16 + o16);
            o16 += align_up(2 * (size_t)p->numel);
            *field(m, p, &d->g16, d->l16) = (float *)dst;
            if (src16) st = retnet_cuda_upload(dst, src16, 2 * (size_t)p->numel);
            else if (!(st = retnet_cuda_upload(tmp, src32, 4 * (size_t)p->numel)))
                st = cuda_op_f32_to_bf16(dst, (const float *)tmp, p->numel, NULL);
        }
        if (!st && has_fp32(m, p)) {
            float *dst = (float *)((char *)d->w32 + o32);
            o32 += align_up(4 * (size_t)p->numel);
            *field(m, p, &d->g32, d->l32) = dst;
            if (src32) st = retnet_cuda_upload(dst, src32, 4 * (size_t)p->numel);
            else if (!(st = retnet_cuda_upload(tmp, src16, 2 * (size_t)p->numel)))
                st = cuda_op_bf16_to_f32(dst, (const cuda_bf16 *)tmp, p->numel, NULL);
        }
    }
    if (!st) {
        float gh[1024];
        for (int i = 0; i < h && i < 1024; i++) gh[i] = (float)m->gamma[i];
        if (h > 1024) st = retnet_fail(RETNET_EUNSUPPORTED, "CUDA: %d heads (at most 1024)", h);
        else st = retnet_cuda_upload(d->gamma, gh, sizeof(float) * (size_t)h);
        if (!st) st = retnet_cuda_upload(d->gamma64, m->gamma, sizeof(double) * (size_t)h);
    }
    if (!st) st = retnet_cuda_sync(NULL); /* the conversions are done before tmp goes */
    retnet_cuda_free(tmp);
    /* the persistent step where it fits (decode_persistent.cu: 9-10% faster than the chain at
     * B = 1 and 2, next335); RETNET_CUDA_PERSISTENT=0 keeps the chain, RETNET_CUDA_PSTEP_B=1
     * gives it B = 1 only. Its copy of down is made at the first step (pstep_ready) */
    const char *pe2 = getenv("RETNET_CUDA_PERSISTENT");
    const int pmode = !pe2 ? -1 : !strcmp(pe2, "0") ? 0 : !strcmp(pe2, "1") ? 1 : -1;
    if (!st && pmode && pstep_fits(d) && cuda_pstep_available()) {
        st = retnet_cuda_malloc(&d->pstep_scr, cuda_pstep_scratch_bytes(),
                                "the persistent step's scratch");
        if (!st && cudaMemset(d->pstep_scr, 0, cuda_pstep_scratch_bytes()) != cudaSuccess)
            st = retnet_fail(RETNET_EDEVICE, "CUDA: zeroing the persistent step's scratch");
        d->pstep = !st, d->pstep_stale = 1, d->pstep_asked = pmode == 1;
        const char *pb = getenv("RETNET_CUDA_PSTEP_B");
        d->pstep_bmax = !d->pstep ? 0 : pb && !strcmp(pb, "1") ? 1 : cuda_pstep_batches();
        const char *dl = getenv("RETNET_CUDA_PSTEP_DELAY");
        const int us = dl ? atoi(dl) : 0;
        d->pstep_delay_ns = us > 0 && us < 1000000 ? (unsigned)us * 1000u : 0u;
        const char *nm = getenv("RETNET_CUDA_PSTEP_NOMEM");
        d->pstep_nomem = nm && !strcmp(nm, "1");
    }
    if (st) {
        model_cuda_free(d);
        return st;
    }
    *out = d;
    return RETNET_OK;
}

/* --------------------------------------------------------------------- activations */

/* The activation buffers for n rows (n >= B). */
static retnet_status acts_ready(model_cuda *d, int64_t n) {
    if (n <= d->acts_rows) return RETNET_OK;
    const retnet_config *c = &d->cfg;
    const int64_t D = c->d_model, wide = D > c->d_value ? (D > c->d_ffn ? D : c->d_ffn)
                                                        : (c->d_value > c->d_ffn ? c->d_value : c->d_ffn);
    /* the logits' rows also hold a layer's joined products (joined_out), free until then */
    int64_t lw = d->ldv;
    if (lw < 2 * (c->d_key + c->d_value)) lw = 2 * (c->d_key + c->d_value);
    if (lw < 2 * c->d_ffn) lw = 2 * c->d_ffn;
    void **slots[] = {(void **)&d->x,  (void **)&d->q,  (void **)&d->k,
                      (void **)&d->g,  (void **)&d->o,  (void **)&d->h1, (void **)&d->h2,
                      (void **)&d->logits, (void **)&d->xb, (void **)&d->qb, (void **)&d->kb,
                      (void **)&d->vb, (void **)&d->tok, (void **)&d->pos, (void **)&d->tcache,
                      (void **)&d->xw};
    const size_t bytes[] = {4 * (size_t)(n * D),
                            4 * (size_t)(n * c->d_key), 4 * (size_t)(n * c->d_key),
                            4 * (size_t)(n * c->d_value), 4 * (size_t)(n * c->d_value),
                            4 * (size_t)(n * c->d_ffn),
                            c->ffn == RETNET_FFN_GLU ? 4 * (size_t)(n * c->d_ffn) : 0,
                            4 * (size_t)(n * lw), 2 * (size_t)(n * wide),
                            2 * (size_t)(n * c->d_key), 2 * (size_t)(n * c->d_key),
                            2 * (size_t)(n * c->d_value), 4 * (size_t)n, 8 * (size_t)n,
                            is_tf(c) ? 2 * (size_t)(n * (c->d_key + c->d_value)) : 0,
                            2 * (size_t)(n * D)};
    const int count = (int)(sizeof bytes / sizeof bytes[0]);
    size_t total = 0;
    for (int i = 0; i < count; i++) total += align_up(bytes[i]);
    retnet_cuda_free(d->acts);
    d->acts = NULL;
    d->acts_rows = 0;
    TRY(retnet_cuda_malloc(&d->acts, total, "the forward's activations"));
    d->acts_bytes = total;
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        *slots[i] = bytes[i] ? (char *)d->acts + off : NULL;
        off += align_up(bytes[i]);
    }
    d->acts_rows = n;
    return RETNET_OK;
}

/* --------------------------------------------------------------------- forward */

/* The norm of the config into bf16 (the products' operand; the backward reads its input). */
static retnet_status norm_bf16(const retnet_config *c, cuda_bf16 *y, const float *x,
                               const float *w, const float *b, int64_t n, cuda_stream cs = NULL) {
    if (c->norm == RETNET_NORM_LAYERNORM)
        return cuda_op_layernorm_bf16(y, x, w, b, n, c->d_model, c->eps, cs);
    return cuda_op_rmsnorm_bf16(y, x, w, n, c->d_model, c->eps, cs);
}

static float embed_scale(const retnet_config *c) {
    return c->embed_scale ? sqrtf((float)c->d_model) : 1.0f; /* as src/model.c */
}

static cuda_act ffn_act(const retnet_config *c) {
    return c->ffn == RETNET_FFN_GLU && c->ffn_act == RETNET_ACT_SWISH ? CUDA_ACT_SWISH
                                                                       : CUDA_ACT_GELU;
}

/*
 * A decoding step's RMSNorms inside its products (the norm's launch gone: two a layer; the
 * first layer's stays). The product that adds to the residual (wo, fc2) also writes
 * xw = bf16(x w_norm) (cuda_gemv_rms_out); the next product (q k v g, fc1 | gate, the output
 * layer) reads xw, sums x's squares beside it and scales its sums by the row's
 * 1 / sqrt(mean(x^2) + eps) (cuda_gemv_rms). At B = 1 (cuda_gemv_rms_suits; at 2 rows it
 * lost 12%: gemv.cu), in a model with RMSNorm and retention: the fla shape 1.079 -> 1.045 ms a
 * step (dev/cuda/runs/next166.sh).
 */
static int rms_chain(const model_cuda *d, int64_t n, int64_t T, const void *state) {
    const retnet_config *c = &d->cfg;
    return d->rms_chain && T == 1 && state && c->norm == RETNET_NORM_RMSNORM && !is_tf(c) &&
           cuda_gemv_rms_suits(n, c->d_model, d->xw, c->d_model) &&
           cuda_gemv_suits(n, c->d_value, d->xb, c->d_value) &&
           cuda_gemv_suits(n, c->d_ffn, d->h1, c->d_ffn);
}

/* x += a (n, K) @ w^T through the gemv, also writing the next norm's pieces (weight nw) */
static retnet_status residual_rms(model_cuda *d, const cuda_bf16 *a, const float *w, int64_t n,
                                  int64_t K, const float *nw, cuda_stream cs) {
    const int64_t D = d->cfg.d_model;
    const cuda_gemv_rms_out r = {nw, d->xw};
    const cuda_gemv_out o = {(const cuda_bf16 *)w, d->x, CUDA_F32, D, D, d->x, NULL, 0, &r};
    return cuda_op_gemv_multi(a, n, K, K, &o, 1, cs);
}

/* y (n, N) fp32 [+]= x (n, K) bf16 @ w (N, K)^T bf16 */
static retnet_status mm(float *y, const cuda_bf16 *x, const float *w, int64_t n, int64_t N,
                        int64_t K, int accumulate, cuda_stream cs = NULL) {
    return cuda_op_matmul(y, CUDA_F32, x, w, CUDA_BF16, n, N, K, accumulate, cs);
}

/* The Transformer's token mixer of layer l (src/model.c's attention_layer): q, k rotated (k
 * not scaled: the scores are), the new k, v appended to the layer's KV cache (the states, or
 * a window's own temporary cache), causal attention over the cache into d->o. hpos: the
 * host copy of the B positions. */
static retnet_status attention_forward(model_cuda *d, int l, int64_t B, int64_t T, void *state,
                                       const int64_t *hpos, cuda_stream cs) {
    const retnet_config *c = &d->cfg;
    const retnet_layer_params *p16 = &d->l16[l];
    const int64_t n = B * T, D = c->d_model;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;
    if (cuda_gemv_suits(n, D, d->xb, D)) { /* decoding: one launch, one read of x */
        const cuda_gemv_out o[3] = {
            {(const cuda_bf16 *)p16->wq, d->q, CUDA_F32, c->d_key, c->d_key, NULL},
            {(const cuda_bf16 *)p16->wk, d->k, CUDA_F32, c->d_key, c->d_key, NULL},
            {(const cuda_bf16 *)p16->wv, d->g, CUDA_F32, c->d_value, c->d_value, NULL}};
        TRY(cuda_op_gemv_multi(d->xb, n, D, D, o, 3, cs));
    } else {
        TRY(mm(d->q, d->xb, p16->wq, n, c->d_key, D, 0, cs));
        TRY(mm(d->k, d->xb, p16->wk, n, c->d_key, D, 0, cs));
        TRY(mm(d->g, d->xb, p16->wv, n, c->d_value, D, 0, cs)); /* v, fp32 (no gate here) */
    }
    TRY(cuda_op_rope(d->q, c->d_key, B, T, h, dk, d->pos, half, c->rope_base, 1.0f, cs));
    TRY(cuda_op_rope(d->k, c->d_key, B, T, h, dk, d->pos, half, c->rope_base, 1.0f, cs));
    cuda_bf16 *kc, *vc;
    int64_t C;
    if (state) {
        C = c->context;
        kc = (cuda_bf16 *)((char *)state + (size_t)l * layer_bytes(d, B));
        vc = kc + B * C * c->d_key;
    } else {
        C = T;
        kc = d->tcache;
        vc = kc + B * T * c->d_key;
    }
    TRY(cuda_attention_append(kc, vc, d->k, d->g, B, T, h, dk, dv, C, d->pos, hpos, cs));
    return cuda_attention_cached(d->o, d->q, kc, vc, B, T, h, dk, dv, C, d->pos, hpos,
                                 (float)(1.0 / sqrt((double)dk)), cs);
}

/* Where a layer's weights w0, w1, ... (bf16, rows of K) lie one after the other in the arena,
 * one product gives all their outputs side by side: its output, d->logits (wide enough:
 * acts_ready; free until the output layer), or NULL where they do not (or
 * RETNET_CUDA_ONE_PRODUCT=0). At the batches past the gemv kernels' a product's time is
 * mostly its launch and ramp, not its weights (q k v g as one product at M = 64: 16.4 us for
 * 50 MB in a CUDA graph, dev/cuda/lt_splitk.cu), so this saves most of three products and
 * a rope launch a layer (1.3B decoding at B = 64 5.34 -> 4.86 ms a step, next46.sh). */
static float *joined_out(const model_cuda *d, int64_t K, const float *const *w,
                         const int64_t *rows, int count) {
    if (!d->one_product) return NULL;
    for (int i = 1; i < count; i++)
        if (!w[i] || (const char *)w[i] != (const char *)w[i - 1] + 2 * (size_t)(rows[i - 1] * K))
            return NULL;
    return d->logits;
}

/* RetNet's token mixer of layer l on d->xb = Norm(x): x += wo HeadNormGate(retention). */
static retnet_status retention_mixer(model_cuda *d, int l, int64_t B, int64_t T, float *state,
                                     cuda_stream cs) {
    const retnet_config *c = &d->cfg;
    const retnet_layer_params *p32 = &d->l32[l], *p16 = &d->l16[l];
    const int64_t n = B * T, D = c->d_model, nv = n * c->d_value;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;
    /* a decoding step may rotate q and k in the products' epilogue (one position per row) */
    const int fuse = T == 1 && cuda_gemv_rope_epilogue() && cuda_gemv_suits(n, D, d->xb, D);
    const cuda_gemv_rope rq = {dk, half, c->rope_base, 1.0f, d->pos};
    const cuda_gemv_rope rk = {dk, half, c->rope_base, (float)(1.0 / sqrt((double)dk)), d->pos};
    /* the layer's norm rides in the products but for the first layer's (rms_chain) */
    const int rc = rms_chain(d, n, T, state), rin = rc && l > 0;
    const cuda_gemv_rms rms = {d->x, c->eps};
    const float *w4[4] = {p16->wq, p16->wk, p16->wv, p16->wg};
    const int64_t r4[4] = {c->d_key, c->d_key, c->d_value, c->d_value};
    float *joined = NULL;
    if (cuda_gemv_suits(n, D, d->xb, D)) { /* decoding: one launch, one read of x */
        const cuda_gemv_out o[4] = {
            {(const cuda_bf16 *)p16->wq, fuse ? (void *)d->qb : (void *)d->q,
             fuse ? CUDA_BF16 : CUDA_F32, c->d_key, c->d_key, NULL, fuse ? &rq : NULL},
            {(const cuda_bf16 *)p16->wk, fuse ? (void *)d->kb : (void *)d->k,
             fuse ? CUDA_BF16 : CUDA_F32, c->d_key, c->d_key, NULL, fuse ? &rk : NULL},
            {(const cuda_bf16 *)p16->wv, d->vb, CUDA_BF16, c->d_value, c->d_value, NULL, NULL},
            {(const cuda_bf16 *)p16->wg, d->g, CUDA_F32, c->d_value, c->d_value, NULL, NULL}};
        TRY(cuda_op_gemv_multi_rms(rin ? d->xw : d->xb, n, D, D, o, p16->wg ? 4 : 3,
                                   rin ? &rms : NULL, cs));
    } else if ((joined = joined_out(d, D, w4, r4, p16->wg ? 4 : 3))) {
        const int64_t W = 2 * c->d_key + (p16->wg ? 2 : 1) * c->d_value;
        TRY(mm(joined, d->xb, p16->wq, n, W, D, 0, cs));
        TRY(cuda_op_qkvg_split(d->qb, d->kb, d->vb, p16->wg ? d->g : NULL, joined, W, B, T, h,
                               dk, dv, d->pos, half, rq.base, rk.scale, cs));
    } else {
        TRY(mm(d->q, d->xb, p16->wq, n, c->d_key, D, 0, cs));
        TRY(mm(d->k, d->xb, p16->wk, n, c->d_key, D, 0, cs));
        TRY(cuda_op_matmul(d->vb, CUDA_BF16, d->xb, p16->wv, CUDA_BF16, n, c->d_value, D, 0,
                           cs));
        if (p16->wg) TRY(mm(d->g, d->xb, p16->wg, n, c->d_value, D, 0, cs));
    }
    /* as the CPU: dk^-0.5 folded into the keys with their rotation; retention's scale is 1 */
    if (!fuse && !joined) {
        TRY(cuda_op_rope_bf16(d->qb, d->q, c->d_key, B, T, h, dk, d->pos, half, rq.base,
                              rq.scale, cs));
        TRY(cuda_op_rope_bf16(d->kb, d->k, c->d_key, B, T, h, dk, d->pos, half, rk.base,
                              rk.scale, cs));
    }

    float *S = state ? (float *)((char *)state + (size_t)l * layer_bytes(d, B)) : NULL;
    /* §3: the key sums follow the B sequences' S in the layer's block */
    float *z = S && c->normalize ? S + B * layer_s_floats(c) : NULL;
    const win_ptrs w = win_at(d, state, B, l);
    /* without a window (small batches), §3's key-sum step rides in the state's update: one
     * launch less a layer (the preset at B = 1 1.171 -> 1.149 ms, dev/cuda/runs/next133.sh), where
     * a head's blocks fit one cluster (retention_cuda_step_rows_ok). In the window's step it
     * lost at large batches (next132) */
    const int zs = T == 1 && S && !w.W && z && d->z_fused && retention_cuda_step_rows_ok(dk, dv);
    /* and the head norm and gate, where a head's blocks fit one cluster: the fla shape at
     * B = 1 1.110 -> 1.089 ms, means of three runs alternated; the paper preset, whose step
     * also carries §3's sums, 1.151 -> 1.157 (dev/cuda/runs/next134.sh), and 1.175-1.182 ->
     * 1.188-1.218 once the rows step was a cluster too (next145.sh), so not with §3 unless
     * asked */
    const int has_hn = p16->wg || c->head_norm != RETNET_HEADNORM_NONE;
    const int hs = T == 1 && S && !w.W && (d->hn_fused == 2 || (d->hn_fused == 1 && !z)) &&
                   (!z || zs) && has_hn && retention_cuda_step_hn_ok(dk, dv);
    const int mode = model_head_norm_mode(c);
    const retention_cuda_head_norm hn = {p16->wg ? d->g : NULL, p32->hn_w,
                                         mode == 1 ? p32->hn_b : NULL, mode, c->eps, d->xb};
    int r = hs ? retention_cuda_step_hn((int)B, h, dk, dv, d->qb, d->kb, d->vb, d->gamma, 1.0f,
                                        S, d->o, zs ? z : NULL, d->gamma64, d->pos, &hn,
                                        (cudaStream_t)cs)
            : zs ? retention_cuda_step_rows((int)B, h, dk, dv, d->qb, d->kb, d->vb, d->gamma, 1.0f,
                                          S, d->o, z, d->gamma64, d->pos, (cudaStream_t)cs)
            : T == 1 && S && w.W
                ? retention_cuda_step_window((int)B, h, dk, dv, d->qb, d->kb, d->vb, d->gamma,
                                             1.0f, S, w.kw, w.vw, w.m, w.W, w.phase, d->o,
                                             RETNET_CUDA_F32, (cudaStream_t)cs)
            : T == 1 && S
                ? retention_cuda_step((int)B, h, dk, dv, d->qb, d->kb, d->vb, d->gamma, 1.0f, S,
                                      d->o, RETNET_CUDA_F32, (cudaStream_t)cs)
                : retention_cuda_forward((int)B, (int)T, h, dk, dv, d->qb, d->kb, d->vb, d->gamma,
                                         1.0f, S, S, d->o, RETNET_CUDA_F32, (cudaStream_t)cs);
    if (r)
        return retnet_fail(RETNET_EDEVICE, "CUDA: retention of layer %d: %s", l,
                           retention_cuda_errmsg());
    if (c->normalize && !zs) {
        if (T == 1 && S)
            TRY(cuda_retention_normalize_step(d->o, z, d->qb, d->kb, d->gamma64, d->pos, B, h, dk,
                                              dv, cs));
        else
            TRY(cuda_retention_normalize(d->o, d->qb, d->kb, d->gamma, d->gamma64, d->pos, z, z, B,
                                         T, h, dk, dv, NULL, NULL, cs));
    }
    if (hs) {
        /* xb written by the step */
    } else if (has_hn)
        TRY(cuda_op_head_norm_gate_bf16(d->xb, d->o, hn.g, hn.w, hn.b, n, h, dv, hn.eps, hn.mode,
                                        cs));
    else
        TRY(cuda_op_f32_to_bf16(d->xb, d->o, nv, cs));
    if (rc) return residual_rms(d, d->xb, p16->wo, n, c->d_value, p32->ffn_norm_w, cs);
    TRY(mm(d->x, d->xb, p16->wo, n, D, c->d_value, 1, cs));

    return RETNET_OK;
}

/* One layer, in place on d->x: x += Mixer(Norm(x)); x += FFN(Norm(x))   (RETNET.md §5; the
 * mixer: retention, or the Transformer's attention). */
static retnet_status layer_forward(model_cuda *d, int l, int64_t B, int64_t T, float *state,
                                   cuda_stream cs, const int64_t *hpos = NULL) {
    const retnet_config *c = &d->cfg;
    const retnet_layer_params *p32 = &d->l32[l], *p16 = &d->l16[l];
    const int64_t n = B * T, D = c->d_model, nv = n * c->d_value;

    const int rc = rms_chain(d, n, T, state);
    const cuda_gemv_rms rms = {d->x, c->eps};
    if (!rc || l == 0) TRY(norm_bf16(c, d->xb, d->x, p32->ret_norm_w, p32->ret_norm_b, n, cs));
    if (is_tf(c)) {
        TRY(attention_forward(d, l, B, T, state, hpos, cs));
        TRY(cuda_op_f32_to_bf16(d->xb, d->o, nv, cs));
        TRY(mm(d->x, d->xb, p16->wo, n, D, c->d_value, 1, cs));
    } else {
        TRY(retention_mixer(d, l, B, T, state, cs));
    }
    const int64_t nf = n * c->d_ffn;
    if (!rc) TRY(norm_bf16(c, d->xb, d->x, p32->ffn_norm_w, p32->ffn_norm_b, n, cs));
    if (cuda_gemv_suits(n, D, d->xb, D)) {
        /* decoding: the hidden layer in one pass into h1's (unused) space, bf16: both GLU
         * products and act(a) * b, or fc1 with gelu in its epilogue (the act kernel's bits) */
        cuda_bf16 *a = (cuda_bf16 *)d->h1;
        const cuda_gemv_out o = {(const cuda_bf16 *)p16->fc1, a, CUDA_BF16, c->d_ffn, c->d_ffn,
                                 NULL, NULL, 1};
        const cuda_bf16 *xin = rc ? d->xw : d->xb;
        if (c->ffn == RETNET_FFN_GLU)
            TRY(cuda_op_gemv_glu_rms(a, xin, (const cuda_bf16 *)p16->fc1,
                                     (const cuda_bf16 *)p16->gate, n, c->d_ffn, D, ffn_act(c),
                                     rc ? &rms : NULL, cs));
        else
            TRY(cuda_op_gemv_multi_rms(xin, n, D, D, &o, 1, rc ? &rms : NULL, cs));
        if (rc) /* the next layer's norm, or the final one */
            return residual_rms(d, a, p16->fc2, n, c->d_ffn,
                                l + 1 < c->n_layer ? d->l32[l + 1].ret_norm_w : d->g32.norm_w, cs);
        TRY(mm(d->x, a, p16->fc2, n, D, c->d_ffn, 1, cs));
        return RETNET_OK;
    }
    const float *w2[2] = {p16->fc1, p16->gate};
    const int64_t r2[2] = {c->d_ffn, c->d_ffn};
    float *joined = c->ffn == RETNET_FFN_GLU ? joined_out(d, D, w2, r2, 2) : NULL;
    if (joined) { /* fc1 and gate as one product, act(h1) h2 from its rows */
        TRY(mm(joined, d->xb, p16->fc1, n, 2 * c->d_ffn, D, 0, cs));
        TRY(cuda_op_glu_rows_bf16(d->xb, joined, n, c->d_ffn, ffn_act(c), cs));
        TRY(mm(d->x, d->xb, p16->fc2, n, D, c->d_ffn, 1, cs));
        return RETNET_OK;
    }
    TRY(mm(d->h1, d->xb, p16->fc1, n, c->d_ffn, D, 0, cs));
    if (c->ffn == RETNET_FFN_GLU) {
        /* as the CPU: act(fc1 x) * (gate x) */
        TRY(mm(d->h2, d->xb, p16->gate, n, c->d_ffn, D, 0, cs));
        TRY(cuda_op_glu_bf16(d->xb, d->h1, d->h2, nf, ffn_act(c), cs));
    } else {
        TRY(cuda_op_act_bf16(d->xb, d->h1, nf, CUDA_ACT_GELU, cs));
    }
    TRY(mm(d->x, d->xb, p16->fc2, n, D, c->d_ffn, 1, cs));
    return RETNET_OK;
}

/* The logits of rows T-1, 2T-1, ... (each sequence's last position) into last_dev (B, ldv):
 * a product with row stride T D. */
static retnet_status last_logits(model_cuda *d, int32_t B, int32_t T, const void *state,
                                 float *last_dev, cuda_stream cs) {
    const retnet_config *c = &d->cfg;
    const int64_t D = c->d_model;
    const float *wout = c->tie_embeddings ? d->g16.embed : d->g16.out;
    if (rms_chain(d, B, T, state)) { /* the final norm in the product (the last fc2 wrote xw) */
        const cuda_gemv_rms rms = {d->x, c->eps};
        const cuda_gemv_out o = {(const cuda_bf16 *)wout, last_dev, CUDA_F32, c->vocab, d->ldv,
                                 NULL};
        return cuda_op_gemv_multi_rms(d->xw, B, D, D, &o, 1, &rms, cs);
    }
    TRY(norm_bf16(c, d->xb, d->x, d->g32.norm_w, d->g32.norm_b, (int64_t)B * T, cs));
    return cuda_op_gemm(0, 1, B, c->vocab, D, 1.0f, d->xb + (int64_t)(T - 1) * D, (int64_t)T * D,
                        wout, D, CUDA_BF16, 0.0f,
                        last_dev, d->ldv, CUDA_F32, cs);
}

/*
 * A decoding step (T = 1, device states, logits kept on the device) as one CUDA graph: the
 * step is ~10 launches per layer whose kernels, at small batches, take less time than the
 * host takes to launch them, so it is captured once per (B, states, logits, buffers, cache
 * capacity, scratch) and
 * replayed: the same kernels on the same addresses, the tokens and positions read from the
 * buffers they were uploaded to. RETNET_CUDA_GRAPHS=0 turns this off (every step launched
 * one by one; the same results).
 */
static retnet_status next_ready(model_cuda *d, int32_t B);
static retnet_status argmax_ids(model_cuda *d, const float *logits_dev, int32_t B,
                                cudaStream_t cs, int32_t *host);

/* the decoding graph of B sequences on these states and logits: found among those kept, or
 * captured (into the least recently used slot) */
static retnet_status decode_graph_get(model_cuda *d, int32_t B, float *state_dev, float *last_dev,
                                      decode_graph **out) {
    const retnet_config *c = &d->cfg;
    if (!d->gstream)
        CUDA_TRY(cudaStreamCreateWithFlags(&d->gstream, cudaStreamNonBlocking), "a graph stream");
    if (!d->gready)
        CUDA_TRY(cudaEventCreateWithFlags(&d->gready, cudaEventDisableTiming), "a graph event");
    cuda_stream cs = (cuda_stream)d->gstream;
    /* the attention's scratch, grown before the capture (which must not reallocate it); a
     * later reallocation by other work moves it, and the graph is made again */
    void *scr = NULL;
    if (is_tf(c))
        TRY(cuda_scratch(&scr, (size_t)cuda_attention_scratch_bytes(B, 1, c->n_head,
                                                                    c->d_value / c->n_head,
                                                                    c->context)));
    /* the argmax's buffers, grown before the capture too (a regrowth moves them: the graph
     * is then made again) */
    if (d->graph_argmax) TRY(next_ready(d, B));
    if (B <= d->pstep_bmax && d->pstep) TRY(pstep_ready(d)); /* the graph reads the packed copy */
    decode_graph key = {NULL, 0, B, c->context, state_dev, last_dev, d->acts, scr,
                        d->acts_rows, d->graph_argmax ? d->hnext : NULL,
                        d->graph_argmax ? d->dnext : NULL};
    decode_graph *gr = NULL, *old = &d->graph[0];
    for (int i = 0; i < N_GRAPHS && !gr; i++) {
        decode_graph *h = &d->graph[i];
        if (h->exec && h->B == key.B && h->ctx == key.ctx && h->state == key.state &&
            h->last == key.last && h->acts == key.acts && h->scr == key.scr &&
            h->acts_rows == key.acts_rows && h->next == key.next && h->dnext == key.dnext)
            gr = h;
        else if (!h->exec || (old->exec && h->used < old->used))
            old = h; /* an empty slot, else the least recently used */
    }
    if (!gr) {
        gr = old;
        if (gr->exec) cudaGraphExecDestroy(gr->exec);
        gr->exec = NULL;
        CUDA_TRY(cudaStreamBeginCapture(d->gstream, cudaStreamCaptureModeThreadLocal),
                 "capturing a decoding step");
        retnet_status st = RETNET_OK;
        if (B <= d->pstep_bmax && d->pstep) {
            st = pstep_run(d, B, state_dev, last_dev, cs);
        } else {
            st = cuda_op_embed(d->x, d->g32.embed, d->tok, B, c->d_model, c->vocab,
                               embed_scale(c), cs);
            for (int l = 0; l < c->n_layer && !st; l++) st = layer_forward(d, l, B, 1, state_dev, cs);
            if (!st) st = win_advance(d, state_dev, B, cs);
            if (!st) st = last_logits(d, B, 1, state_dev, last_dev, cs);
        }
        if (!st && d->graph_argmax) st = argmax_ids(d, last_dev, B, (cudaStream_t)cs, d->hnext);
        cudaGraph_t g = NULL;
        cudaError_t e = cudaStreamEndCapture(d->gstream, &g);
        cudaGraphExec_t x = NULL;
        if (!st && e == cudaSuccess) e = cudaGraphInstantiate(&x, g, 0);
        if (g) cudaGraphDestroy(g);
        if (st) return st;
        if (e != cudaSuccess)
            return cuda_fail_(e, "making the decoding step's graph", __FILE__, __LINE__);
        *gr = key;
        gr->exec = x;
        d->captures++;
    }
    gr->used = ++d->graph_clock;
    *out = gr;
    return RETNET_OK;
}

/* pinned memory for B positions, then B tokens (hstage) */
static retnet_status stage_ready(model_cuda *d, int32_t B) {
    if (B <= d->stage_cap) return RETNET_OK;
    if (d->hstage) cudaFreeHost(d->hstage);
    d->hstage = NULL, d->stage_cap = 0;
    CUDA_TRY(cudaMallocHost(&d->hstage, (sizeof(int64_t) + sizeof(int32_t)) * (size_t)B),
             "pinned memory for the tokens");
    d->stage_cap = B;
    return RETNET_OK;
}

static retnet_status decode_step_graph(model_cuda *d, const int32_t *tokens, const int64_t *pos,
                                       int32_t B, float *state_dev, float *last_dev) {
    decode_graph *gr = NULL;
    TRY(decode_graph_get(d, B, state_dev, last_dev, &gr));
    /* the graph's stream does not wait for the legacy stream by itself, where the states
     * were copied (from pageable memory cudaMemcpy may return before its DMA lands): the
     * replay waits for everything issued there first. The tokens and positions go through
     * pinned memory on the graph's stream: two synchronous copies a step cost ~10 us
     * (dev/cuda/runs/next285: 1.004-1.012 ms against 1.015-1.027 at B = 1) */
    CUDA_TRY(cudaEventRecord(d->gready, 0), "ordering the decoding step");
    CUDA_TRY(cudaStreamWaitEvent(d->gstream, d->gready, 0), "ordering the decoding step");
    TRY(stage_ready(d, B));
    /* (the last step's copies are done: its stream was synchronized) */
    int64_t *hp = (int64_t *)d->hstage;
    int32_t *ht = (int32_t *)(hp + B);
    memcpy(hp, pos, sizeof(int64_t) * (size_t)B), memcpy(ht, tokens, sizeof(int32_t) * (size_t)B);
    CUDA_TRY(cudaMemcpyAsync(d->pos, hp, sizeof(int64_t) * (size_t)B, cudaMemcpyHostToDevice,
                             d->gstream),
             "copying the positions");
    CUDA_TRY(cudaMemcpyAsync(d->tok, ht, sizeof(int32_t) * (size_t)B, cudaMemcpyHostToDevice,
                             d->gstream),
             "copying the tokens");
    CUDA_TRY(cudaGraphLaunch(gr->exec, d->gstream), "launching the decoding step");
    TRY(retnet_cuda_sync((cuda_stream)d->gstream));
    if (d->graph_argmax) d->next_of = last_dev, d->next_B = B;
    return RETNET_OK;
}

/* A decoding step's kernels (norms, the gemv products, the retention step) launched with
 * programmatic dependent launch: each starts while the one before finishes, streaming its
 * weights (the step: its state) before it waits for its inputs; on for one forward, as the
 * ~8 short kernels of a layer spent a few us each in launch and ramp. RETNET_CUDA_PDL=0 (read
 * when the model moves to the GPU) turns it off: the same results. */
struct pdl_scope {
    int was, was_step;
    explicit pdl_scope(int on) : was(cuda_set_pdl(on)), was_step(retention_cuda_step_overlap(on)) {}
    ~pdl_scope() { cuda_set_pdl(was), retention_cuda_step_overlap(was_step); }
};

/* last_dev: only each sequence's last position's logits, into this device buffer (B, ldv);
 * `logits` (host, all positions) is then not used. */
static retnet_status forward_impl(model_cuda *d, const int32_t *tokens, int32_t B, int32_t T,
                                  float *state_dev, const int64_t *pos, float *logits,
                                  float *last_dev) {
    if (!d || !tokens) return retnet_fail(RETNET_EINVAL, "CUDA forward: NULL model or tokens");
    if (B < 1 || T < 1)
        return retnet_fail(RETNET_EINVAL, "CUDA forward: need at least one token (B=%d, T=%d)",
                           B, T);
    d->next_of = NULL; /* the graph's argmax ids are of the forward before */
    const retnet_config *c = &d->cfg;
    const int64_t n = (int64_t)B * T, D = c->d_model;
    TRY(model_check_tokens(c, tokens, B, T));
    TRY(retnet_cuda_init(d->device));
    TRY(acts_ready(d, n));
    if (is_tf(c) && state_dev && pos)
        for (int32_t b = 0; b < B; b++)
            if (pos[b] < 0 || pos[b] + T > c->context)
                return model_cache_overflow(c, b, pos[b] + T);
    if (!pos) { /* windows from position 0: host zeros for the attention's checks */
        if (B > d->hzero_cap) {
            free(d->hzero);
            d->hzero = (int64_t *)calloc((size_t)B, sizeof(int64_t));
            d->hzero_cap = d->hzero ? B : 0;
            if (!d->hzero) return retnet_fail(RETNET_ENOMEM, "out of memory");
        }
        pos = d->hzero;
    }
    pdl_scope pdl(d->pdl && T == 1 && state_dev);
    if (last_dev && T == 1 && state_dev && d->graphs)
        return decode_step_graph(d, tokens, pos, B, state_dev, last_dev); /* copies them itself */
    TRY(retnet_cuda_upload(d->tok, tokens, sizeof(int32_t) * (size_t)n));
    TRY(retnet_cuda_upload(d->pos, pos, sizeof(int64_t) * (size_t)B));

    const float *wout = c->tie_embeddings ? d->g16.embed : d->g16.out;
    /* in a graph the Transformer's attention gets no host positions (checked above): its
     * grid is sized for the whole cache and each row's splits still follow its own length
     * (attention.cu's split_len), so the results are those of a launch sized to the step */
    const int ps = B <= d->pstep_bmax && T == 1 && state_dev;
    if (ps && d->pstep) TRY(pstep_ready(d)); /* (may turn it off) */
    if (ps && d->pstep) { /* the whole step in one launch */
        TRY(pstep_run(d, B, state_dev, last_dev ? last_dev : d->logits, NULL));
        TRY(retnet_cuda_sync(NULL));
        if (last_dev || !logits) return RETNET_OK;
        CUDA_TRY(cudaMemcpy2D(logits, sizeof(float) * (size_t)c->vocab, d->logits,
                              sizeof(float) * (size_t)d->ldv, sizeof(float) * (size_t)c->vocab,
                              (size_t)B, cudaMemcpyDeviceToHost),
                 "downloading the logits");
        return RETNET_OK;
    }
    /* the chunkwise form reads the states: the windows folded in first */
    if (T > 1 && state_dev) TRY(win_flush(d, state_dev, B, 0, B, 1));
    TRY(cuda_op_embed(d->x, d->g32.embed, d->tok, n, D, c->vocab, embed_scale(c), NULL));
    for (int l = 0; l < c->n_layer; l++) TRY(layer_forward(d, l, B, T, state_dev, NULL, pos));
    if (T == 1 && state_dev) TRY(win_advance(d, state_dev, B, NULL));
    if (last_dev) {
        TRY(last_logits(d, B, T, state_dev, last_dev, NULL));
        return retnet_cuda_sync(NULL);
    }
    if (!logits) return retnet_cuda_sync(NULL);
    TRY(norm_bf16(c, d->xb, d->x, d->g32.norm_w, d->g32.norm_b, n));
    TRY(cuda_op_gemm(0, 1, n, c->vocab, D, 1.0f, d->xb, D, wout, D, CUDA_BF16, 0.0f, d->logits,
                     d->ldv, CUDA_F32, NULL));
    TRY(retnet_cuda_sync(NULL));
    CUDA_TRY(cudaMemcpy2D(logits, sizeof(float) * (size_t)c->vocab, d->logits,
                          sizeof(float) * (size_t)d->ldv, sizeof(float) * (size_t)c->vocab,
                          (size_t)n, cudaMemcpyDeviceToHost),
             "downloading the logits");
    return RETNET_OK;
}

retnet_status model_cuda_forward_states(model_cuda *d, const int32_t *tokens, int32_t B,
                                        int32_t T, float *state_dev, const int64_t *pos,
                                        float *logits) {
    return forward_impl(d, tokens, B, T, state_dev, pos, logits, NULL);
}

retnet_status model_cuda_forward_last(model_cuda *d, const int32_t *tokens, int32_t B,
                                      int32_t T, float *state_dev, const int64_t *pos,
                                      float *logits_dev) {
    if (!logits_dev) return retnet_fail(RETNET_EINVAL, "CUDA forward_last: NULL logits");
    return forward_impl(d, tokens, B, T, state_dev, pos, NULL, logits_dev);
}

/* One block per row: the first index of the largest value (retnet_sample's argmax: NaNs
 * never win). Each thread visits its indices in increasing order, so ties keep the first;
 * with 16-byte rows (vec) it reads float4s, 8 in flight (the 1.3B vocabulary, 32000, in one
 * round trip: one load at a time took ~50 us, 4 floats in flight 12.6 us under ncu). */
__global__ void argmax_kernel(int32_t *next, const float *logits, int64_t V, int64_t ld,
                              int vec) {
    const float *row = logits + (int64_t)blockIdx.x * ld;
    float best = -INFINITY;
    int64_t bi = 0x7fffffffffffffffll;
    if (vec) {
        const float4 *r4 = (const float4 *)row;
        const int64_t V4 = V / 4;
        for (int64_t i0 = threadIdx.x; i0 < V4; i0 += 8 * (int64_t)blockDim.x) {
            float4 v[8];
#pragma unroll
            for (int u = 0; u < 8; u++) {
                const int64_t i = i0 + u * (int64_t)blockDim.x;
                v[u] = i < V4 ? r4[i] : make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
            }
#pragma unroll
            for (int u = 0; u < 8; u++) {
                const int64_t i = 4 * (i0 + u * (int64_t)blockDim.x);
                if (v[u].x > best) best = v[u].x, bi = i;
                if (v[u].y > best) best = v[u].y, bi = i + 1;
                if (v[u].z > best) best = v[u].z, bi = i + 2;
                if (v[u].w > best) best = v[u].w, bi = i + 3;
            }
        }
        /* the last V % 4 (each the largest index its thread visits) */
        const int64_t i = 4 * V4 + threadIdx.x;
        if (i < V && row[i] > best) best = row[i], bi = i;
    } else {
        for (int64_t i0 = threadIdx.x; i0 < V; i0 += 4 * (int64_t)blockDim.x) {
            float v[4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const int64_t i = i0 + u * (int64_t)blockDim.x;
                v[u] = i < V ? row[i] : -INFINITY;
            }
#pragma unroll
            for (int u = 0; u < 4; u++)
                if (v[u] > best) best = v[u], bi = i0 + u * (int64_t)blockDim.x;
        }
    }
    __shared__ float sv[1024];
    __shared__ int64_t si[1024];
    sv[threadIdx.x] = best, si[threadIdx.x] = bi;
    __syncthreads();
    for (int o = blockDim.x / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) {
            float v2 = sv[threadIdx.x + o];
            int64_t i2 = si[threadIdx.x + o];
            if (v2 > sv[threadIdx.x] || (v2 == sv[threadIdx.x] && i2 < si[threadIdx.x]))
                sv[threadIdx.x] = v2, si[threadIdx.x] = i2;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) next[blockIdx.x] = si[0] < V ? (int32_t)si[0] : 0;
}

/* dnext (device) and hnext (pinned host) for B ids, grown together */
static retnet_status next_ready(model_cuda *d, int32_t B) {
    if (B <= d->next_cap) return RETNET_OK;
    retnet_cuda_free(d->dnext);
    if (d->hnext) cudaFreeHost(d->hnext);
    d->dnext = NULL, d->hnext = NULL, d->next_cap = 0;
    TRY(retnet_cuda_malloc((void **)&d->dnext, sizeof(int32_t) * (size_t)B, "argmax ids"));
    CUDA_TRY(cudaMallocHost((void **)&d->hnext, sizeof(int32_t) * (size_t)B),
             "pinned memory for the argmax ids");
    d->next_cap = B;
    return RETNET_OK;
}

/* the argmax of B rows of logits (row stride ldv) into dnext, copied into host (pinned) */
static retnet_status argmax_ids(model_cuda *d, const float *logits_dev, int32_t B,
                                cudaStream_t cs, int32_t *host) {
    const int vec = ((uintptr_t)logits_dev & 15) == 0; /* rows of ldv: multiples of 16 bytes */
    argmax_kernel<<<B, 1024, 0, cs>>>(d->dnext, logits_dev, d->cfg.vocab, d->ldv, vec);
    CUDA_LAUNCHED("argmax");
    CUDA_TRY(cudaMemcpyAsync(host, d->dnext, sizeof(int32_t) * (size_t)B,
                             cudaMemcpyDeviceToHost, cs),
             "copying the argmax ids");
    return RETNET_OK;
}

int64_t model_cuda_graph_captures(const model_cuda *d) { return d ? d->captures : 0; }
int model_cuda_persistent(const model_cuda *d) { return d ? d->pstep : 0; }

/*
 * The greedy ids of the last decoding step. A decoding graph computes them itself, its last
 * nodes the argmax kernel and a copy into pinned host memory, so that this call only reads
 * them: one launch and one wait a token fewer. The fla shape, three runs alternated, ms: B = 1
 * 1.041-1.048 -> 1.034-1.039, 8 1.516-1.521 -> 1.506-1.508, 64 3.187-3.201 -> 3.175-3.186
 * (dev/cuda/runs/next198.sh). Elsewhere the kernel runs here. The same kernel either way: the
 * same ids.
 */
retnet_status model_cuda_argmax(model_cuda *d, const float *logits_dev, int32_t B,
                                int32_t *next) {
    if (!d || !logits_dev || !next || B < 1)
        return retnet_fail(RETNET_EINVAL, "CUDA argmax: bad arguments");
    if (d->next_of && d->next_of == logits_dev && d->next_B == B) {
        memcpy(next, d->hnext, sizeof(int32_t) * (size_t)B);
        return RETNET_OK;
    }
    /* hnext is rewritten below (and may move): the graph's ids are gone, even for the
     * logits they were of (two batches of one model, their argmaxes after both forwards) */
    d->next_of = NULL;
    TRY(next_ready(d, B));
    TRY(argmax_ids(d, logits_dev, B, NULL, d->hnext));
    TRY(retnet_cuda_sync(NULL));
    memcpy(next, d->hnext, sizeof(int32_t) * (size_t)B);
    return RETNET_OK;
}

/* a greedy run's step i: the ids of the step before become the tokens, and ids[i] */
__global__ void feed_kernel(int32_t *tok, int64_t *pos, int32_t *ids, const int32_t *next, int B,
                            int advance) {
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    const int32_t t = next[b];
    tok[b] = t, ids[b] = t;
    if (advance) pos[b] += 1;
}

/*
 * n greedy steps with no turn of the host between them. Each step's tokens are the argmax ids
 * the decoding graph computed at the end of the step before (dnext), put in place by a small
 * kernel beside the position's advance, so the host queues all n replays at once and waits
 * once, where a step by retnet_batch_forward and retnet_batch_argmax waits for the graph,
 * reads the ids, stages them in pinned memory and launches the next. The same graph, so the
 * same bits. On the H200 at the 1.3B fla shape (dev/cuda/runs/next304-306) that was level at
 * B = 1, 1.5-2% faster at B = 8 and 1.5-2.5% slower at B = 64, where the kernels' own times
 * were the same (not explained). Without graphs or the graph's argmax (RETNET_CUDA_GRAPHS=0,
 * RETNET_CUDA_GRAPH_ARGMAX=0: model_cuda_greedy_queues is 0) retnet_batch_greedy takes the
 * steps one at a time itself.
 */
int model_cuda_greedy_queues(const model_cuda *d) { return d && d->graphs && d->graph_argmax; }

retnet_status model_cuda_greedy(model_cuda *d, int32_t B, int32_t n, float *state_dev,
                                const int64_t *pos, float *last_dev, int32_t *ids) {
    if (!d || !state_dev || !pos || !last_dev || !ids || B < 1 || n < 1)
        return retnet_fail(RETNET_EINVAL, "CUDA greedy: bad arguments");
    const retnet_config *c = &d->cfg;
    if (is_tf(c))
        for (int32_t b = 0; b < B; b++)
            if (pos[b] < 0 || pos[b] + n > c->context) return model_cache_overflow(c, b, pos[b] + n);
    if (!model_cuda_greedy_queues(d))
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA greedy: needs the decoding graphs and their argmax");
    TRY(retnet_cuda_init(d->device));
    TRY(acts_ready(d, B));
    pdl_scope pdl(d->pdl); /* as forward_impl's steps are captured */
    const int mine = d->next_of == last_dev && d->next_B == B; /* dnext: argmax of last_dev */
    d->next_of = NULL;
    decode_graph *gr = NULL;
    TRY(decode_graph_get(d, B, state_dev, last_dev, &gr));
    /* the ids on the device in runs of at most 2^22 (16 MB), each copied out after its run
     * (d->greedy_run, a test's: shorter runs) */
    int64_t most = (1 << 22) / B > 0 ? (1 << 22) / B : 1;
    if (d->greedy_run > 0 && d->greedy_run < most) most = d->greedy_run;
    const int32_t per = (int32_t)(n < most ? n : most);
    const int64_t nid = (int64_t)per * B;
    if (nid > d->ids_cap) {
        retnet_cuda_free(d->dids);
        d->dids = NULL, d->ids_cap = 0;
        TRY(retnet_cuda_malloc((void **)&d->dids, sizeof(int32_t) * (size_t)nid, "greedy ids"));
        d->ids_cap = nid;
    }
    cudaStream_t gs = d->gstream;
    CUDA_TRY(cudaEventRecord(d->gready, 0), "ordering the greedy steps");
    CUDA_TRY(cudaStreamWaitEvent(gs, d->gready, 0), "ordering the greedy steps");
    if (!mine) TRY(argmax_ids(d, last_dev, B, gs, d->hnext));
    TRY(stage_ready(d, B));
    memcpy(d->hstage, pos, sizeof(int64_t) * (size_t)B);
    CUDA_TRY(cudaMemcpyAsync(d->pos, d->hstage, sizeof(int64_t) * (size_t)B,
                             cudaMemcpyHostToDevice, gs),
             "copying the positions");
    for (int32_t done = 0; done < n; done += per) {
        const int32_t k = n - done < per ? n - done : per;
        for (int32_t i = 0; i < k; i++) {
            feed_kernel<<<(B + 127) / 128, 128, 0, gs>>>(d->tok, d->pos, d->dids + (int64_t)i * B,
                                                         d->dnext, B, done + i > 0);
            CUDA_LAUNCHED("a greedy step's tokens");
            CUDA_TRY(cudaGraphLaunch(gr->exec, gs), "launching a greedy step");
        }
        TRY(retnet_cuda_sync((cuda_stream)gs));
        CUDA_TRY(cudaMemcpy(ids + (int64_t)done * B, d->dids, sizeof(int32_t) * (size_t)k * B,
                            cudaMemcpyDeviceToHost),
                 "copying the greedy ids");
    }
    d->next_of = last_dev, d->next_B = B; /* the last graph's ids, in hnext */
    return RETNET_OK;
}

/* --------------------------------------------------------------------- states */

retnet_status model_cuda_states_alloc(const model_cuda *d, int32_t B, float **state_dev) {
    if (!d || !state_dev || B < 1)
        return retnet_fail(RETNET_EINVAL, "model_cuda_states_alloc: bad arguments");
    size_t bytes = states_bytes_of(d, B);
    TRY(retnet_cuda_malloc((void **)state_dev, bytes, "the decoding states"));
    TRY(retnet_cuda_memset0(*state_dev, bytes, NULL));
    return retnet_cuda_sync(NULL);
}

/* Sequence b's state between the host (per layer: S, then z with §3) and the device (per
 * layer: the B sequences' S, then their z): one strided copy per part (one per layer where
 * the device's layer stride reaches 2^30 bytes, below cudaMemcpy2D's pitch limit). */
static retnet_status seq_copy(const model_cuda *d, char *dev, int32_t B, int32_t b, char *host,
                              cudaMemcpyKind kind) {
    const retnet_config *c = &d->cfg;
    const size_t S = sizeof(float) * (size_t)layer_s_floats(c);
    const size_t Z = sizeof(float) * (size_t)layer_z_floats(c), L = c->n_layer;
    const size_t LB = layer_bytes(d, B), H = S + Z;
    const int up = kind == cudaMemcpyHostToDevice;
    const char *what = up ? "uploading a state" : "downloading a state";
    for (int part = 0; part < 2; part++) {
        const size_t w = part ? Z : S;
        if (!w) continue;
        char *dv = dev + (part ? (size_t)B * S + b * Z : b * S), *hs = host + (part ? S : 0);
        if (LB < ((size_t)1 << 30)) {
            if (up) CUDA_TRY(cudaMemcpy2D(dv, LB, hs, H, w, L, kind), what);
            else CUDA_TRY(cudaMemcpy2D(hs, H, dv, LB, w, L, kind), what);
        } else {
            for (size_t l = 0; l < L; l++)
                CUDA_TRY(up ? cudaMemcpy(dv + l * LB, hs + l * H, w, kind)
                            : cudaMemcpy(hs + l * H, dv + l * LB, w, kind), what);
        }
    }
    return RETNET_OK;
}

/* Sequences [b0, b0 + n) of B (host[0..n)): their windows folded in once before a download,
 * emptied after an upload (a new state has none) */
static retnet_status seqs_copy(const model_cuda *d, char *dev, char *const *host, int32_t B,
                               int32_t b0, int32_t n, cudaMemcpyKind kind) {
    const int up = kind == cudaMemcpyHostToDevice;
    if (!up) TRY(win_flush(d, (float *)dev, B, b0, n, 1));
    for (int32_t b = 0; b < n; b++) TRY(seq_copy(d, dev, B, b0 + b, host[b], kind));
    return up ? win_flush(d, (float *)dev, B, b0, n, 0) : RETNET_OK;
}

static retnet_status states_copy(const model_cuda *d, char *dev, char *const *host, int32_t B,
                                 cudaMemcpyKind kind) {
    return seqs_copy(d, dev, host, B, 0, B, kind);
}

/*
 * The Transformer: sequence b's KV cache between the host (fp32, per layer (context, d_key)
 * then (context, d_value): model.h's model_kv_cache) and the device (bf16, cuda/attention.h's
 * layer-major layout), its first `rows` positions only (the rest is never read). Through a
 * staging buffer (the runtime's scratch) and a conversion: a cache that has been on the
 * device comes back rounded to bf16.
 */
static retnet_status tf_seq_copy(model_cuda *d, char *dev, int32_t B, int32_t b, float *host,
                                 int64_t rows, int upload) {
    const retnet_config *c = &d->cfg;
    const int64_t C = c->context, dK = c->d_key, dV = c->d_value;
    if (rows > C) rows = C;
    if (rows <= 0) return RETNET_OK;
    void *tmp = NULL;
    TRY(cuda_scratch(&tmp, sizeof(float) * (size_t)(rows * (dK > dV ? dK : dV))));
    for (int l = 0; l < c->n_layer; l++) {
        cuda_bf16 *kc = (cuda_bf16 *)(dev + (size_t)l * layer_bytes(d, B)) + b * C * dK;
        cuda_bf16 *vc = (cuda_bf16 *)(dev + (size_t)l * layer_bytes(d, B)) + B * C * dK +
                        b * C * dV;
        float *hk = host + (int64_t)l * C * (dK + dV), *hv = hk + C * dK;
        for (int kv = 0; kv < 2; kv++) {
            cuda_bf16 *dc = kv ? vc : kc;
            float *hc = kv ? hv : hk;
            const int64_t cnt = rows * (kv ? dV : dK);
            if (upload) {
                TRY(retnet_cuda_upload(tmp, hc, sizeof(float) * (size_t)cnt));
                TRY(cuda_op_f32_to_bf16(dc, (const float *)tmp, cnt, NULL));
            } else {
                TRY(cuda_op_bf16_to_f32((float *)tmp, dc, cnt, NULL));
                TRY(retnet_cuda_download(hc, tmp, sizeof(float) * (size_t)cnt));
            }
        }
    }
    return retnet_cuda_sync(NULL);
}

/* The host states' data pointers, for states_copy (B of them; grown on demand). */
static retnet_status host_ptrs(model_cuda *d, const retnet_state *states, int32_t B) {
    if (B > d->hptr_cap) {
        free(d->hptr);
        d->hptr = (char **)malloc(sizeof(char *) * (size_t)B);
        d->hptr_cap = d->hptr ? B : 0;
        if (!d->hptr) return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    for (int32_t b = 0; b < B; b++) d->hptr[b] = (char *)states[b].data;
    return RETNET_OK;
}

retnet_status model_cuda_states_upload(model_cuda *d, float *state_dev,
                                       const retnet_state *states, int32_t B) {
    if (is_tf(&d->cfg)) {
        for (int32_t b = 0; b < B; b++)
            TRY(tf_seq_copy(d, (char *)state_dev, B, b, states[b].data, states[b].pos, 1));
        return RETNET_OK;
    }
    TRY(host_ptrs(d, states, B));
    return states_copy(d, (char *)state_dev, d->hptr, B, cudaMemcpyHostToDevice);
}

/* extra: positions beyond states[b].pos that the device holds (a forward's T). */
static retnet_status states_download(model_cuda *d, retnet_state *states, const float *state_dev,
                                     int32_t B, int64_t extra) {
    if (is_tf(&d->cfg)) {
        for (int32_t b = 0; b < B; b++)
            TRY(tf_seq_copy(d, (char *)state_dev, B, b, states[b].data, states[b].pos + extra, 0));
        return RETNET_OK;
    }
    TRY(host_ptrs(d, states, B));
    return states_copy(d, (char *)state_dev, d->hptr, B, cudaMemcpyDeviceToHost);
}

retnet_status model_cuda_states_download(model_cuda *d, retnet_state *states,
                                         const float *state_dev, int32_t B) {
    if (is_tf(&d->cfg)) return states_download(d, states, state_dev, B, 0);
    TRY(host_ptrs(d, states, B));
    return states_copy(d, (char *)state_dev, d->hptr, B, cudaMemcpyDeviceToHost);
}

retnet_status model_cuda_forward(retnet_model *m, const int32_t *tokens, int32_t B, int32_t T,
                                 retnet_form form, retnet_state *states, float *logits) {
    (void)form;
    model_cuda *d = (model_cuda *)m->device;
    if (!d) return retnet_fail(RETNET_EINVAL, "CUDA forward: the model is not on a device");
    if (!states) return model_cuda_forward_states(d, tokens, B, T, NULL, NULL, logits);
    TRY(retnet_cuda_init(d->device));
    if (B > d->state_B) {
        retnet_cuda_free(d->state);
        d->state = NULL;
        d->state_B = 0;
        size_t bytes = states_bytes_of(d, B);
        TRY(retnet_cuda_malloc((void **)&d->state, bytes, "the callers' states"));
        d->state_B = B;
        d->states_bytes = bytes;
    }
    if (B > d->hpos_cap) {
        free(d->hpos);
        d->hpos = (int64_t *)malloc(sizeof(int64_t) * (size_t)B);
        d->hpos_cap = d->hpos ? B : 0;
        if (!d->hpos) return retnet_fail(RETNET_ENOMEM, "out of memory");
    }
    for (int32_t b = 0; b < B; b++) d->hpos[b] = states[b].pos;
    TRY(model_cuda_states_upload(d, d->state, states, B));
    TRY(model_cuda_forward_states(d, tokens, B, T, d->state, d->hpos, logits));
    TRY(states_download(d, states, d->state, B, T));
    for (int32_t b = 0; b < B; b++) states[b].pos += T;
    return RETNET_OK;
}


/* --------------------------------------------------------------------- step timing */
/*
 * RETNET_CUDA_TIMING=1 in the environment: each training pass prints to stderr where its
 * time went on the device, by phase (events recorded on the default stream between the ops;
 * a phase runs from its mark to the next). For finding what to fuse, not for benchmarks:
 * the marks themselves cost a few microseconds each.
 */
enum { PH_MAX = 4096 };
static struct {
    int on; /* -1: not read yet */
    int n;
    const char *name[PH_MAX];
    cudaEvent_t ev[PH_MAX];
    int made;
} ph = {-1, 0, {0}, {0}, 0};

static void ph_mark(const char *name) {
    if (ph.on < 0) {
        const char *e = getenv("RETNET_CUDA_TIMING");
        ph.on = e && *e && strcmp(e, "0");
    }
    if (!ph.on || ph.n >= PH_MAX) return;
    if (ph.n >= ph.made) {
        if (cudaEventCreate(&ph.ev[ph.n]) != cudaSuccess) return;
        ph.made++;
    }
    ph.name[ph.n] = name;
    cudaEventRecord(ph.ev[ph.n], NULL);
    ph.n++;
}

static void ph_report(int64_t tokens) {
    if (ph.on <= 0 || ph.n < 2) {
        ph.n = 0;
        return;
    }
    cudaEventSynchronize(ph.ev[ph.n - 1]);
    const char *names[64];
    double ms[64], total = 0;
    int k = 0;
    for (int i = 0; i + 1 < ph.n; i++) {
        float t = 0;
        cudaEventElapsedTime(&t, ph.ev[i], ph.ev[i + 1]);
        int j = 0;
        while (j < k && strcmp(names[j], ph.name[i])) j++;
        if (j == k && k < 64) names[k] = ph.name[i], ms[k++] = 0;
        if (j < 64) ms[j] += t;
        total += t;
    }
    fprintf(stderr, "CUDA step timing (%lld tokens): %.2f ms\n", (long long)tokens, total);
    for (int j = 0; j < k; j++)
        fprintf(stderr, "  %-24s %9.3f ms  %5.1f%%\n", names[j], ms[j], 100 * ms[j] / total);
    ph.n = 0;
}

/* ===================================================================== training */
/*
 * Mixed precision, as model_cuda.h says: every product reads bf16 operands (the weights'
 * bf16 copies, activations and gradients rounded where they become an operand) and
 * accumulates in fp32; weight gradients accumulate in fp32 into the master layout; norms,
 * residuals, the head norm, activations and the loss are fp32. The backward is src/model.c's
 * layer_backward op for op.
 */

/* Whether master tensor a's gradient is written whole by the backward's first product into
 * it: a layer's product weights, the output projection, or the embedding where the output
 * projection is tied to it (its product runs first; the embedding's backward adds after). */
static int product_grad(const model_cuda *d, const retnet_param_desc *p, const float *a) {
    if (p->layer >= 0) {
        const retnet_layer_params *l = &d->lm[p->layer];
        return a == l->wq || a == l->wk || a == l->wv || a == l->wg || a == l->wo ||
               a == l->fc1 || a == l->gate || a == l->fc2;
    }
    return a == d->gm.out || (d->cfg.tie_embeddings && a == d->gm.embed);
}

/* zr: the other tensors' ranges, adjacent ones merged (RETNET_CUDA_GRAD_WRITE) */
static retnet_status zero_ranges(model_cuda *d, const retnet_model *m) {
    free(d->zr);
    d->nzr = 0;
    d->zr = (int64_t *)malloc(sizeof(int64_t) * 2 * (size_t)(m->n_tensors > 0 ? m->n_tensors : 1));
    if (!d->zr) return retnet_fail(RETNET_ENOMEM, "out of memory");
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const retnet_param_desc *p = &m->table[i];
        if (product_grad(d, p, d->master + p->offset)) continue;
        if (d->nzr && d->zr[2 * d->nzr - 2] + d->zr[2 * d->nzr - 1] == p->offset)
            d->zr[2 * d->nzr - 1] += p->numel;
        else
            d->zr[2 * d->nzr] = p->offset, d->zr[2 * d->nzr + 1] = p->numel, d->nzr++;
    }
    return RETNET_OK;
}

retnet_status model_cuda_train_begin(model_cuda *d, const retnet_model *m) {
    return model_cuda_train_begin_ex(d, m, 1);
}

retnet_status model_cuda_train_begin_ex(model_cuda *d, const retnet_model *m, int moments) {
    if (!d || !m) return retnet_fail(RETNET_EINVAL, "model_cuda_train_begin: NULL argument");
    if (d->master && (!moments || (d->m1 && d->m2))) return RETNET_OK;
    if (d->master) { /* made without moments (a ZeRO-1 rank); a plain trainer wants them */
        const size_t b = sizeof(float) * (size_t)d->n_params;
        retnet_status st = d->m1 ? RETNET_OK
                                 : retnet_cuda_malloc((void **)&d->m1, b, "AdamW's first moments");
        if (!st && !d->m2) st = retnet_cuda_malloc((void **)&d->m2, b, "AdamW's second moments");
        if (!st) st = retnet_cuda_memset0(d->m1, b, NULL);
        if (!st) st = retnet_cuda_memset0(d->m2, b, NULL);
        if (!st) st = retnet_cuda_sync(NULL);
        if (st) { /* none half made: a later call starts again */
            retnet_cuda_free(d->m1), retnet_cuda_free(d->m2);
            d->m1 = d->m2 = NULL;
        }
        return st;
    }
    if (is_tf(&d->cfg))
        return retnet_fail(RETNET_EUNSUPPORTED, "CUDA: training the Transformer baseline on the "
                           "GPU is not implemented (its attention has no CUDA backward); train it "
                           "on the cpu");
    if (m->bf16_only)
        return retnet_fail(RETNET_EINVAL, "training needs float32 weights, and this model holds "
                           "them in bf16 only: load it without RETNET_LOAD_BF16");
    TRY(retnet_cuda_init(d->device));
    const int64_t np = m->n_params;
    const size_t bytes = sizeof(float) * (size_t)np;
    d->lm = (retnet_layer_params *)calloc((size_t)d->cfg.n_layer, sizeof *d->lm);
    d->tl = (struct train_layer *)calloc((size_t)d->cfg.n_layer, sizeof *d->tl);
    d->tb = (struct train_bufs *)calloc(1, sizeof *d->tb);
    if (!d->lm || !d->tl || !d->tb) return retnet_fail(RETNET_ENOMEM, "out of memory");
    retnet_status st = retnet_cuda_malloc((void **)&d->master, bytes, "the master weights");
    if (!st) st = retnet_cuda_malloc((void **)&d->grads, bytes, "the gradients");
    if (!st && moments) st = retnet_cuda_malloc((void **)&d->m1, bytes, "AdamW's first moments");
    if (!st && moments) st = retnet_cuda_malloc((void **)&d->m2, bytes, "AdamW's second moments");
    if (!st) st = retnet_cuda_malloc((void **)&d->dsum, 2 * sizeof(double), "a device sum");
    if (!st) st = retnet_cuda_upload(d->master, m->params, bytes);
    if (!st) st = retnet_cuda_memset0(d->grads, bytes, NULL);
    if (!st && moments) st = retnet_cuda_memset0(d->m1, bytes, NULL);
    if (!st && moments) st = retnet_cuda_memset0(d->m2, bytes, NULL);
    if (!st) st = retnet_cuda_sync(NULL);
    if (st) {
        retnet_cuda_free(d->master), retnet_cuda_free(d->grads);
        retnet_cuda_free(d->m1), retnet_cuda_free(d->m2);
        d->master = d->grads = d->m1 = d->m2 = NULL;
        return st;
    }
    d->n_params = np;
    /* every tensor's master address; the forward's fp32 reads move there (the fp32 arena
     * held the same values and goes) */
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const retnet_param_desc *p = &m->table[i];
        float *a = d->master + p->offset;
        *field(m, p, &d->gm, d->lm) = a;
        if (has_fp32(m, p)) *field(m, p, &d->g32, d->l32) = a;
    }
    retnet_cuda_free(d->w32);
    d->w32 = NULL;
    d->w32_bytes = 0;
    graphs_drop(d); /* they read the fp32 weights where they were: captured again */
    if (d->grad_write) TRY(zero_ranges(d, m));
    return RETNET_OK;
}

/* The gradient tensor of master tensor p (NULL stays NULL). */
static float *grad_of(const model_cuda *d, const float *p) {
    return p ? d->grads + (p - d->master) : NULL;
}

retnet_status model_cuda_zero_grads(model_cuda *d) {
    if (!d || !d->master) return retnet_fail(RETNET_EINVAL, "CUDA: the model is not training");
    d->grads_unset = 0;
    if (!d->grad_write || !d->zr)
        return retnet_cuda_memset0(d->grads, sizeof(float) * (size_t)d->n_params, NULL);
    for (int32_t i = 0; i < d->nzr; i++)
        TRY(retnet_cuda_memset0(d->grads + d->zr[2 * i], sizeof(float) * (size_t)d->zr[2 * i + 1],
                                NULL));
    d->grads_unset = 1;
    return RETNET_OK;
}

/* The gradient buffer as its readers must see it: all zeros while no backward has written the
 * products' gradients since zero_grads (RETNET_CUDA_GRAD_WRITE) */
static retnet_status grads_ready(model_cuda *d) {
    if (!d->grads_unset) return RETNET_OK;
    d->grads_unset = 0;
    return retnet_cuda_memset0(d->grads, sizeof(float) * (size_t)d->n_params, NULL);
}

/* The weight gradients' beta in the backward's products: 0 (written) right after a partial
 * zero_grads, else 1 (added) */
static float wbeta(const model_cuda *d) { return d->grads_unset ? 0.0f : 1.0f; }

/* The training buffers for n rows (grown on demand; one block). */
static retnet_status train_ready(model_cuda *d, int64_t n) {
    if (n <= d->tacts_rows) return RETNET_OK;
    const retnet_config *c = &d->cfg;
    const int64_t D = c->d_model, K = c->d_key, V = c->d_value, F = c->d_ffn, L = c->n_layer;
    const int glu = c->ffn == RETNET_FFN_GLU;
    int64_t wide = F > V ? F : V;
    if (K > wide) wide = K;
    int64_t gw = wide > D ? wide : D;
    if (d->ldv > gw) gw = d->ldv;
    retnet_cuda_free(d->tacts);
    d->tacts = NULL;
    d->tacts_rows = 0;
    d->tacts_bytes = 0;
    /* two passes: sizes, then addresses */
    void *base = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
#define CARVE(ptr, type, count)                                                          \
    do {                                                                                 \
        size_t b_ = sizeof(type) * (size_t)(count);                                      \
        (ptr) = pass && b_ ? (type *)((char *)base + off) : NULL;                        \
        off += align_up(b_);                                                             \
    } while (0)
        for (int64_t l = 0; l < L; l++) {
            struct train_layer *A = &d->tl[l];
            CARVE(A->x, float, n * D);
            CARVE(A->xn1, cuda_bf16, n * D);
            CARVE(A->q, cuda_bf16, n * K);
            CARVE(A->k, cuda_bf16, n * K);
            CARVE(A->v, cuda_bf16, n * V);
            CARVE(A->g, float, d->l16[l].wg ? n * V : 0);
            CARVE(A->o, float, n * V);
            CARVE(A->f, float, c->normalize ? n * c->n_head : 0);
            CARVE(A->r, float, c->normalize ? n * c->n_head : 0);
            CARVE(A->y, cuda_bf16, n * V);
            CARVE(A->xm, float, n * D);
            CARVE(A->xn2, cuda_bf16, n * D);
            CARVE(A->h1, float, n * F);
            CARVE(A->h2, float, glu ? n * F : 0);
            CARVE(A->a, cuda_bf16, n * F);
        }
        struct train_bufs *G = d->tb;
        CARVE(G->xs, float, n * D);
        CARVE(G->xnf, cuda_bf16, n * D);
        CARVE(G->logits, float, n * d->ldv);
        CARVE(G->losses, float, n);
        CARVE(G->tok, int32_t, n);
        CARVE(G->tgt, int32_t, n);
        CARVE(G->dx, float, n * D);
        CARVE(G->dxn, float, n * D);
        CARVE(G->f1, float, n * wide);
        CARVE(G->dq, float, n * K);
        CARVE(G->dk, float, n * K);
        CARVE(G->dv, float, n * V);
        CARVE(G->gb, cuda_bf16, n * gw);
        CARVE(G->gb2, cuda_bf16, n * wide);
        CARVE(G->dr8, cuda_bf16, c->normalize ? n * c->n_head * 8 : 0);
        CARVE(G->ones8, cuda_bf16, c->normalize && !d->rows_ret ? n * c->n_head * 8 : 0);
#undef CARVE
        if (!pass) {
            TRY(retnet_cuda_malloc(&base, off, "the training activations (use a smaller batch "
                                   "or sequence)"));
            d->tacts = base;
            d->tacts_bytes = off;
        }
    }
    d->tacts_rows = n;
    return RETNET_OK;
}

static retnet_status bf16(cuda_bf16 *y, const float *x, int64_t count) {
    return cuda_op_f32_to_bf16(y, x, count, NULL);
}

/* y (n, N) fp32 = x (n, K) @ w (N, K)^T, all bf16 operands; beta 0 (overwrites) */
static retnet_status mm0(float *y, const cuda_bf16 *x, const float *w16, int64_t n, int64_t N,
                         int64_t K) {
    return cuda_op_matmul(y, CUDA_F32, x, w16, CUDA_BF16, n, N, K, 0, NULL);
}

/* Backward of y = x W^T with bf16 dy (n, N; rows ldy apart, 0: N), x (n, K), W (N, K):
 * dx (n, K) fp32 = dy W (overwrite, or += when acc) and dW (N, K) fp32 = dy^T x + bw dW
 * (bw: wbeta). */
static retnet_status mm_back(float *dx, int acc, float *dw, float bw, const cuda_bf16 *dy,
                             const cuda_bf16 *x, const float *w16, int64_t n, int64_t N,
                             int64_t K, int64_t ldy = 0) {
    if (!ldy) ldy = N;
    if (dx) TRY(cuda_op_gemm(0, 0, n, K, N, 1.0f, dy, ldy, w16, K, CUDA_BF16, acc ? 1.0f : 0.0f,
                             dx, K, CUDA_F32, NULL));
    if (dw) TRY(cuda_op_gemm(1, 0, N, K, n, 1.0f, dy, ldy, x, K, CUDA_BF16, bw, dw, K,
                             CUDA_F32, NULL));
    return RETNET_OK;
}

/* dx += Norm backward; dx_bf16 (or NULL): the new dx rounded, in the same pass */
static retnet_status norm_back(const retnet_config *c, float *dx, float *dw, float *db,
                               const float *dy, const float *x, const float *w, int64_t n,
                               cuda_bf16 *dx_bf16 = NULL) {
    if (dx_bf16 && c->norm == RETNET_NORM_LAYERNORM)
        return cuda_op_layernorm_backward_round(dx, dx_bf16, dw, db, dy, x, w, n, c->d_model,
                                                c->eps, NULL);
    if (dx_bf16)
        return cuda_op_rmsnorm_backward_round(dx, dx_bf16, dw, dy, x, w, n, c->d_model, c->eps,
                                              NULL);
    if (c->norm == RETNET_NORM_LAYERNORM)
        return cuda_op_layernorm_backward(dx, dw, db, dy, x, w, n, c->d_model, c->eps, NULL);
    return cuda_op_rmsnorm_backward(dx, dw, dy, x, w, n, c->d_model, c->eps, NULL);
}

/* A residual branch's output product, dst = res + x w^T (n, D), with residual dropout when
 * on (branch `which` of layer l: 0 mixer, 1 FFN; src/dropout.h's masks, a data-parallel
 * rank's elements numbered from its place in the global batch): the product then goes into
 * dxn, free until the backward, and the masked add follows. */
static retnet_status residual_product(model_cuda *d, int l, int which, float *dst,
                                      const float *res, const void *x, const void *w, int64_t n,
                                      int64_t K) {
    const int64_t D = d->cfg.d_model;
    if (d->dropout <= 0.0f)
        return cuda_op_matmul_residual(dst, res, x, w, CUDA_BF16, n, D, K, NULL);
    TRY(cuda_op_matmul(d->tb->dxn, CUDA_F32, x, w, CUDA_BF16, n, D, K, 0, NULL));
    return cuda_op_dropout_add(dst, res, d->tb->dxn, n * D, d->dropout, d->dropout_seed, l, which,
                               (int64_t)d->dropout_rank * n * D, NULL);
}

/* Its backward's first step with dropout on: gb = bf16(the branch's gradient), dx through
 * the same mask; without dropout gb already holds bf16(dx). */
static retnet_status residual_branch_grad(model_cuda *d, int l, int which, int64_t n) {
    if (d->dropout <= 0.0f) return RETNET_OK;
    const int64_t D = d->cfg.d_model;
    return cuda_op_dropout_grad_bf16(d->tb->gb, d->tb->dx, n * D, d->dropout, d->dropout_seed, l,
                                     which, (int64_t)d->dropout_rank * n * D, NULL);
}

/* Training forward of layer l: reads tl[l].x, writes its activations and `out` (n, D).
 * Tensors that only feed products are written in bf16 by the op that makes them. */
static retnet_status layer_forward_train(model_cuda *d, int l, int64_t B, int64_t T,
                                         float *out) {
    const retnet_config *c = &d->cfg;
    const retnet_layer_params *p32 = &d->l32[l], *p16 = &d->l16[l];
    struct train_layer *A = &d->tl[l];
    struct train_bufs *G = d->tb;
    const int64_t n = B * T, D = c->d_model;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;

    ph_mark("f norm");
    TRY(norm_bf16(c, A->xn1, A->x, p32->ret_norm_w, p32->ret_norm_b, n));
    ph_mark("f qkvg products");
    TRY(mm0(G->dq, A->xn1, p16->wq, n, c->d_key, D));
    TRY(mm0(G->dk, A->xn1, p16->wk, n, c->d_key, D));
    TRY(cuda_op_matmul(A->v, CUDA_BF16, A->xn1, p16->wv, CUDA_BF16, n, c->d_value, D, 0, NULL));
    if (p16->wg) TRY(mm0(A->g, A->xn1, p16->wg, n, c->d_value, D));
    ph_mark("f rope");
    TRY(cuda_op_rope_bf16(A->q, G->dq, c->d_key, B, T, h, dk, NULL, half, c->rope_base, 1.0f,
                          NULL));
    TRY(cuda_op_rope_bf16(A->k, G->dk, c->d_key, B, T, h, dk, NULL, half, c->rope_base,
                          (float)(1.0 / sqrt((double)dk)), NULL));
    ph_mark("f retention");
    /* §3 (f and r kept): with the rows in the head norm's passes (rows_fused) A->o stays o and
     * the norm reads f o in registers, else A->o becomes f o, the head norm's input. The row
     * sums come from retention's own pass (rows_fwd) or a v = 1 pass of their own. */
    const int rows_fused = d->rows_fused;
    if (d->rows_fwd)
        TRY(cuda_retention_forward_normalized(A->o, A->q, A->k, A->v, d->gamma, d->gamma64, B, T,
                                              h, dk, dv, A->f, A->r, NULL));
    else if (retention_cuda_forward((int)B, (int)T, h, dk, dv, A->q, A->k, A->v, d->gamma, 1.0f,
                                    NULL, NULL, A->o, RETNET_CUDA_F32, NULL))
        return retnet_fail(RETNET_EDEVICE, "CUDA: retention of layer %d: %s", l,
                           retention_cuda_errmsg());
    if (c->normalize && !d->rows_fwd)
        TRY(cuda_retention_normalize(rows_fused ? NULL : A->o, A->q, A->k, d->gamma, d->gamma64,
                                     NULL, NULL, NULL, B, T, h, dk, dv, A->f, A->r, NULL));
    ph_mark("f headnorm");
    if (rows_fused)
        TRY(cuda_op_head_norm_gate_scaled_bf16(A->y, A->o, A->f, p16->wg ? A->g : NULL, p32->hn_w,
                                               p32->hn_b, n, h, dv, c->eps,
                                               model_head_norm_mode(c), NULL));
    else if (p16->wg || c->head_norm != RETNET_HEADNORM_NONE)
        TRY(cuda_op_head_norm_gate_bf16(A->y, A->o, p16->wg ? A->g : NULL, p32->hn_w, p32->hn_b,
                                        n, h, dv, c->eps, model_head_norm_mode(c), NULL));
    else
        TRY(bf16(A->y, A->o, n * c->d_value));
    ph_mark("f out product");
    TRY(residual_product(d, l, 0, A->xm, A->x, A->y, p16->wo, n, c->d_value));

    const int64_t nf = n * c->d_ffn;
    ph_mark("f norm");
    TRY(norm_bf16(c, A->xn2, A->xm, p32->ffn_norm_w, p32->ffn_norm_b, n));
    ph_mark("f ffn products");
    TRY(mm0(A->h1, A->xn2, p16->fc1, n, c->d_ffn, D));
    if (c->ffn == RETNET_FFN_GLU) TRY(mm0(A->h2, A->xn2, p16->gate, n, c->d_ffn, D));
    ph_mark("f ffn act");
    if (c->ffn == RETNET_FFN_GLU) TRY(cuda_op_glu_bf16(A->a, A->h1, A->h2, nf, ffn_act(c), NULL));
    else TRY(cuda_op_act_bf16(A->a, A->h1, nf, CUDA_ACT_GELU, NULL));
    ph_mark("f ffn products");
    TRY(residual_product(d, l, 1, out, A->xm, A->a, p16->fc2, n, c->d_ffn));
    return RETNET_OK;
}

/* Backward of layer l: on entry tb->dx holds d loss / d out; on exit d loss / d x. Gradients
 * that only feed products are written in bf16 (overwriting) by the op that makes them. */
static retnet_status layer_backward_train(model_cuda *d, int l, int64_t B, int64_t T) {
    const retnet_config *c = &d->cfg;
    const retnet_layer_params *p32 = &d->l32[l], *p16 = &d->l16[l], *pm = &d->lm[l];
    const struct train_layer *A = &d->tl[l];
    struct train_bufs *G = d->tb;
    const int64_t n = B * T, D = c->d_model, nf = n * c->d_ffn, nv = n * c->d_value;
    const int h = c->n_head, dk = c->d_key / h, dv = c->d_value / h;
    const int half = c->rope == RETNET_ROPE_HALF;

    /* ---- FFN: out = xm + fc2(a), a = act(h1) [* h2]; gb holds bf16(dx) (from the layer
     * above's norm backward, or the final norm's) */
    ph_mark("b ffn products");
    TRY(residual_branch_grad(d, l, 1, n));
    float *da = G->f1;
    TRY(mm_back(da, 0, grad_of(d, pm->fc2), wbeta(d), G->gb, A->a, p16->fc2, n, D, c->d_ffn));
    ph_mark("b ffn act");
    if (c->ffn == RETNET_FFN_GLU)
        TRY(cuda_op_glu_backward_bf16(G->gb, G->gb2, da, A->h1, A->h2, nf, ffn_act(c), NULL));
    else
        TRY(cuda_op_act_backward_bf16(G->gb, da, A->h1, nf, CUDA_ACT_GELU, NULL));
    ph_mark("b ffn products");
    TRY(mm_back(G->dxn, 0, grad_of(d, pm->fc1), wbeta(d), G->gb, A->xn2, p16->fc1, n, c->d_ffn, D));
    if (c->ffn == RETNET_FFN_GLU)
        TRY(mm_back(G->dxn, 1, grad_of(d, pm->gate), wbeta(d),
                    G->gb2, A->xn2, p16->gate, n, c->d_ffn, D));
    /* dx (now d / d xm) += Norm backward; the residual passes dx through */
    ph_mark("b norm");
    TRY(norm_back(c, G->dx, grad_of(d, pm->ffn_norm_w), grad_of(d, pm->ffn_norm_b), G->dxn,
                  A->xm, p32->ffn_norm_w, n, G->gb));

    /* ---- mixer: xm = x + wo(y), y = HeadNormGate(o, g), o = retention(q, k, v); gb holds
     * bf16(dx) from the norm's backward */
    ph_mark("b out product");
    TRY(residual_branch_grad(d, l, 0, n));
    float *dy = G->f1;
    TRY(mm_back(dy, 0, grad_of(d, pm->wo), wbeta(d), G->gb, A->y, p16->wo, n, D, c->d_value));
    ph_mark("b headnorm");
    /* d o into gb, d g into gb2 (bf16: retention's and g's product's operands); with §3, d o
     * is that of the unscaled rows and the row sums' gradient goes to dr8, in the head norm's
     * pass (rows_fused: A->o is o, unscaled) or after it (A->o is f o) */
    const int head_norm = p16->wg || c->head_norm != RETNET_HEADNORM_NONE;
    const cuda_rows_grad rows = {A->f, A->r, G->dr8};
    const int rows_fused = d->rows_fused;
    if (head_norm)
        TRY(cuda_op_head_norm_gate_backward_bf16(G->gb, p16->wg ? G->gb2 : NULL,
                                                 grad_of(d, pm->hn_w), grad_of(d, pm->hn_b), dy,
                                                 A->o, p16->wg ? A->g : NULL, p32->hn_w,
                                                 p32->hn_b, n, h, dv, c->eps,
                                                 model_head_norm_mode(c),
                                                 rows_fused ? &rows : NULL, NULL));
    else
        TRY(bf16(G->gb, dy, nv));
    if (c->normalize && !rows_fused) /* §3: d(f o) -> d o in place, and the row sums' gradient */
        TRY(cuda_retention_normalize_backward(G->gb, A->o, A->f, A->r, G->dr8, B, T, h, dv,
                                              NULL));
    ph_mark("b retention");
    /* dq and dk in fp32 (rope's backward reads them, §3 adds to them); dv straight to bf16,
     * the wv product's operand, in dv's fp32 buffer: the same bits as converting its fp32
     * values afterwards (both round to nearest even), without that pass, for dk <= 256 (a
     * wider dk splits the dv pass, whose halves then add in bf16: retention.h). Two calls,
     * each running only its gradients' passes. */
    cuda_bf16 *dv16 = (cuda_bf16 *)G->dv;
    /* with §3 (rows_ret), the row sums' gradient (dr8's column 0) rides in the dq and dk passes */
    const int rows_ret = d->rows_ret; /* (only with §3) */
    if ((rows_ret ? retention_cuda_backward_rows((int)B, (int)T, h, dk, dv, A->q, A->k, A->v,
                                                 d->gamma, 1.0f, G->gb, G->dr8, 8, G->dq, G->dk,
                                                 RETNET_CUDA_F32, NULL)
                  : retention_cuda_backward((int)B, (int)T, h, dk, dv, A->q, A->k, A->v,
                                            d->gamma, 1.0f, NULL, G->gb, NULL, G->dq, G->dk,
                                            NULL, RETNET_CUDA_F32, 0, NULL, NULL)) ||
        retention_cuda_backward((int)B, (int)T, h, dk, dv, A->q, A->k, A->v, d->gamma, 1.0f,
                                NULL, G->gb, NULL, NULL, NULL, dv16, RETNET_CUDA_BF16, 0, NULL,
                                NULL))
        return retnet_fail(RETNET_EDEVICE, "CUDA: retention backward of layer %d: %s", l,
                           retention_cuda_errmsg());
    if (c->normalize && !rows_ret) /* + what the row sums give q and k */
        TRY(cuda_retention_normalize_backward_sums(A->q, A->k, d->gamma, G->dr8, G->ones8, G->dq,
                                                   G->dk, B, T, h, dk, NULL));
    ph_mark("b rope");
    TRY(cuda_op_rope_backward_bf16(G->gb, G->dq, c->d_key, B, T, h, dk, NULL, half, c->rope_base,
                                   1.0f, NULL));
    ph_mark("b qkvg products");
    TRY(mm_back(G->dxn, 0, grad_of(d, pm->wq), wbeta(d), G->gb, A->xn1, p16->wq, n, c->d_key, D));
    ph_mark("b rope");
    TRY(cuda_op_rope_backward_bf16(G->gb, G->dk, c->d_key, B, T, h, dk, NULL, half, c->rope_base,
                                   (float)(1.0 / sqrt((double)dk)), NULL));
    ph_mark("b qkvg products");
    TRY(mm_back(G->dxn, 1, grad_of(d, pm->wk), wbeta(d), G->gb, A->xn1, p16->wk, n, c->d_key, D));
    ph_mark("b qkvg products");
    TRY(mm_back(G->dxn, 1, grad_of(d, pm->wv), wbeta(d), dv16, A->xn1, p16->wv, n, c->d_value, D));
    if (p16->wg)
        TRY(mm_back(G->dxn, 1, grad_of(d, pm->wg), wbeta(d),
                    G->gb2, A->xn1, p16->wg, n, c->d_value, D));
    ph_mark("b norm");
    TRY(norm_back(c, G->dx, grad_of(d, pm->ret_norm_w), grad_of(d, pm->ret_norm_b), G->dxn,
                  A->x, p32->ret_norm_w, n, l > 0 ? G->gb : NULL));
    return RETNET_OK;
}

retnet_status model_cuda_forward_backward(model_cuda *d, const int32_t *tokens,
                                          const int32_t *targets, int32_t B, int32_t T,
                                          float grad_scale, double *loss_sum, int64_t *count) {
    if (!d || !tokens || !targets)
        return retnet_fail(RETNET_EINVAL, "CUDA forward_backward: NULL argument");
    if (!d->master) return retnet_fail(RETNET_EINVAL, "CUDA: the model is not training");
    if (B < 1 || T < 1)
        return retnet_fail(RETNET_EINVAL, "CUDA forward_backward: B=%d, T=%d", B, T);
    const retnet_config *c = &d->cfg;
    const int64_t n = (int64_t)B * T, D = c->d_model, L = c->n_layer;
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab)
            return retnet_fail(RETNET_EINVAL, "token %d at position %lld is out of range: the "
                               "model's vocabulary is 0..%d", tokens[i], (long long)i,
                               c->vocab - 1);
        if (targets[i] >= c->vocab)
            return retnet_fail(RETNET_EINVAL, "target %d at position %lld is out of range: the "
                               "model's vocabulary is 0..%d", targets[i], (long long)i,
                               c->vocab - 1);
        cnt += targets[i] >= 0;
    }
    TRY(retnet_cuda_init(d->device));
    TRY(train_ready(d, n));
    struct train_bufs *G = d->tb;
    TRY(retnet_cuda_upload(G->tok, tokens, sizeof(int32_t) * (size_t)n));
    TRY(retnet_cuda_upload(G->tgt, targets, sizeof(int32_t) * (size_t)n));

    /* forward */
    ph_mark("f embed");
    const float escale = embed_scale(c);
    TRY(cuda_op_embed(d->tl[0].x, d->g32.embed, G->tok, n, D, c->vocab, escale, NULL));
    for (int l = 0; l < L; l++)
        TRY(layer_forward_train(d, l, B, T, l + 1 < L ? d->tl[l + 1].x : G->xs));
    ph_mark("f final norm");
    TRY(norm_bf16(c, G->xnf, G->xs, d->g32.norm_w, d->g32.norm_b, n));
    const float *wout16 = c->tie_embeddings ? d->g16.embed : d->g16.out;
    float *wout_grad = grad_of(d, c->tie_embeddings ? d->gm.embed : d->gm.out);
    ph_mark("f logits product");
    TRY(cuda_op_gemm(0, 1, n, c->vocab, D, 1.0f, G->xnf, D, wout16, D, CUDA_BF16, 0.0f,
                     G->logits, d->ldv, CUDA_F32, NULL));
    /* loss, and d loss / d logits straight to bf16, the logits product's operand: the same
     * bits as the fp32 gradient converted afterwards, without writing it and that pass (n x
     * vocab: 2 GB read, 1 GB written for the 1.3B shape at 16k tokens) */
    ph_mark("cross-entropy");
    TRY(cuda_op_cross_entropy_bf16(G->gb, G->losses, G->logits, G->tgt, n, c->vocab, d->ldv,
                                   grad_scale, NULL));
    TRY(cuda_op_sum(d->dsum, G->losses, n, NULL));

    /* backward */
    ph_mark("b logits products");
    TRY(mm_back(G->dxn, 0, wout_grad, wbeta(d), G->gb, G->xnf, wout16, n, c->vocab, D, d->ldv));
    ph_mark("b final norm");
    TRY(retnet_cuda_memset0(G->dx, sizeof(float) * (size_t)(n * D), NULL));
    TRY(norm_back(c, G->dx, grad_of(d, d->gm.norm_w), grad_of(d, d->gm.norm_b), G->dxn, G->xs,
                  d->g32.norm_w, n, L > 0 ? G->gb : NULL));
    /* the flat layout is [embedding][layer 0]...[layer L-1][final norm, output projection]:
     * the backward finishes ranges from the end (model_cuda_set_grad_hook) */
    int64_t end = d->gm.norm_w - d->master; /* the final norm's weight: the first global */
    if (d->hook) TRY(d->hook(d->hook_ctx, end, d->n_params));
    for (int l = (int)L - 1; l >= 0; l--) {
        TRY(layer_backward_train(d, l, B, T));
        const int64_t begin = d->lm[l].ret_norm_w - d->master;
        if (d->hook) TRY(d->hook(d->hook_ctx, begin, end));
        end = begin;
    }
    ph_mark("b embed");
    TRY(cuda_op_embed_backward(grad_of(d, d->gm.embed), G->dx, G->tok, n, D, c->vocab, escale,
                               NULL));
    d->grads_unset = 0; /* every product's weight gradient is written: the next ones add */
    if (d->hook) TRY(d->hook(d->hook_ctx, 0, end));
    ph_mark("end");
    ph_report(n);
    double loss = 0;
    TRY(retnet_cuda_sync(NULL));
    TRY(retnet_cuda_download(&loss, d->dsum, sizeof loss));
    if (loss_sum) *loss_sum = loss;
    if (count) *count = cnt;
    return RETNET_OK;
}

retnet_status model_cuda_grad_norm(model_cuda *d, double *norm_out) {
    if (!d || !d->master || !norm_out)
        return retnet_fail(RETNET_EINVAL, "CUDA grad_norm: the model is not training");
    double ss = 0;
    TRY(grads_ready(d));
    TRY(cuda_op_sumsq(d->dsum + 1, d->grads, d->n_params, NULL));
    TRY(retnet_cuda_sync(NULL));
    TRY(retnet_cuda_download(&ss, d->dsum + 1, sizeof ss));
    *norm_out = sqrt(ss);
    return RETNET_OK;
}

retnet_status model_cuda_adamw(model_cuda *d, const retnet_model *m, int64_t step,
                               const retnet_adamw *h, float clip_scale) {
    if (!d || !d->master || !d->m1 || !d->m2 || !m || !h)
        return retnet_fail(RETNET_EINVAL, "CUDA adamw: the model is not training");
    TRY(model_cuda_adamw_range(d, m, step, h, clip_scale, 0, d->n_params, d->m1, d->m2));
    return retnet_cuda_sync(NULL);
}

retnet_status model_cuda_train_download(model_cuda *d, float *params, float *m1, float *m2,
                                        float *grads) {
    if (!d || !d->master) return retnet_fail(RETNET_EINVAL, "CUDA: the model is not training");
    const size_t bytes = sizeof(float) * (size_t)d->n_params;
    TRY(retnet_cuda_sync(NULL));
    if (params) TRY(retnet_cuda_download(params, d->master, bytes));
    if (m1) TRY(retnet_cuda_download(m1, d->m1, bytes));
    if (m2) TRY(retnet_cuda_download(m2, d->m2, bytes));
    if (grads) TRY(grads_ready(d));
    if (grads) TRY(retnet_cuda_download(grads, d->grads, bytes));
    return RETNET_OK;
}

retnet_status model_cuda_train_upload(model_cuda *d, const retnet_model *m, const float *params,
                                      const float *m1, const float *m2) {
    if (!d || !d->master || !m)
        return retnet_fail(RETNET_EINVAL, "CUDA: the model is not training");
    const size_t bytes = sizeof(float) * (size_t)d->n_params;
    if (m1) TRY(retnet_cuda_upload(d->m1, m1, bytes));
    if (m2) TRY(retnet_cuda_upload(d->m2, m2, bytes));
    if (!params) return RETNET_OK;
    TRY(retnet_cuda_upload(d->master, params, bytes));
    TRY(model_cuda_refresh_bf16(d, m)); /* the bf16 copies follow */
    return retnet_cuda_sync(NULL);
}

int model_cuda_device(const model_cuda *d) { return d ? d->device : -1; }

uint64_t model_cuda_id(const model_cuda *d) { return d ? d->id : 0; }

int64_t model_cuda_logits_stride(const model_cuda *d) { return d ? d->ldv : 0; }

int64_t model_cuda_window_bytes(const model_cuda *d, int32_t B) {
    if (!d || B < 1 || !win_of(d, B)) return 0;
    return (int64_t)((states_bytes_of(d, B) - (size_t)d->cfg.n_layer * layer_state_bytes(&d->cfg, B)) / B);
}

retnet_status model_cuda_state_copy(model_cuda *d, float *state_dev, int32_t B, int32_t i,
                                    float *host, int64_t rows, int upload) {
    if (!d || !state_dev || !host || i < 0 || i >= B)
        return retnet_fail(RETNET_EINVAL, "model_cuda_state_copy: bad arguments");
    if (is_tf(&d->cfg)) return tf_seq_copy(d, (char *)state_dev, B, i, host, rows, upload);
    char *h = (char *)host;
    return seqs_copy(d, (char *)state_dev, &h, B, i, 1,
                     upload ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
}

/* ------------------------------------------------------------ distributed training hooks */

retnet_status model_cuda_set_dropout(model_cuda *d, float p, uint64_t seed, int32_t rank) {
    if (!d) return retnet_fail(RETNET_EINVAL, "CUDA set_dropout: NULL model");
    if (!(p >= 0.0f && p < 1.0f) || rank < 0)
        return retnet_fail(RETNET_EINVAL, "dropout %g must be in [0, 1) (rank %d)", (double)p,
                           rank);
    d->dropout = p, d->dropout_seed = seed, d->dropout_rank = rank;
    return RETNET_OK;
}

void model_cuda_set_grad_hook(model_cuda *d, model_cuda_grad_hook fn, void *ctx) {
    if (d) d->hook = fn, d->hook_ctx = ctx;
}
float *model_cuda_grads(model_cuda *d) {
    if (!d) return NULL;
    d->grad_write = 0; /* its reader (dist.cu) does not ask grads_ready */
    if (grads_ready(d)) return NULL;
    return d->grads;
}
float *model_cuda_master(model_cuda *d) { return d ? d->master : NULL; }
int64_t model_cuda_n_params(const model_cuda *d) { return d ? d->n_params : 0; }

retnet_status model_cuda_adamw_range(model_cuda *d, const retnet_model *m, int64_t step,
                                     const retnet_adamw *h, float clip_scale, int64_t begin,
                                     int64_t end, float *m1, float *m2) {
    if (!d || !d->master || !m || !h || !m1 || !m2 || begin < 0 || end > d->n_params ||
        begin > end)
        return retnet_fail(RETNET_EINVAL, "CUDA adamw_range: bad arguments");
    TRY(grads_ready(d));
    d->pstep_stale = 1; /* the bf16 weights change */
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const retnet_param_desc *p = &m->table[i];
        int64_t lo = p->offset > begin ? p->offset : begin;
        int64_t hi = p->offset + p->numel < end ? p->offset + p->numel : end;
        if (lo >= hi) continue;
        cuda_bf16 *pb = has_bf16(m, p) ? bf16_of(d, m, p) + (lo - p->offset) : NULL;
        TRY(cuda_op_adamw(d->master + lo, pb, d->grads + lo, m1 + (lo - begin), m2 + (lo - begin),
                          hi - lo, step, h, retnet_tensor_decayed(m, i), clip_scale, NULL));
    }
    return RETNET_OK;
}

retnet_status model_cuda_refresh_bf16(model_cuda *d, const retnet_model *m) {
    if (!d || !d->master || !m)
        return retnet_fail(RETNET_EINVAL, "CUDA: the model is not training");
    d->pstep_stale = 1;
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const retnet_param_desc *p = &m->table[i];
        if (has_bf16(m, p)) TRY(bf16(bf16_of(d, m, p), d->master + p->offset, p->numel));
    }
    return RETNET_OK;
}

void model_cuda_set_context(model_cuda *d, int32_t context) {
    if (!d || !is_tf(&d->cfg) || d->cfg.context == context) return;
    d->cfg.context = context; /* the KV caches' capacity: states made before no longer fit */
    retnet_cuda_free(d->state);
    d->state = NULL;
    d->state_B = 0;
    d->states_bytes = 0;
}
