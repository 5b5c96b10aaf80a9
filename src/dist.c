/*
 * dist.c: how the ranks of a data-parallel run meet (retnet_dist, include/retnet.h): the
 * unique id as hex, the id file that rank 0 writes and the others wait for, NCCL_COMM_ID, and
 * the timeout's default. The communicator, the gradient reduction and the sharded update are
 * src/cuda/dist.cu's; retnet_trainer_create_dist (trainer.c) puts the two together.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef RETNET_CUDA
#include "cuda/dist.h"
#endif

#define ID_BYTES 128                 /* ncclUniqueId (cuda/dist.h's DIST_ID_BYTES) */
#define DEFAULT_TIMEOUT_S 300.0

#ifndef RETNET_CUDA
static retnet_status no_cuda(void) {
    return retnet_fail(RETNET_EUNSUPPORTED, "multi-GPU training needs a CUDA build with NCCL "
                       "(make CUDA=1 on a machine with nvcc); this build has no CUDA backend");
}
#endif

double retnet_dist_timeout(double given) {
    if (given > 0) return given;
    const char *e = getenv("RETNET_DIST_TIMEOUT");
    if (e && *e) {
        char *end = NULL;
        double v = strtod(e, &end);
        if (end != e && !*end && v > 0) return v;
    }
    return DEFAULT_TIMEOUT_S;
}

#ifndef RETNET_CUDA
retnet_status retnet_dist_id(char hex[RETNET_DIST_ID_HEX]) {
    if (hex) hex[0] = 0;
    return no_cuda();
}

retnet_status retnet_dist_meet(const retnet_dist *d, double timeout, uint8_t id[ID_BYTES]) {
    (void)d, (void)timeout, (void)id;
    return no_cuda();
}
#else
static void to_hex(const uint8_t *b, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < ID_BYTES; i++) hex[2 * i] = digits[b[i] >> 4], hex[2 * i + 1] = digits[b[i] & 15];
    hex[2 * ID_BYTES] = 0;
}

static int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 0 when hex is exactly 2 ID_BYTES hex digits (trailing white space allowed). */
static int from_hex(const char *hex, uint8_t *b) {
    for (int i = 0; i < ID_BYTES; i++) {
        int hi = nibble(hex[2 * i]), lo = hi < 0 ? -1 : nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    for (const char *p = hex + 2 * ID_BYTES; *p; p++)
        if (*p != '\n' && *p != '\r' && *p != ' ') return -1;
    return 0;
}

retnet_status retnet_dist_id(char hex[RETNET_DIST_ID_HEX]) {
    if (!hex) return retnet_fail(RETNET_EINVAL, "dist_id: NULL buffer");
    uint8_t id[ID_BYTES];
    retnet_status st = dist_make_id(id);
    if (st) return st;
    to_hex(id, hex);
    return RETNET_OK;
}

/* Rank 0: a new id into `path`, written to a temporary name and linked there (so that a
 * reader never sees half of it). A file already there is refused: the other ranks may have
 * read a stale id from it already, and would wait for a run that never comes. */
static retnet_status write_id_file(const char *path, uint8_t id[ID_BYTES]) {
    retnet_status st = dist_make_id(id);
    if (st) return st;
    char hex[RETNET_DIST_ID_HEX], tmp[4200];
    to_hex(id, hex);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return retnet_fail(RETNET_EIO, "rank 0: cannot write the id file '%s': %s", tmp,
                               strerror(errno));
    int bad = fprintf(f, "%s\n", hex) < 0;
    bad |= fclose(f) != 0;
    if (bad || link(tmp, path)) {
        int e = errno;
        unlink(tmp);
        if (!bad && e == EEXIST)
            return retnet_fail(RETNET_EINVAL, "rank 0: the id file '%s' exists already (from an "
                               "earlier run?): give every run a new path", path);
        return retnet_fail(RETNET_EIO, "rank 0: cannot write the id file '%s': %s", path,
                           strerror(e));
    }
    unlink(tmp);
    return RETNET_OK;
}

/* The other ranks: wait for the file and read it. */
static retnet_status read_id_file(const retnet_dist *d, double timeout, uint8_t id[ID_BYTES]) {
    const double t0 = retnet_now();
    char buf[2 * ID_BYTES + 8];
    for (;;) {
        FILE *f = fopen(d->id_file, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            if (from_hex(buf, id) == 0) return RETNET_OK;
            return retnet_fail(RETNET_EFORMAT, "rank %d of %d: the id file '%s' does not hold a "
                               "unique id (256 hex digits)", d->rank, d->world, d->id_file);
        }
        if (errno != ENOENT)
            return retnet_fail(RETNET_EIO, "rank %d of %d: cannot read the id file '%s': %s",
                               d->rank, d->world, d->id_file, strerror(errno));
        if (retnet_now() - t0 > timeout)
            return retnet_fail(RETNET_EIO, "rank %d of %d: the id file '%s' did not appear "
                               "within %.0f s (rank 0 writes it: did rank 0 start?)", d->rank,
                               d->world, d->id_file, timeout);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

retnet_status retnet_dist_meet(const retnet_dist *d, double timeout, uint8_t id[ID_BYTES]) {
    if (d->id) {
        if (from_hex(d->id, id))
            return retnet_fail(RETNET_EINVAL, "rank %d of %d: the unique id must be 256 hex "
                               "digits (what retnet_dist_id makes)", d->rank, d->world);
        return RETNET_OK;
    }
    if (d->id_file)
        return d->rank == 0 ? write_id_file(d->id_file, id) : read_id_file(d, timeout, id);
    if (getenv("NCCL_COMM_ID")) return dist_make_id(id); /* an id that points there */
    return retnet_fail(RETNET_EINVAL, "rank %d of %d: no way for the ranks to meet: give a "
                       "unique id, an id file, or NCCL_COMM_ID=host:port in the environment",
                       d->rank, d->world);
}
#endif
