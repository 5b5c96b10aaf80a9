/*
 * data.h: tokenized corpora for training (docs/TOKENIZER.md, "Token files").
 *
 * Three layers:
 *  - token files: a 64-byte header ("RTNTOK1\0", version, vocab, count, dtype, bos) then the
 *    ids as little-endian uint16 (vocab <= 65536) or uint32. Written atomically by a streaming
 *    writer; read through mmap, the header checked against the file's size.
 *  - datasets: a directory made by `retnet tokenize` (retnet_dataset_build): train.bin, val.bin,
 *    meta.json (tokenizer, vocab, counts, sources and their sha256) and, for a trained BPE, a
 *    copy of the tokenizer (tokenizer.bpe), so the directory is self-contained.
 *  - loaders: windows of T tokens for training, at random offsets from a seeded generator whose
 *    whole state is a small struct (retnet_loader_state) or string, for bit-identical resumes;
 *    and sequential windows covering a split exactly once, for validation.
 *
 * Windows. The paper prepends <bos> to every training sequence (RETNET.md §5). A window of a
 * file that has a bos id reads T consecutive tokens w0..w{T-1} and gives
 *     tokens  = [bos, w0, ..., w{T-2}]        targets = [w0, w1, ..., w{T-1}]
 * (T counts the <bos>; the first target is predicted from <bos> alone). A file without a bos
 * id gives tokens = w0..w{T-1}, targets = w1..wT (T + 1 tokens read). Random windows start
 * uniformly in [0, count - need]; sequential window k starts at k*T and the last one may be
 * partial: its missing targets are -1 (not counted by retnet_forward_backward) and its missing
 * tokens are <bos> (or 0), which cannot affect the counted positions (retention is causal).
 *
 * Conventions of retnet.h: retnet_status + retnet_errmsg(), int64_t sizes, int32_t ids.
 */
#ifndef RETNET_DATA_H
#define RETNET_DATA_H

#include "retnet.h"
#include "tokenizer.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RETNET_TOKFILE_VERSION 1
#define RETNET_TOKFILE_HEADER 64     /* bytes before the first id */

/* ---------------------------------------------------------------- token files */

typedef struct retnet_tokfile_writer retnet_tokfile_writer;

/* Starts writing a token file: ids go to a temp file beside path until finish renames it over
 * path. vocab >= 1; bos in [0, vocab) or -1 for none. */
retnet_status retnet_tokfile_create(const char *path, int32_t vocab, int32_t bos,
                                    retnet_tokfile_writer **out);
/* Appends n ids; each must be in [0, vocab) (EINVAL otherwise, naming it). */
retnet_status retnet_tokfile_append(retnet_tokfile_writer *w, const int32_t *ids, int64_t n);
/* Ids appended so far. */
int64_t retnet_tokfile_written(const retnet_tokfile_writer *w);
/* Writes the count into the header, syncs, renames over path. Frees w, also on failure (then
 * path is untouched and the temp file removed). */
retnet_status retnet_tokfile_finish(retnet_tokfile_writer *w);
/* Gives up: removes the temp file, frees w (NULL allowed). */
void retnet_tokfile_abort(retnet_tokfile_writer *w);

typedef struct retnet_tokfile retnet_tokfile;

/*
 * Opens a token file read-only (mmap) and checks its header: magic, version, dtype, bos, zero
 * reserved bytes, and that the file holds exactly count ids (a shorter file is "truncated").
 * expect_vocab > 0 also requires the file's vocab to equal it (0: any). The ids themselves are
 * checked by retnet_tokfile_check_ids (the loaders do).
 */
retnet_status retnet_tokfile_open(const char *path, int32_t expect_vocab, retnet_tokfile **out);
void retnet_tokfile_close(retnet_tokfile *f);  /* NULL allowed */
int64_t retnet_tokfile_count(const retnet_tokfile *f);
int32_t retnet_tokfile_vocab(const retnet_tokfile *f);
int32_t retnet_tokfile_bos(const retnet_tokfile *f);  /* -1: none */
/* Checks every id is below vocab (one pass; EFORMAT naming the first bad one). */
retnet_status retnet_tokfile_check_ids(const retnet_tokfile *f);
/* Copies ids [start, start + n) into ids (EINVAL when out of range). */
retnet_status retnet_tokfile_read(const retnet_tokfile *f, int64_t start, int64_t n, int32_t *ids);

/*
 * The first position >= pos where text may be cut without changing its encoding: just after a
 * '\n' that is followed by a non-whitespace ASCII byte (no pre-token spans such a point), or len
 * if there is none. Encoding text[0, p) and text[p, len) separately equals encoding it whole.
 */
int64_t retnet_text_cut(const char *text, int64_t len, int64_t pos);

/* Progress of long work: what ("train", "val", ...), units done of total. May be NULL. */
typedef void (*retnet_progress_fn)(void *ctx, const char *what, int64_t done, int64_t total);

/* Encodes text (in pieces cut by retnet_text_cut, so the ids are those of one encode() call)
 * and appends the ids to w. */
retnet_status retnet_tokenize_into(const retnet_tokenizer *tok, const char *text, int64_t len,
                                   retnet_tokfile_writer *w, retnet_progress_fn progress,
                                   void *ctx, const char *what);

/* ---------------------------------------------------------------- datasets */

typedef struct retnet_tokenize_opts {
    const char *val_data;      /* a separate validation text; NULL: hold out the end of data */
    double val_fraction;       /* the held-out fraction of data, in (0, 1) (0 means 0.1);
                                  the cut moves forward to the next retnet_text_cut point */
    retnet_progress_fn progress;
    void *ctx;
} retnet_tokenize_opts;

typedef struct retnet_dataset_summary {
    int64_t tokens[2];         /* train, val */
    int64_t bytes[2];          /* text bytes each came from */
    int32_t vocab;
    double seconds;            /* tokenizing time */
} retnet_dataset_summary;

/*
 * Makes a dataset directory (created if missing, one level): tokenizes data_path with the
 * tokenizer of `spec` (retnet_tokenizer_load), writes dir/train.bin, dir/val.bin, for a BPE
 * file dir/tokenizer.bpe, then dir/meta.json last, each atomically (an older meta.json is
 * removed first, so a directory with meta.json is always complete). opts and summary may be
 * NULL. Fails if either split is empty.
 */
retnet_status retnet_dataset_build(const char *dir, const char *spec, const char *data_path,
                                   const retnet_tokenize_opts *opts, retnet_dataset_summary *summary);

typedef struct retnet_dataset retnet_dataset;

/* Opens a dataset directory: reads meta.json and checks train.bin and val.bin against it
 * (headers, vocab, counts). */
retnet_status retnet_dataset_open(const char *dir, retnet_dataset **out);
void retnet_dataset_free(retnet_dataset *d);  /* NULL allowed */
/* The tokenizer spec for retnet_tokenizer_load ("byte", "gpt2", or a path usable from the
 * current directory). Owned by d. */
const char *retnet_dataset_tokenizer(const retnet_dataset *d);
int32_t retnet_dataset_vocab(const retnet_dataset *d);
/* The <bos> id its token files begin each window with (their headers'; -1: none). */
int32_t retnet_dataset_bos(const retnet_dataset *d);
/* Tokens in split "train" or "val" (-1 for another name). */
int64_t retnet_dataset_tokens(const retnet_dataset *d, const char *split);

/* ---------------------------------------------------------------- loaders */

typedef struct retnet_loader retnet_loader;

/* A loader of windows of T tokens (T >= 2) over split "train" or "val" of d, random windows
 * seeded by seed. Fails (EINVAL) when the split is shorter than one window. The loader keeps
 * its own mapping of the file: d may be freed first. */
retnet_status retnet_loader_open(const retnet_dataset *d, const char *split, int32_t T,
                                 uint64_t seed, retnet_loader **out);
/* The same over one token file. bos: 1 to prepend the file's bos id (it must have one), 0 not
 * to. expect_vocab as retnet_tokfile_open. */
retnet_status retnet_loader_open_file(const char *path, int32_t expect_vocab, int32_t T, int bos,
                                      uint64_t seed, retnet_loader **out);
void retnet_loader_free(retnet_loader *l);  /* NULL allowed */
int32_t retnet_loader_T(const retnet_loader *l);

/* B random windows: tokens and targets are (B, T). Cannot fail once open (ids were checked). */
void retnet_loader_next_random(retnet_loader *l, int32_t *tokens, int32_t *targets, int32_t B);

/* Up to B of the next sequential windows; returns how many were written (0 at the end). */
int32_t retnet_loader_next_sequential(retnet_loader *l, int32_t *tokens, int32_t *targets, int32_t B);
/* Back to the first sequential window (random windows are unaffected). */
void retnet_loader_rewind(retnet_loader *l);
/* Sequential windows in all: ceil(count / T) with bos, ceil((count - 1) / T) without. */
int64_t retnet_loader_windows(const retnet_loader *l);

/*
 * Everything that decides the loader's next windows: restoring it continues bit-identically.
 * The last three fields identify what it belongs to; set_state refuses a state of another file
 * or window length.
 */
typedef struct retnet_loader_state {
    uint64_t rng[4];       /* the random windows' generator (xoshiro256**) */
    int64_t next_window;   /* the next sequential window */
    int64_t drawn;         /* random windows drawn so far */
    int64_t count;         /* tokens in the file */
    int32_t T;
    int32_t bos;           /* the bos id prepended, -1 for none */
} retnet_loader_state;

void retnet_loader_get_state(const retnet_loader *l, retnet_loader_state *s);
retnet_status retnet_loader_set_state(retnet_loader *l, const retnet_loader_state *s);
/* The state as one line of text without spaces or quotes (about 140 characters; 256 always
 * suffice), and back. Returns the length needed (snprintf-like). */
int retnet_loader_state_str(const retnet_loader *l, char *buf, size_t cap);
retnet_status retnet_loader_state_parse(retnet_loader *l, const char *s);

/* ---------------------------------------------------------------- sha256 */

/* The SHA-256 of n bytes as 64 lowercase hex digits and a NUL. */
void retnet_sha256_hex(const void *data, int64_t n, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
