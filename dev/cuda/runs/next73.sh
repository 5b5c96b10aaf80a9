#!/usr/bin/env bash
# Fourteenth session: the paper preset's decoding path (next72: B = 1 1.303 ms against the
# fla shape's 1.106): gelu in the fc1 product's epilogue (the act kernel's bits) instead of
# its own launch, and the §3 key-sum step (z_step_kernel) under programmatic launch with z and
# the row's decay scale read before its wait (it was launched plainly, a full stop in the
# chain). Against c8fcefc (build/base.tar) built beside it.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_ops
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_ops
timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batch test_graphs >>"$OUT/tests.log" 2>&1
echo "test_cuda_train (argmax, batch, graphs): exit $?: $(tail -n 1 "$OUT/tests.log")"
wait $BPID
for i in 1 2; do
  for v in base new; do
    bin=build-cuda/retnet; [ $v = base ] && bin=$BASE/build-cuda/retnet
    timeout 150 $bin bench decode --preset 1.3b --device cuda --batch 1,2,8,64 --context 64 \
      --steps 48 --warmup 4 --json 2>/dev/null | sed "s/^{/{\"v\": \"$v\", /" >>"$OUT/decode.jsonl"
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
