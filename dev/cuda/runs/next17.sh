#!/usr/bin/env bash
# Seventh session: (1) kernels' bf16 outputs by the hardware's conversion (bf16_rn, bf16x2_rn:
# norms, activations, rope); (2) the norms' backward at 3 blocks an SM (768 threads, 80
# registers, 20-60 bytes of spills) against 2. Three builds: base (build/base.tar), new (this
# tree), v3 (this tree, NORM_BWD_THREADS 768). test_cuda_ops on new; bench_cuda_ops by all
# three; the 1.3B step by all three, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_base build-cuda/cuda/bench_cuda_ops
V3=/tmp/v3; mkdir -p $V3
tar --exclude=./build --exclude=./build-cuda --exclude=./build-debug --exclude=./.git -cf - . | tar -xf - -C $V3
sed -i 's/^#define NORM_BWD_THREADS 512$/#define NORM_BWD_THREADS 768/' $V3/src/cuda/norm.cu
grep -c "NORM_BWD_THREADS 768" $V3/src/cuda/norm.cu
( cd $V3 && make CUDA=1 -j5 build-cuda/retnet build-cuda/cuda/bench_cuda_ops >$V3/build.log 2>&1; echo "v3 build: exit $?" ) &
V3PID=$!
JOBS=6 cuda_build build-cuda/retnet build-cuda/cuda/bench_cuda_ops build-cuda/cuda/tests/test_cuda_ops
wait $BPID; wait $V3PID
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops
for tree in "$BASE" . $V3; do
  echo "== bench_cuda_ops $tree"
  $tree/build-cuda/cuda/bench_cuda_ops 2>&1 | grep -E "norm|glu|gelu|rope"
done
for i in 1 2; do
  for tree in "$BASE" . $V3; do
    echo "step $tree: $(timeout 60 $tree/build-cuda/retnet bench train --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["ms_per_step"], "ms", r["tokens_per_s"], "tokens/s, MFU", r["mfu"])')"
  done
done
echo "total $((SECONDS - t0)) s"
