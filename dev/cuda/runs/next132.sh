#!/usr/bin/env bash
# (Reverted after it ran: the fused step lost at B = 64 and 256 and slowed the fla shape; dev/cuda/README.md, twenty-first session.)
# §3's key-sum step inside the window's step (retention_cuda_step_window_rows; the model's
# default, RETNET_CUDA_Z_FUSED=0 the separate z_step_kernel): test_cuda_model (test_window:
# the paper preset tiny with the window at both kernel shapes, against the CPU), retention,
# train's graphs (§3 at B 12: graph bit for bit op by op); then the paper preset's step at
# B = 2, 8, 64, 256 fused / apart, alternated, twice; the fla shape (no §3: only the kernel's
# registers changed) against 1df909e built beside it (build/base.tar, carried).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_retention
timeout 100 build-cuda/cuda/tests/test_cuda_train test_graphs >"$OUT/graphs.log" 2>&1
echo "test_cuda_train test_graphs: exit $?: $(tail -n 1 "$OUT/graphs.log")"
grep -h "paper preset tiny" "$OUT/tests.log" | head -4
pre() { env "$@" timeout 100 build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 2,8,64,256 \
  --context 64 --steps 32 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"preset $1\", /" >>"$OUT/decode.jsonl"; }
for i in 1 2; do
  pre RETNET_CUDA_Z_FUSED=1
  pre RETNET_CUDA_Z_FUSED=0
done
wait $BPID
for i in 1 2; do
  decode_run base "$BASE/build-cuda/retnet" 8,64,256
  decode_run new build-cuda/retnet 8,64,256
done
decode_table
echo "total $((SECONDS - t0)) s"
