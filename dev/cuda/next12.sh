#!/usr/bin/env bash
# Sixth session: the norms' backward with a shared-memory pipeline (cp.async, 3 buffers of
# segments; RETNET_CUDA_NORM_PIPE=0 turns it off). Build; test_cuda_ops (each norm backward
# case is run with and without the pipeline and compared bit for bit, and against the CPU);
# test_cuda_train (gradients, the loss curve, graphs); the 1.3B training step with the
# pipeline off and on, alternated twice; the step by phase.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
for i in 1 2; do
  for P in 0 1; do
    echo "pipe $P: $(RETNET_CUDA_NORM_PIPE=$P timeout 60 build-cuda/retnet bench train --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null | python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["ms_per_step"], "ms", r["tokens_per_s"], "tokens/s, MFU", r["mfu"])')"
  done
done
train_phases
echo "total $((SECONDS - t0)) s"
