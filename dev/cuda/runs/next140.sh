#!/usr/bin/env bash
# read_lab.cu with a stand-in for a gemv block's work after its loads (spin cycles, a block
# barrier) and its blocks an SM capped (16, 8, 7 as the FMA gemv's 71 registers allow, 4):
# how much of the gemv's gap to a plain read (next139: q k v g 18.7 against 14.0 us cold, 11.8
# under programmatic launch) each explains; then ncu's own time of the FMA gemv's wo,
# fc1 | gate and fc2 launches at M = 1 (cold) beside the plain reads'.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/read_lab dev/cuda/read_lab.cu || exit 1
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/cuda/tests/test_cuda_gemv &
BP=$!
build/read_lab 200 | tee "$OUT/read_lab.txt" | grep -E "work|pdl 1"
wait $BP
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for sk in 10 220 430 640; do
  timeout 60 "$NCU" --metrics gpu__time_duration.sum,dram__bytes_read.sum,sm__warps_active.avg.pct_of_peak_sustained_active \
    -k regex:gemv_fma_kernel --launch-skip $sk --launch-count 1 \
    build-cuda/cuda/tests/test_cuda_gemv --bench 2>&1 | grep -E "gemv_fma|duration|bytes_read|warps_active" | sed "s/^/skip $sk: /"
done
echo "total $((SECONDS - t0)) s"
