#!/usr/bin/env bash
# (Run in the forty-third session, next317: both switches lost and removed after it; 132b30d has them.)
# Written in the forty-second session after its GPU time was spent (not yet run). The
# persistent step's products read their stage through ld.shared.v4 with two-way bank conflicts
# (rows 4096 bytes apart: lanes g and g + 1 of a quarter-warp on the same banks; ncu, next282:
# 40% excess wavefronts) and read whole 16-row tiles where a stage holds fewer rows (12 of K
# 2048 in 48 KB, 6 of 4096; q and k's second stage 4): about 1.6x the rows they use. A stage is
# released once its 8 warps have read it, and the consumers, not the stream, hold the step
# (thirty-sixth session; next311-312), so the reads' wavefronts stand on the step's path.
# Variants (timing switches, each passing test_persistent in its own build first):
#   zf     rows past the stage's end not read (zeros; tc_rows.cuh's ZF)
#   pad    the products' rows 64 bytes apart beyond their own (a bulk copy a row; stages of 12
#          rows of 4160 bytes): no conflicts
#   padzf  both
# alternated three times against the default (cap 2).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
pstep_ab 3 base zf=-DPSTEP_ZF=1 pad=-DPSTEP_PAD=64 "padzf=-DPSTEP_PAD=64 -DPSTEP_ZF=1"
# the products' shared-memory wavefronts and conflicts under ncu, base against padzf, if the
# call has the time (one pstep_kernel launch each)
if [ $((SECONDS - t0)) -lt 420 ]; then
  NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
  for v in e0 padzf; do
    timeout 90 "$NCU" -k regex:pstep --launch-skip 4 -c 1 --metrics \
      gpu__time_duration.sum,smsp__sass_inst_executed_op_shared_ld.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed \
      build/retnet-$v bench decode --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch 1 \
      --context 64 --steps 6 --warmup 2 >"$OUT/ncu-$v.txt" 2>&1
    echo "ncu $v: exit $?"; grep -E "gpu__time|shared|dram__" "$OUT/ncu-$v.txt" | head -6
  done
fi
echo "total $((SECONDS - t0)) s"
