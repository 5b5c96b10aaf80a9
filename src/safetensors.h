/*
 * safetensors.h: reading and writing the safetensors format (internal).
 *
 * Layout (docs/FILE_FORMAT.md): an 8-byte little-endian u64 N, N bytes of a JSON object
 * (the header), then the data. The header maps each tensor name to {"dtype", "shape",
 * "data_offsets": [begin, end]} with offsets relative to the start of the data, and may hold
 * "__metadata__": {string: string}.
 *
 * Reading treats the file as hostile: st_open checks the header length (at most
 * ST_MAX_HEADER and within the file), the JSON, and every entry (known dtype, non-negative
 * shape with an overflow-checked element count, begin <= end, end - begin = numel * dtype
 * size, end within the data, no two tensors overlapping, no name twice) before anything is
 * returned; each failure is one retnet_fail message naming the file, the tensor and the
 * problem. Only the header is held in memory; st_read_f32 reads one tensor with positioned
 * reads (pread) straight into the caller's buffer and converts F32, F16, BF16 and F64 to
 * float32. (Not mmap: a file truncated by another process during a load must give an
 * error, not SIGBUS, and page-faulting a mapping costs more than a read into memory that
 * is already allocated.)
 *
 * Writing streams: the header goes first (so every tensor's name, dtype and shape is given
 * to st_writer_open), then the values tensor by tensor, in that order, into `path.tmp.<pid>`,
 * which st_writer_finish fsyncs and renames over `path`. On any failure the temp file is
 * removed and an existing `path` is left as it was. The header is padded with spaces so that
 * the data starts at a multiple of 8 bytes, as the reference implementation does.
 */
#ifndef RETNET_SAFETENSORS_H
#define RETNET_SAFETENSORS_H

#include "retnet.h"
#include <stdint.h>

#define ST_MAX_HEADER ((int64_t)100 << 20) /* 100 MB: far above any real header */
#define ST_MAX_DIMS 8

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_DTYPE_COUNT
} st_dtype;

/* The dtype's name in the header ("F32"), and its size in bytes. */
const char *st_dtype_name(st_dtype t);
int st_dtype_size(st_dtype t);

typedef struct {
    const char *name;
    st_dtype dtype;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;           /* product of shape (1 for a scalar) */
    int64_t begin, end;      /* byte range inside the data section */
} st_tensor;

typedef struct {
    const char *key, *value;
} st_meta;

typedef struct st_file st_file;
struct st_file {
    char *path;
    int fd;
    int64_t file_size;
    char *header;               /* the N header bytes */
    int64_t data_start;         /* 8 + N: where the data section starts in the file */
    int64_t data_size;
    struct json_doc *doc;       /* the parsed header (names and metadata point into it) */
    st_tensor *tensors;         /* sorted by name */
    int32_t n_tensors;
    st_meta *meta;              /* __metadata__, in file order */
    int32_t n_meta;
};

/* Opens and checks a file (see above). *out is NULL on failure. */
retnet_status st_open(const char *path, st_file **out);
void st_close(st_file *f);
/* The tensor with this name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);
/* The __metadata__ value of this key, or NULL. */
const char *st_meta_get(const st_file *f, const char *key);
/* Reads a tensor as float32 into dst (t->numel floats). F32, F16, BF16 are exact, F64 is
 * rounded to nearest; other dtypes are RETNET_EUNSUPPORTED. A short read (the file shrank
 * since st_open) is RETNET_EIO. */
retnet_status st_read_f32(const st_file *f, const st_tensor *t, float *dst);
/* Reads a tensor as bfloat16: BF16 bytes as they are, other float dtypes rounded to nearest
 * even (through float32). */
retnet_status st_read_bf16(const st_file *f, const st_tensor *t, uint16_t *dst);

/* Bit conversions (exposed for tests). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float x); /* round to nearest even; NaN stays NaN */

/* ---------------------------------------------------------------- writer */

typedef struct {
    const char *name;
    st_dtype dtype;          /* ST_F32 or ST_BF16 */
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
} st_spec;

typedef struct st_writer st_writer;

/* Creates the temp file and writes the header for these tensors (in this order) and this
 * metadata (may be NULL/0). The writer copies what it needs from specs and meta. */
retnet_status st_writer_open(const char *path, const st_meta *meta, int32_t n_meta,
                             const st_spec *specs, int32_t n_specs, st_writer **out);
/* Appends n values (float32, converted to the tensor's dtype) to the current tensor; a
 * tensor may be given in several pieces, but a piece never spans two tensors. */
retnet_status st_writer_put(st_writer *w, const float *data, int64_t n);
/* Checks that every tensor was written in full, syncs, and renames the temp file over the
 * path. Frees w whatever happens; on failure the temp file is removed. */
retnet_status st_writer_finish(st_writer *w);
/* Gives up: removes the temp file and frees w (NULL is fine). */
void st_writer_abort(st_writer *w);

#endif
