/*
 * trace_inject.c (lab): every kernel's start and end on the GPU, from CUPTI's activity API,
 * injected into an unmodified program through CUDA_INJECTION64_PATH (the driver calls
 * InitializeInjection), written at exit as CSV lines "start_ns,end_ns,stream,grid,name" to
 * $TRACE_OUT (default trace.csv). Kernels of a CUDA graph are recorded one by one, with the
 * overlap programmatic dependent launch gives them. dev/cuda/trace_steps.py reads the file.
 *
 *   gcc -O2 -shared -fPIC -I$CUDA/include dev/cuda/trace_inject.c -L<cupti dir> -lcupti \
 *     -o build/trace_inject.so
 *   CUDA_INJECTION64_PATH=build/trace_inject.so TRACE_OUT=t.csv build-cuda/retnet bench decode ...
 */
#include <cupti.h>
#include <stdio.h>
#include <stdlib.h>

#define BUF_BYTES (16u << 20)

static FILE *out;

static void CUPTIAPI buffer_requested(uint8_t **buf, size_t *size, size_t *max_records) {
    *buf = aligned_alloc(8, BUF_BYTES);
    *size = *buf ? BUF_BYTES : 0;
    *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buf, size_t size,
                                      size_t valid) {
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *r = NULL;
    while (cuptiActivityGetNextRecord(buf, valid, &r) == CUPTI_SUCCESS)
        if (r->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) {
            const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)r;
            if (out)
                fprintf(out, "%llu,%llu,%u,%d,%s\n", (unsigned long long)k->start,
                        (unsigned long long)k->end, k->streamId, k->gridX * k->gridY * k->gridZ,
                        k->name ? k->name : "?");
        }
    free(buf);
}

static void finish(void) {
    cuptiActivityFlushAll(1);
    if (out) fclose(out);
    out = NULL;
}

int InitializeInjection(void) {
    const char *path = getenv("TRACE_OUT");
    out = fopen(path ? path : "trace.csv", "w");
    if (!out) return 0;
    if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
        fprintf(stderr, "trace_inject: CUPTI activity tracing could not start\n");
        return 0;
    }
    atexit(finish);
    return 1;
}
