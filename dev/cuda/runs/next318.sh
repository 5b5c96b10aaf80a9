#!/usr/bin/env bash
# Forty-third session: split_lab (dev/cuda/split_lab.c), the upper bound of splitting a
# decoding batch into S parts whose steps run side by side on their own streams (one part's
# state read beside another's weight products; the weights read S times): B = 64, 128, 256,
# S = 1 (the control: the library's step), 2 and 4, three runs each of 48 greedy steps.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
split_lab_build
timeout 400 build/split_lab dev/cuda/cfg-1.3b-fla.json 64,128,256 48 1 2 4 >"$OUT/split.jsonl" 2>"$OUT/split.err"
echo "split_lab: exit $?"; tail -3 "$OUT/split.err"
split_table "$OUT/split.jsonl"
echo "total $((SECONDS - t0)) s"
