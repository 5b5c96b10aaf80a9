#!/usr/bin/env bash
# For the next session's first device call (written 2026-11-29 after the last device call;
# NOT yet run). Carry ["build/base.tar"]: `git archive d68a462 -o build/base.tar` (the commit
# whose training step was measured at 297.5 ms, MFU 44.96-44.99%), built beside the tree for
# a same-run before/after (the device copy's git history lacks this session's commits).
# New since d68a462, not yet run on a GPU:
#   - training: the cross-entropy writes d logits straight to bf16 (cuda_op_cross_entropy_bf16;
#     the same bits as the fp32 gradient converted, which test_cuda_ops checks bit for bit),
#     no fp32 gradient write and no conversion pass ('b cvt', 0.8 ms of the step);
#   - the review's mends to the backward's side stream (host code only) and test_cuda_retention's
#     new cases (NaN-filled outputs; += onto random values in fp32 and bf16, with the split).
# Here: build (and the base); every CUDA test; the float64 lab; the store identity; dq || dk
# again (flag 256); the training step, base and new alternated, then by phase.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build_base
JOBS=10 cuda_build_lab
TEST_TIMEOUT=150 cuda_tests
grep -E "dv512|cross_entropy" "$OUT/tests.log" | head -20
RETNET_CUDA_LAB_FLAGS=256 TEST_TIMEOUT=60 cuda_tests build-cuda/cuda/tests/test_cuda_retention
timeout 100 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1
echo "lab: exit $? $(grep CORRECTNESS "$OUT/lab.log")"
timeout 100 python3 dev/cuda/retention_store.py 2>&1 | tee "$OUT/store.txt" | grep -v "^DIFF" | tail -1
timeout 60 python3 dev/cuda/retention_ab.py 256 0
wait $BPID; echo "base ready at $((SECONDS - t0)) s"
for i in 1 2; do
  for R in $BASE/build-cuda/retnet build-cuda/retnet; do
    echo "$R: $(timeout 60 $R bench train --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null | cut -c1-400)"
  done
done
train_phases
echo "total $((SECONDS - t0)) s"
