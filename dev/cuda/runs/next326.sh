#!/usr/bin/env bash
# Written in the forty-third session after its GPU time was spent (not yet run). First
# cluster_query (next325: can 128 blocks of the step's shape run as clusters of 16 under a
# cooperative launch?); then the persistent step with a head's 16 blocks as one cluster and q, k
# through distributed shared memory (PSTEP_CLUSTER=16: st.async into every peer's copy, counted
# on its mbarrier; the head's wait becomes an mbarrier wait instead of polls of tagged stores
# in L2), passing test_persistent in its own build first, alternated three times against the
# default. If the clusters do not fit, the variant's launch fails and its runs print nothing.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
mkdir -p build
nvcc -std=c++17 -arch=sm_90a dev/cuda/cluster_query.cu -o build/cluster_query && build/cluster_query
pstep_ab 3 base cl16=-DPSTEP_CLUSTER=16
grep -h "FAIL\|error" "$OUT/test-cl16.log" | head -5
echo "total $((SECONDS - t0)) s"
