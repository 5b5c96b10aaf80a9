#!/usr/bin/env bash
# Thirty-fourth session: are next251's racecheck warnings (mbar_init by thread 0 against
# mbar_expect_tx, 10 reports of 1024-2048 hazards) new with 3beaf2c (warpgroup 1's warps send the
# next chunk's loads, one of them arriving on the barrier thread 0 initialised)? The same
# racecheck run on the tree before it (build/base.tar = git archive 3beaf2c^), then again on
# this tree with full reports (which kernels, which threads).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
BASE=/tmp/base
rm -rf $BASE && mkdir -p $BASE && tar xf build/base.tar -C $BASE
(cd $BASE && make -k CUDA=1 -j8 build-cuda/cuda/tests/test_cuda_retention >/tmp/base-build.log 2>&1; echo "base build: exit $?") &
JOBS=8 cuda_build build-cuda/cuda/tests/test_cuda_retention
wait
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
for t in base head; do
  bin=build-cuda/cuda/tests/test_cuda_retention; [ $t = base ] && bin=$BASE/$bin
  s=$SECONDS
  timeout 200 "$CS" --tool racecheck --show-backtrace device --error-exitcode 9 $bin \
    test_forward_and_step test_backward >"$OUT/rc-$t.log" 2>&1
  echo "racecheck $t: exit $? in $((SECONDS - s)) s: $(grep -E "RACECHECK SUMMARY|passed," "$OUT/rc-$t.log" | tr '\n' ' ')"
done
grep -m3 -B2 -A12 "Race reported" "$OUT/rc-head.log" | cut -c1-220
echo "total $((SECONDS - t0)) s"
