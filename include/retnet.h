/*
 * retnet.h: the public boundary of the retnet library.
 *
 * A Retentive Network (Sun et al. 2023) in C, computing exactly the function fixed in
 * RETNET.md: three equivalent forms of retention (parallel, recurrent, chunkwise), the
 * multi-scale retention block, and the config variants of the paper, of Microsoft's
 * torchscale and of fla.
 *
 * Conventions
 *  - Every call that can fail returns retnet_status; on failure retnet_errmsg() gives one
 *    human-readable line (thread-local, valid until the next failing call in that thread).
 *    The library never exits and never asserts on user input.
 *  - Shapes are row-major, time-major: tokens are (B, T), logits are (B, T, vocab).
 *  - Sizes and offsets are int64_t; token ids are int32_t.
 *  - A retnet_model is not thread-safe: it owns scratch buffers. Use one model per thread,
 *    or serialise calls. The library itself uses OpenMP threads inside a call.
 *  - The decoding state is owned by the caller (retnet_state): its size depends on the config
 *    only, never on how many tokens it has seen. That is RetNet's O(1) decoding, in the API.
 */
#ifndef RETNET_H
#define RETNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RETNET_FORMAT_VERSION 1   /* checkpoint metadata version, see docs/FILE_FORMAT.md */

typedef enum {
    RETNET_OK = 0,
    RETNET_EINVAL,       /* an argument or config value is out of range */
    RETNET_ENOMEM,       /* an allocation failed */
    RETNET_EIO,          /* a file could not be opened, read or written */
    RETNET_EFORMAT,      /* a file is malformed, truncated or does not match the config */
    RETNET_EUNSUPPORTED, /* valid, but not implemented (e.g. an unknown dtype) */
} retnet_status;

/* The message of the last failure in the calling thread ("" if none). */
const char *retnet_errmsg(void);
/* A short name for a status ("EINVAL", ...). */
const char *retnet_status_name(retnet_status s);

/* ---------------------------------------------------------------- config */

typedef enum { RETNET_NORM_LAYERNORM = 0, RETNET_NORM_RMSNORM } retnet_norm_kind;
typedef enum { RETNET_ARCH_RETNET = 0, RETNET_ARCH_TRANSFORMER } retnet_arch;
/* none: no per-head norm (an ablation of the paper's §4) */
typedef enum { RETNET_HEADNORM_GROUPNORM = 0, RETNET_HEADNORM_RMSNORM, RETNET_HEADNORM_NONE } retnet_head_norm_kind;
typedef enum { RETNET_FFN_GELU = 0, RETNET_FFN_GLU } retnet_ffn_kind;
typedef enum { RETNET_ACT_GELU = 0, RETNET_ACT_SWISH } retnet_act;
typedef enum { RETNET_ROPE_PAPER = 0, RETNET_ROPE_HALF } retnet_rope_kind;
/* single: every head takes head 0's pow2 gamma, 1 - 2^-5 (the paper's "without multi-scale
 * decay" ablation); none: gamma = 1 (its "without decay" ablation). */
typedef enum {
    RETNET_DECAY_POW2 = 0, RETNET_DECAY_LINSPACE, RETNET_DECAY_SINGLE, RETNET_DECAY_NONE
} retnet_decay_kind;
typedef enum { RETNET_FORM_PARALLEL = 0, RETNET_FORM_CHUNKWISE, RETNET_FORM_RECURRENT } retnet_form;

/*
 * Every option of RETNET.md. Widths are totals over heads: the per-head key width is
 * dk = d_key / n_head and the value width dv = d_value / n_head (independent of dk).
 */
typedef struct retnet_config {
    retnet_arch arch;        /* retnet, or the Transformer baseline (same everything but the
                                token mixer: causal softmax attention with rotary positions) */
    int32_t vocab;           /* token ids are 0 .. vocab-1 */
    int32_t d_model;         /* d */
    int32_t n_layer;         /* L */
    int32_t n_head;          /* h */
    int32_t d_key;           /* h * dk (paper: d) */
    int32_t d_value;         /* h * dv (paper: 2d) */
    int32_t d_ffn;           /* FFN hidden width */
    retnet_norm_kind norm;            /* pre-norms and final norm (RETNET.md §5) */
    retnet_head_norm_kind head_norm;  /* per-head norm inside MSR (§4) */
    int32_t head_norm_affine;         /* groupnorm: weight+bias (d_value); rmsnorm: weight (dv, shared by heads) */
    retnet_ffn_kind ffn;              /* gelu: gelu(x W1) W2; glu: (act(x W1) * x Wgate) W2 */
    retnet_act ffn_act;               /* the activation of the glu branch (gelu FFN ignores it) */
    retnet_rope_kind rope;            /* paper: pairs (2j, 2j+1); half: pairs (j, j+dk/2) */
    float rope_base;                  /* 10000 */
    retnet_decay_kind decay;          /* per-head gamma (§2) */
    int32_t normalize;                /* the §3 normalisations of the decay rows and scores */
    float eps;                        /* eps of every norm */
    int32_t tie_embeddings;           /* output projection = embedding */
    int32_t embed_scale;              /* multiply embeddings by sqrt(d) */
    int32_t chunk;                    /* default chunk length of the chunkwise form */
    int32_t gate;                     /* MSR's swish gate (1; 0 = the paper's ablation without it) */
    int32_t context;                  /* transformer: KV-cache positions per sequence (the state) */
} retnet_config;

/* Presets: "tiny" (tests), "small" (~10M), "base" (~99M), "1.3b", "2.7b", "6.7b" (the
 * paper's, §5); "tf-<name>" is the Transformer matched to RetNet preset <name> (see
 * retnet_config_transformer). */
retnet_status retnet_config_preset(const char *name, retnet_config *out);
/* Names of the presets, NULL-terminated. */
const char *const *retnet_preset_names(void);
/*
 * The Transformer baseline matched to a RetNet config (RETNET.md §5): same d, layers, norms,
 * FFN kind, rope, vocabulary and embeddings; d_key = d_value = d, heads of width 64 (or one
 * head when d < 128), and the FFN widened so that the parameter counts match to within the
 * norms' weights (the paper's 4d^2 + 8d^2 against RetNet's 8d^2 + 4d^2). context: the KV
 * cache per sequence (0: 2048).
 */
retnet_status retnet_config_transformer(const retnet_config *retnet, int32_t context,
                                        retnet_config *out);
/* Checks every field and the relations between them (divisibility, even dk for rope). */
retnet_status retnet_config_validate(const retnet_config *c);
/*
 * Parses a config from JSON text: our own keys (docs/FILE_FORMAT.md) or torchscale's
 * (decoder_embed_dim, decoder_retention_heads, ...), which imply torchscale's variant.
 * Keys not given keep the values of `base`; with base NULL they take the documented
 * defaults (our keys: the paper variant; torchscale keys: torchscale's RetNetConfig
 * defaults). Unknown keys are ignored. The result is validated.
 */
retnet_status retnet_config_from_json(const char *json, size_t len, const retnet_config *base,
                                      retnet_config *out);
/* The same, from a file. */
retnet_status retnet_config_load(const char *path, retnet_config *out);
/* Writes our JSON form into buf (NUL-terminated, truncated to cap). Returns the length needed. */
int64_t retnet_config_to_json(const retnet_config *c, char *buf, size_t cap);
/* Number of parameters (scalars) of a model with this config. */
int64_t retnet_config_param_count(const retnet_config *c);
/* Decay gamma of head i, in double (§2). */
double retnet_config_gamma(const retnet_config *c, int head);

/* ---------------------------------------------------------------- model */

typedef struct retnet_model retnet_model;

/* Allocates a model with all parameters zero. */
retnet_status retnet_model_create(const retnet_config *c, retnet_model **out);
/* The official initialisation (RETNET.md §5), reproducible from seed. */
retnet_status retnet_model_init(retnet_model *m, uint64_t seed);
void retnet_model_free(retnet_model *m);
const retnet_config *retnet_model_config(const retnet_model *m);

/* One parameter tensor: name as in the checkpoint (torchscale's names), shape and data. */
typedef struct retnet_tensor {
    const char *name;
    int32_t ndim;
    int64_t shape[2];
    int64_t numel;
    float *data;             /* float32 values; NULL for a 2-D weight of a bf16-only model */
    uint16_t *data_bf16;     /* its bf16 copy (set_bf16_decode, RETNET_LOAD_BF16), or NULL */
} retnet_tensor;
/* Number of parameter tensors, and tensor i (0 <= i < count) in checkpoint order. */
int32_t retnet_model_tensor_count(const retnet_model *m);
retnet_status retnet_model_tensor(const retnet_model *m, int32_t i, retnet_tensor *out);
/* All parameters as one contiguous array of retnet_config_param_count() floats. */
float *retnet_model_params(retnet_model *m);

/* ---------------------------------------------------------------- checkpoints */

/*
 * Loads a safetensors checkpoint (F32, BF16 or F16 tensors; torchscale's names).
 * The config comes from the file's __metadata__, or from `config` if given (required when the
 * file has none, e.g. a torchscale state dict saved as safetensors; if both exist they must
 * agree). Every failure names the tensor and the problem.
 */
retnet_status retnet_model_load(const char *path, const retnet_config *config, retnet_model **out);
/*
 * The same with flags. RETNET_LOAD_BF16: the 2-D weights are held in bfloat16 only (read as
 * they are from BF16 files, rounded to nearest even from others), with no float32 copy: half
 * the memory, for inference (forward, decoding); training refuses such a model.
 * `path` may also be a Hugging Face model directory in fla's RetNetForCausalLM layout
 * (config.json, and model.safetensors or model.safetensors.index.json with its shards;
 * docs/FILE_FORMAT.md), for both functions.
 */
#define RETNET_LOAD_BF16 1u
/* RETNET_LOAD_BF16 when every 2-D weight of the source is stored as BF16 (nothing is lost by
 * keeping them so); float32 otherwise. What the CLI's inference commands use. */
#define RETNET_LOAD_BF16_IF_STORED 2u
retnet_status retnet_model_load_ex(const char *path, const retnet_config *config,
                                   unsigned flags, retnet_model **out);
/* Reads a checkpoint's config and checks its tensor table (names, shapes, dtypes, ranges)
 * without reading the values: what `retnet info` shows, instantly even for large files. */
retnet_status retnet_checkpoint_config(const char *path, const retnet_config *config,
                                       retnet_config *out);
/* Writes an F32 safetensors checkpoint with our metadata, atomically (temp file + rename). */
retnet_status retnet_model_save(const retnet_model *m, const char *path);
/* The same with flags. RETNET_SAVE_BF16: tensors stored as BF16 (rounded to nearest even).
 * RETNET_SAVE_FLA: `path` is a directory that gets fla's layout (config.json and
 * model.safetensors with fla's names), which transformers + fla load as RetNetForCausalLM;
 * RETNET_EUNSUPPORTED for a config fla's model cannot express. */
#define RETNET_SAVE_BF16 1u
#define RETNET_SAVE_FLA 2u
retnet_status retnet_model_save_ex(const retnet_model *m, const char *path, unsigned flags);
/* Initialises and writes a checkpoint tensor by tensor, without holding the model in memory
 * (so that the largest presets can be made on a small machine). Same values as
 * retnet_model_init with the same seed. */
retnet_status retnet_init_file(const retnet_config *c, uint64_t seed, const char *path);

/* ---------------------------------------------------------------- recurrent state */

/*
 * The state of one sequence: the position (tokens consumed) and a caller-owned buffer of
 * retnet_state_floats() floats laid out per layer l as S (h, dk, dv), then, when the §3
 * normalisations are on, the key sums z (h, dk). The size does not depend on pos.
 * For a Transformer the state is its KV cache: per layer, keys (context, d_key) then values
 * (context, d_value), of which the first pos rows are used; it holds `context` tokens.
 */
typedef struct retnet_state {
    int64_t pos;
    float *data;
} retnet_state;

int64_t retnet_state_floats(const retnet_config *c);
/* Bytes of state a sequence at position pos actually uses: the whole state for RetNet (it
 * does not grow), pos rows of the cache for a Transformer. */
int64_t retnet_state_bytes_used(const retnet_config *c, int64_t pos);
/* pos = 0 and all zeros: the state before the first token. */
void retnet_state_reset(const retnet_config *c, retnet_state *s);

/* ---------------------------------------------------------------- forward */

/*
 * Runs B sequences of T tokens each through the model in the given form.
 *   tokens: (B, T) ids in [0, vocab)
 *   chunk:  chunk length for RETNET_FORM_CHUNKWISE (>= 1; 0 means the config's default)
 *   states: NULL to start every sequence from the empty state, or B states to start from; they
 *           are updated to the state after the last token, whatever the form (so a parallel or
 *           chunkwise prefill can be continued token by token with the recurrent form).
 *   logits: (B, T, vocab) output, or NULL if only the states are wanted.
 * All three forms compute the same function (to float rounding).
 */
retnet_status retnet_forward(retnet_model *m, const int32_t *tokens, int32_t B, int32_t T,
                             retnet_form form, int32_t chunk, retnet_state *states, float *logits);

/* Decoding with bf16 weights: keeps a bfloat16 copy of the weights (2 bytes per parameter
 * more) that forward calls over at most 8 positions (B*T <= 8: token-by-token decoding) read
 * instead of the float32 ones, halving the bytes each token reads. Activations, states and
 * accumulation stay float32. The copy is made from the current weights; call again after
 * changing them. on = 0 frees it. */
retnet_status retnet_model_set_bf16_decode(retnet_model *m, int on);
/* Transformer: the KV cache per sequence holds `context` tokens (retnet_state_floats follows;
 * states made before do not fit the new size). A RetNet's state does not depend on it: no-op. */
retnet_status retnet_model_set_context(retnet_model *m, int32_t context);

/* Peak bytes of scratch the last forward used (for benchmarks). */
int64_t retnet_model_scratch_bytes(const retnet_model *m);

/*
 * Where retnet_forward runs: "cpu" (the default) or "cuda" / "cuda:N" (CUDA device N, in a
 * build made with `make CUDA=1`; one device per process). Moving to a GPU uploads a copy of
 * the parameters taken now (2-D weights in bf16, the rest in fp32: ~2 bytes per parameter of
 * device memory): after changing the weights, call it again. retnet_forward then runs there
 * with the same contract: products of bf16 operands with fp32 accumulation, fp32 activations
 * and states, so logits differ from the CPU's by bf16 rounding (about 1e-2 of the largest
 * logit); `form` and `chunk` are not used (the chunkwise kernel for T > 1, the recurrent step
 * for T = 1 with states: the forms compute one function). States stay caller-owned host
 * memory: each call uploads and downloads them (2 L h dk dv floats per sequence), which is
 * most of the time of a decoding step for small models. Training on the device goes through
 * retnet_trainer (below). RETNET_EUNSUPPORTED: "cuda" in a build without CUDA or without a usable
 * GPU, or a model the CUDA forward does not cover (RetNet configs with normalize on; head
 * widths the kernels do not take); after any failure the model runs on the CPU. "cpu" frees
 * the device copy. The Transformer baseline runs there with its KV cache in bf16 (inference
 * only: its training is CPU-only).
 */
retnet_status retnet_model_to_device(retnet_model *m, const char *device);

/* Bytes of device memory the model's copy holds now (parameters, training buffers,
 * activations; 0 on the CPU). */
int64_t retnet_model_device_bytes(const retnet_model *m);

/*
 * A batch of B decoding states kept where the model runs: host memory on the CPU, device
 * memory on a GPU, so that a decoding step moves only tokens (and logits when asked for),
 * never the states. Sequence i starts empty at position 0.
 *   forward: T tokens for each of the B sequences (tokens (B, T)); the chunkwise form for
 *     T > 1 (prefill), the recurrent step for T = 1. logits (B, T, vocab) host, or NULL: the
 *     last position's logits are kept beside the states (on the device) for retnet_batch_argmax.
 *   argmax: the greedy next token of each sequence from the last forward (B ids, host).
 *   get / set: copy sequence i's state out to / in from a caller's retnet_state (its data of
 *     retnet_state_floats() floats, and pos).
 * The model must not move (retnet_model_to_device) while a batch of it exists.
 */
typedef struct retnet_batch retnet_batch;
retnet_status retnet_batch_create(retnet_model *m, int32_t B, retnet_batch **out);
void retnet_batch_free(retnet_batch *b); /* NULL is fine */
retnet_status retnet_batch_forward(retnet_batch *b, const int32_t *tokens, int32_t T,
                                   float *logits);
retnet_status retnet_batch_argmax(retnet_batch *b, int32_t *next);
/* n greedy steps: retnet_batch_argmax then retnet_batch_forward of those ids (logits NULL), n
 * times, the ids into ids (n x B, step-major; ids[0..B) are what retnet_batch_argmax would say
 * now). Afterwards the states stand n tokens further, and retnet_batch_argmax gives the next
 * ids. On a GPU the steps run back to back, each step's tokens fed on the device, with no
 * wait for the host between them. Needs a forward with logits NULL before it; a Transformer
 * whose cache cannot take n more tokens is refused before any step. */
retnet_status retnet_batch_greedy(retnet_batch *b, int32_t n, int32_t *ids);
/* T tokens per sequence into the states (the chunkwise form, chunks of `chunk` tokens, 0: the
 * config's; a GPU uses its kernel's), no logits at all: a prefill whose last token is then
 * fed with retnet_batch_forward. */
retnet_status retnet_batch_advance(retnet_batch *b, const int32_t *tokens, int32_t T,
                                   int32_t chunk);
retnet_status retnet_batch_get(retnet_batch *b, int32_t i, retnet_state *s);
retnet_status retnet_batch_set(retnet_batch *b, int32_t i, const retnet_state *s);
/* Bytes of state per sequence (where the batch keeps it). */
int64_t retnet_batch_state_bytes(const retnet_batch *b);

/* ---------------------------------------------------------------- sampling */

/* The next token from a row of V logits: the argmax when temperature <= 0; otherwise a draw
 * from softmax(logits / temperature) restricted to the top_k most likely (0: all) and to the
 * smallest set whose probability reaches top_p (1: all). rng: the caller's 64-bit state,
 * advanced by the draw. work: caller scratch of 2 * V floats (no allocation per token).
 * -1 where there is no token to give: V < 1, a NaN logit (a broken model), every logit
 * -inf, or NULL arguments; a +inf logit is chosen (the first, as greedy). */
int32_t retnet_sample(const float *logits, int32_t V, float temperature, int32_t top_k,
                      float top_p, uint64_t *rng, float *work);

/* ---------------------------------------------------------------- training */

/* Options of a training forward/backward pass. */
typedef struct retnet_train_opts {
    retnet_form form;   /* RETNET_FORM_PARALLEL or RETNET_FORM_CHUNKWISE */
    int32_t chunk;      /* chunk length (0: the config's) */
    float dropout;      /* probability of zeroing an output of a residual branch (0: off) */
    uint64_t seed;      /* dropout masks (vary it per step) */
} retnet_train_opts;

/*
 * One forward and backward pass over B windows of T tokens, each from the empty state:
 *   loss = sum over counted positions of -log softmax(logits)[target]
 *   tokens, targets: (B, T); a target < 0 is not counted.
 *   grads: retnet_config_param_count() floats in the layout of retnet_model_params();
 *          grads += grad_scale * d loss / d params (zero it before the first micro-batch).
 *   loss_sum, count (either may be NULL): the summed loss and the number of counted targets.
 * Activations of all layers are kept for the backward (linear in B*T); the chunkwise form's
 * backward recomputes its chunk states instead of storing them. CPU only: a model on a GPU is
 * refused (RETNET_EINVAL); retnet_trainer trains wherever the model runs.
 */
retnet_status retnet_forward_backward(retnet_model *m, const int32_t *tokens,
                                      const int32_t *targets, int32_t B, int32_t T,
                                      const retnet_train_opts *opts, float grad_scale,
                                      float *grads, double *loss_sum, int64_t *count);

/* AdamW (decoupled weight decay, PyTorch's torch.optim.AdamW exactly):
 *   p -= lr * wd * p (decayed tensors only);  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Decayed: the 2-D weights (projections, embedding, output projection); not the norms'
 * weights and biases. step is 1-based. m1, m2: optimizer moments, param_count floats each. */
typedef struct retnet_adamw {
    float lr, beta1, beta2, eps, weight_decay;
} retnet_adamw;
retnet_status retnet_adamw_step(retnet_model *m, const float *grads, float *m1, float *m2,
                                int64_t step, const retnet_adamw *h);
/* Whether tensor i is weight-decayed. */
int retnet_tensor_decayed(const retnet_model *m, int32_t i);
/* sqrt(sum g^2) over n floats, accumulated in double. */
double retnet_grad_norm(const float *g, int64_t n);

/* Learning rate at a 1-based step: linear warmup from 0 to lr over `warmup` steps, then
 * cosine (cosine != 0) or linear decay to min_lr at step `steps`. */
double retnet_lr_schedule(int64_t step, int64_t steps, int64_t warmup, double lr,
                          double min_lr, int cosine);

/* The training state of a run, for a bit-identical resume: parameters, AdamW moments
 * (param_count floats each), the step and the trainer's own JSON (data position, RNG,
 * hyperparameters; at most a few KB), in one safetensors file written atomically.
 * Loading refuses a state of another config ("resume of a different model"), and a file
 * that fails any check (a tensor missing or of another shape, a bad step, trainer JSON of
 * cap bytes or more) before it writes anything. It refuses a NaN or Inf in any tensor, and a
 * negative second moment (adamw.m2), naming the first such tensor; those are found while
 * reading (one pass over each array), so the arrays then hold what was read: discard them. */
retnet_status retnet_train_state_save(const char *path, const retnet_model *m, const float *m1,
                                      const float *m2, int64_t step, const char *extra_json);
retnet_status retnet_train_state_load(const char *path, retnet_model *m, float *m1, float *m2,
                                      int64_t *step, char *extra_json, size_t cap);

/*
 * A trainer: the gradient buffer and the AdamW moments of a model, kept where the model runs
 * (retnet_model_to_device): host memory on the CPU; on a GPU, device memory together with
 * fp32 master weights (mixed precision: bf16 products with fp32 accumulation, fp32 master
 * weights, gradients and moments; each update also refreshes the bf16 copy the products
 * read). One training step is
 *   zero_grad; accumulate (once per micro-batch); grad_norm; update (with the clipping factor)
 * and on the CPU it computes bit for bit what retnet_forward_backward + retnet_grad_norm +
 * retnet_adamw_step compute. On a GPU the host parameters are stale until retnet_trainer_sync
 * (call it before saving the model); retnet_forward on the model reads the device's current
 * weights at any time. A model holds at most one trainer; free it before moving the model.
 */
typedef struct retnet_trainer retnet_trainer;
/* RETNET_EUNSUPPORTED: a model on a device whose backend cannot train it (the Transformer
 * baseline on the GPU). */
retnet_status retnet_trainer_create(retnet_model *m, retnet_trainer **out);
void retnet_trainer_free(retnet_trainer *t); /* NULL is fine */
/* Where it runs: "cpu" or "cuda:N". */
const char *retnet_trainer_device(const retnet_trainer *t);
retnet_status retnet_trainer_zero_grad(retnet_trainer *t);
/* retnet_forward_backward into the trainer's gradients (same arguments and contract). */
retnet_status retnet_trainer_accumulate(retnet_trainer *t, const int32_t *tokens,
                                        const int32_t *targets, int32_t B, int32_t T,
                                        const retnet_train_opts *opts, float grad_scale,
                                        double *loss_sum, int64_t *count);
/* sqrt(sum g^2) of the accumulated gradients, in double. */
retnet_status retnet_trainer_grad_norm(retnet_trainer *t, double *norm);
/* One AdamW step (retnet_adamw_step's rule) with the gradients times clip_scale (the clipping
 * factor, 1 for none). step is 1-based. */
retnet_status retnet_trainer_update(retnet_trainer *t, int64_t step, const retnet_adamw *h,
                                    float clip_scale);
/* Copies the current (master) weights into the model's host parameters. No-op on the CPU. */
retnet_status retnet_trainer_sync(retnet_trainer *t);
/* retnet_train_state_save / _load with the trainer's moments (and, on a GPU, its master
 * weights: load uploads them; save syncs first). */
retnet_status retnet_trainer_save(retnet_trainer *t, const char *path, int64_t step,
                                  const char *extra_json);
retnet_status retnet_trainer_load(retnet_trainer *t, const char *path, int64_t *step,
                                  char *extra_json, size_t cap);

/* ---------------------------------------------------------------- distributed training */

/*
 * Data-parallel training on several GPUs, one process per GPU (a CUDA build; NCCL). Each
 * rank moves its model to its own GPU (retnet_model_to_device(m, "cuda:LOCAL_RANK")) and
 * makes its trainer with retnet_trainer_create_dist; then every retnet_trainer call works
 * as for one trainer, with these differences:
 *  - accumulate: each rank passes its own windows. During the step's last micro-batch
 *    (micro_batches below) the gradients are averaged over the ranks as the backward
 *    finishes them (NCCL all-reduce in buckets, overlapped with the rest of the backward).
 *    With grad_scale 1 / (this rank's tokens of the step), W ranks of B windows each take
 *    the step one trainer takes with W B windows (to float rounding). loss_sum and count
 *    are this rank's: add them over the ranks with retnet_trainer_sum.
 *  - grad_norm: of the averaged gradients, the same number on every rank.
 *  - update: ZeRO-1: each rank holds the AdamW moments of its 1/W of the parameters only
 *    and updates that part; the updated weights are then gathered on every rank, so that all
 *    ranks hold the same weights (rank 0's initial weights are copied to all at creation).
 *  - save: rank 0 writes the file (the same format as one trainer's, whole moments
 *    included); the other ranks write nothing, and all of them learn whether it worked.
 *    load: every rank reads the file (each must see it) and takes its part. A state saved
 *    by one trainer resumes on any number of ranks, and the other way round.
 *  - sync: every rank's host parameters get the weights (no communication).
 * Every call but sync and free is collective: all ranks make the same calls in the same
 * order. Every wait for the other ranks is bounded (timeout_s): a rank that stops or hangs
 * makes the others fail with a message ("rank 0 of 4: ... did not complete within 300 s")
 * instead of hanging; after such a failure the trainer fails every call: free it and stop.
 * NVLink multicast stays off: NCCL_NVLS_ENABLE=0 is set in the process's environment
 * before NCCL reads it. Without CUDA: RETNET_EUNSUPPORTED.
 */
typedef struct retnet_dist {
    int32_t rank, world;   /* this process's rank, 0 .. world-1 */
    /* How the ranks meet, the first that is given:
     *  id:      a unique id (retnet_dist_id's hex string) made by one process and handed to
     *           all ranks, e.g. in the environment (what `retnet train --gpus N` does);
     *  id_file: rank 0 makes an id and writes it to this file (atomically); the others wait
     *           for it to appear (up to timeout_s). Use a path no earlier run has used, on a
     *           file system that every rank sees;
     *  neither: NCCL_COMM_ID=host:port in every rank's environment (NCCL's own rendezvous:
     *           rank 0 listens there). */
    const char *id;
    const char *id_file;
    int32_t micro_batches; /* accumulate calls per step (0: 1): the last one averages. With
                              fewer, grad_norm averages (without overlap); more are refused */
    double timeout_s;      /* the longest wait for the other ranks (0: $RETNET_DIST_TIMEOUT
                              seconds, or 300) */
    int64_t bucket_bytes;  /* gradient bytes per all-reduce, at least (0: 32 MiB) */
} retnet_dist;

#define RETNET_DIST_ID_HEX 257 /* bytes of a unique id's hex string, NUL included */
/* A new unique id for the ranks of one run, as hex (NUL-terminated). The process that makes
 * it hosts NCCL's rendezvous: it must live until the ranks have made their trainers. */
retnet_status retnet_dist_id(char hex[RETNET_DIST_ID_HEX]);
/* A trainer for rank d->rank of d->world; m must be on a GPU. Returns once every rank has
 * joined (or fails after timeout_s). */
retnet_status retnet_trainer_create_dist(retnet_model *m, const retnet_dist *d,
                                         retnet_trainer **out);
/* v[0..n) summed over the ranks, in place (n <= 64; the same result on every rank): the
 * step's loss sum and count, a flag that any rank wants to stop. One trainer: no change. */
retnet_status retnet_trainer_sum(retnet_trainer *t, double *v, int32_t n);
/* This trainer's rank and world size (0 and 1 for one trainer). */
void retnet_trainer_rank(const retnet_trainer *t, int32_t *rank, int32_t *world);

/* The number of threads the library's calls use (OpenMP; set with OMP_NUM_THREADS). */
int retnet_threads(void);

/* Name of a form ("parallel", ...), and the reverse (-1 if unknown). */
const char *retnet_form_name(retnet_form f);
int retnet_form_parse(const char *s);

/* ---------------------------------------------------------------- saved states */

/*
 * A decoding state saved to a file, to continue a generation or a conversation later (or in
 * another process) exactly where it stopped. One safetensors file, written atomically (temp
 * file + rename): per layer the F32 tensors layers.<l>.retention.S (h, dk, dv) and, when the
 * config normalizes, layers.<l>.retention.z (h, dk); in __metadata__ format "retnet-state",
 * version "1", the config JSON, pos, last_token (the next input: a token sampled but not yet
 * fed, or -1 for none) and the model's fingerprint (retnet_model_fingerprint, hex).
 *   save: last_token may be NULL (none).
 *   load: s->data must hold retnet_state_floats() floats; s->pos is set from the file.
 *         last_token may be NULL. A state of another model (the config or the fingerprint
 *         differs) is RETNET_EINVAL saying which; a malformed or truncated file is
 *         RETNET_EFORMAT or RETNET_EIO. On failure *s and *last_token are unchanged.
 */
retnet_status retnet_state_save(const char *path, const retnet_model *m, const retnet_state *s,
                                const int32_t *last_token);
retnet_status retnet_state_load(const char *path, const retnet_model *m, retnet_state *s,
                                int32_t *last_token);
/* The same with the caller's own JSON (e.g. a sampler's RNG state; at most a few KB) stored
 * in the metadata key "extra": NULL saves "{}"; a load copies it into extra_json (cap bytes,
 * NUL-terminated; a longer one fails with RETNET_EFORMAT), or ignores it if extra_json is
 * NULL. */
retnet_status retnet_state_save_ex(const char *path, const retnet_model *m,
                                   const retnet_state *s, const int32_t *last_token,
                                   const char *extra_json);
retnet_status retnet_state_load_ex(const char *path, const retnet_model *m, retnet_state *s,
                                   int32_t *last_token, char *extra_json, size_t cap);
/* A 64-bit fingerprint of a model: XXH64 of all its parameters as float32 little-endian bytes
 * (the layout of retnet_model_params()), seeded with XXH64 of its config JSON. One pass over
 * the weights (a few ms per 10M parameters). */
retnet_status retnet_model_fingerprint(const retnet_model *m, uint64_t *out);
/* XXH64 (xxHash's 64-bit hash) of len bytes. */
uint64_t retnet_xxh64(const void *data, size_t len, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
