#!/usr/bin/env bash
# Forty-second session, with the last GPU minutes: the persistent step's state stores after
# meeting M's arrival (a timing switch, -DPSTEP_LATE_STORE: the stores then stand neither
# ahead of the arrival's fence nor ahead of z's stores), against the default (cap 2); the
# variant passing test_persistent first; alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
pstep_ab 3 cap2 late=-DPSTEP_LATE_STORE=1
echo "total $((SECONDS - t0)) s"
