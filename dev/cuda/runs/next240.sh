#!/usr/bin/env bash
# Thirty-third session, call 4: the wgmma kernel's next-chunk loads sent by warpgroup 1 (next239's
# RET_ISS 2, now the only form): every CUDA test on the new tree, then the 1.3B training step
# (B 8 x T 2048 and B 2 x T 8192, 6 steps after 2) against HEAD's tree (build/base.tar, built
# beside it), a b a b.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base
JOBS=12 cuda_build
wait $BPID
cuda_tests
echo "tests done at $((SECONDS - t0)) s"
for r in new base new2 base2; do
  bin=build-cuda/retnet; case $r in base*) bin=$BASE/build-cuda/retnet ;; esac
  for bt in "8 2048" "2 8192"; do
    set -- $bt
    printf '%s B %s T %s: ' "$r" "$1" "$2"
    timeout 90 $bin bench train --config dev/cuda/cfg-1.3b-fla.json --device cuda --batch "$1" --seq "$2" \
      --steps 6 --warmup 2 --json 2>/dev/null | tail -1 | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print(r.get('ms_per_step'), 'ms', r.get('tokens_per_s'), 'tok/s MFU', r.get('mfu'))"
  done
done
echo "total $((SECONDS - t0)) s"
