#!/usr/bin/env bash
# (Ran in the twenty-fifth session; the LayerNorm chain lost in every form and was reverted: see dev/cuda/README.md.)
# The LayerNorm chain, second form: the residual's product (wo, fc2) writes the next norm's
# operand x w in fp32 (cuda_gemv_rms_out's xwf), the consumer reads it (32 bytes a step a
# lane, where the first form read x and w: 64, and lost 9%: next173-174) and forms x's sums
# once a block; the first layer's norm keeps its launch. The decoding tests, then the preset
# at B = 1 chain / apart alternated three times (B = 8 once each: the same kernels), and ncu (third form in next176: y's loads with the products' first operands)
# of the chain at B = 1.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
grep -h "ln chain" "$OUT/tests.log" | head -20
timeout 100 build-cuda/cuda/tests/test_cuda_train test_ln_chain_update >"$OUT/ln-update.log" 2>&1
echo "test_ln_chain_update: exit $?: $(tail -n 1 "$OUT/ln-update.log")"
grep -h "ln chain\|FAIL" "$OUT/ln-update.log" | head
preset_run() { # NAME BATCHES [VAR=VALUE...]: lib.sh's decode_run on the paper preset
  local name=$1 bs=$2; shift 2
  DECODE_MODEL="--preset 1.3b" decode_run "$name" build-cuda/retnet "$bs" "$@"
}
for i in 1 2 3; do
  preset_run "p-chain" 1
  preset_run "p-apart" 1 RETNET_CUDA_LN_CHAIN=0
done
preset_run "p-chain" 8
preset_run "p-apart" 8 RETNET_CUDA_LN_CHAIN=0
decode_table
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 150 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
  build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 1 --context 64 --steps 3 \
  --warmup 1 >"$OUT/ncu_chain.csv" 2>"$OUT/ncu_chain.err"
ncu_kernels "$OUT/ncu_chain.csv" "chain (B = 1, prefill of 64, 1 warm-up step, 3 steps)" 8
echo "total $((SECONDS - t0)) s"
