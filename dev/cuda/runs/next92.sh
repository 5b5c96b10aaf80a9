#!/usr/bin/env bash
# Sixteenth session, after the review (large_states shared by both decode steps, one forced
# window shape, window_lab2 timing the mainline kernel's own instantiations), sm_90a: the
# window's tests, window_lab2, and the 1.3B step at B = 64 with the shape automatic and forced
# (RETNET_CUDA_WINDOW_SHAPE=3, still read) to show the variable works.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
( nvcc -O3 -std=c++17 $CUDA_GENCODE -o "$OUT/window_lab2" dev/cuda/window_lab2.cu >"$OUT/lab2-build.log" 2>&1; echo "lab2 build: exit $?" ) &
LAB=$!
cuda_build
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
wait $LAB
timeout 100 "$OUT/window_lab2" >"$OUT/window_lab2.txt" 2>&1
grep -E "^\| (64|256) \|" "$OUT/window_lab2.txt"
decode_run auto build-cuda/retnet 64
decode_run shape3 build-cuda/retnet 64 RETNET_CUDA_WINDOW_SHAPE=3
decode_runs
echo "total $((SECONDS - t0)) s"
