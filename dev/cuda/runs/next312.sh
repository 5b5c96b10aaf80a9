#!/usr/bin/env bash
# Forty-second session: next311's cap of 2 stages in flight as the persistent step's default
# (PSTEP_INFLIGHT=4, no cap, built beside it for comparison). test_cuda_model and memcheck of
# test_persistent on the default; then the chain, the cap and no cap alternated five times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
timeout 150 build-cuda/cuda/tests/test_cuda_model >"$OUT/model.log" 2>&1
echo "test_cuda_model: exit $? $(tail -1 "$OUT/model.log")"; grep -E "FAIL|persistent: 20 steps, logits" "$OUT/model.log" | head -4
pstep_memcheck
mkdir -p build && cp build-cuda/retnet build/retnet-cap2
pstep_variant nocap src/cuda/decode_persistent.cu -DPSTEP_INFLIGHT=4
pstep_restore
for i in 1 2 3 4 5; do
  decode_run chain build/retnet-cap2 1 RETNET_CUDA_PERSISTENT=0
  decode_run cap2 build/retnet-cap2 1
  decode_run nocap build/retnet-nocap 1
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
