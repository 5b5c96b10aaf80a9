#!/usr/bin/env bash
# Forty-second session: the persistent B = 1 step with a cap on the stages in flight (asked for
# and not landed; a timing switch, -DPSTEP_INFLIGHT=K; the tenth session's first persistent
# form saw nothing from it, this kernel never tried it): K = 1, 2, 3 against the default (up
# to all 4), each passing test_persistent in its own build first; alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
PSTEP_AB_CHAIN=1 pstep_ab 3 pstep if1=-DPSTEP_INFLIGHT=1 if2=-DPSTEP_INFLIGHT=2 if3=-DPSTEP_INFLIGHT=3
echo "total $((SECONDS - t0)) s"
