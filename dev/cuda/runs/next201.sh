#!/usr/bin/env bash
# (reverted: every setting slower or level, e.g. B = 1 1.066 -> 1.140 ms with the FFN's prefetch; see README)
# L2 prefetch from the decoding step (pdl.cuh's l2pf): the recurrent step leaves the memory
# bus mostly idle for its ~8 us (4 MB of state at B = 1: latency, not bandwidth), and the FFN's
# products after it stream their weights only once their blocks start. The step's blocks (and
# fc2's, for the next layer's q k v g) now issue cp.async.bulk.prefetch.L2 of those weights.
# RETNET_CUDA_L2PF="ffn fraction,fc2,qkv MB,max batch". Tests: test_cuda_model (decoding
# against the CPU), test_cuda_train's argmax, batch, graphs; then the step at B = 1 and 8 (fla
# shape) for several settings, three runs alternated; the paper preset at B = 1.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_model
train_decode_tests
for i in 1 2 3; do
  decode_run "off" build-cuda/retnet 1,8
  decode_run "f.5+fc2" build-cuda/retnet 1,8 RETNET_CUDA_L2PF=0.5,1,0
  decode_run "f1+fc2" build-cuda/retnet 1,8 RETNET_CUDA_L2PF=1,1,0
  decode_run "f.5+fc2+q16" build-cuda/retnet 1,8 RETNET_CUDA_L2PF=0.5,1,16
  decode_run "f.5+fc2+q32" build-cuda/retnet 1,8 RETNET_CUDA_L2PF=0.5,1,32
  decode_run "q24" build-cuda/retnet 1,8 RETNET_CUDA_L2PF=0,0,24
done
decode_table
mv "$OUT/decode.jsonl" "$OUT/decode-fla.jsonl"
export DECODE_MODEL="--preset 1.3b"
for i in 1 2 3; do
  decode_run "p-off" build-cuda/retnet 1
  decode_run "p-f.5+fc2" build-cuda/retnet 1 RETNET_CUDA_L2PF=0.5,1,0
  decode_run "p-f.5+fc2+q16" build-cuda/retnet 1 RETNET_CUDA_L2PF=0.5,1,16
done
decode_table
echo "total $((SECONDS - t0)) s"
