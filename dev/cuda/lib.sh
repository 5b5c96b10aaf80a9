# dev/cuda/lib.sh: what the one-call device scripts share (`. dev/cuda/lib.sh` from the
# repository root): $OUT (the run tool's output folder), nvcc on PATH, the clock t0, the build
# and the CUDA tests, each logged to $OUT with one line per step on stdout.
set -uo pipefail
OUT=${OUT:-bench/gpu/out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
t0=$SECONDS

# cuda_build [targets...]: make -k CUDA=1 -j$JOBS (default 16) into $OUT/build.log
cuda_build() {
  make -k CUDA=1 -j"${JOBS:-16}" "$@" >"$OUT/build.log" 2>&1
  echo "build: exit $? in $((SECONDS - t0)) s"
  grep -E "error" -A3 "$OUT/build.log" | head -20
}

# cuda_tests [binaries...] (default: every test): $OUT/tests.log, a line per binary, then the
# failures; each binary at most $TEST_TIMEOUT seconds (default 200)
cuda_tests() {
  local t s rc bins=("$@")
  [ ${#bins[@]} -eq 0 ] && bins=(build-cuda/cuda/tests/test_cuda_*)
  : >"$OUT/tests.log"
  for t in "${bins[@]}"; do
    s=$SECONDS
    timeout "${TEST_TIMEOUT:-200}" "$t" >>"$OUT/tests.log" 2>&1
    rc=$? # before any other expansion: $(basename) would reset $?
    echo "$(basename "$t"): exit $rc in $((SECONDS - s)) s: $(tail -n 1 "$OUT/tests.log")"
  done
  grep -h "FAIL" "$OUT/tests.log" | head -20
}

# clean_tests [SECONDS]: build-cuda removed, a build for every target (all gencodes, as CI
# and users build), then every CUDA test, each at most SECONDS (default 200)
clean_tests() {
  rm -rf build-cuda
  cuda_build
  TEST_TIMEOUT=${1:-200} cuda_tests
}

# gemv_tests_under VAR VALUE...: test_cuda_gemv once with VAR set to each VALUE, a log each
# in $OUT and a line each
gemv_tests_under() {
  local var=$1 v log; shift
  for v in "$@"; do
    log="$OUT/gemv-$var-${v//[^A-Za-z0-9]/_}.log"
    env "$var=$v" timeout 100 build-cuda/cuda/tests/test_cuda_gemv >"$log" 2>&1
    echo "test_cuda_gemv $var=$v: exit $?: $(tail -n 1 "$log")"
  done
}

# decode_record: bench/gpu/e2e.sh --only decode,peers on the build there (fla's decoding peer
# off), its log in $OUT, the decoding table printed
decode_record() {
  E2E_FLA_DECODE=0 STEP_TIMEOUT=200 bench/gpu/e2e.sh --only decode,peers --no-build >"$OUT/e2e-run.log" 2>&1
  echo "e2e: exit $? at $((SECONDS - t0)) s"
  grep -A16 "^| context" "$OUT/e2e-h200.md" | head -16
}

# cuda_build_base: build/base.tar (`git archive` of an earlier commit, carried: the device
# copy's git history may lack it) built in the background into $BASE (default /tmp/base), its
# CLI at $BASE/build-cuda/retnet (and any targets given), for before/after in one run; `wait
# $BPID` before using it
cuda_build_base() {
  BASE=${BASE:-/tmp/base}
  ( mkdir -p "$BASE" && tar xf build/base.tar -C "$BASE" && cd "$BASE" &&
    make CUDA=1 -j6 build-cuda/retnet "$@" >"$BASE/build.log" 2>&1; echo "base build: exit $?" ) &
  BPID=$!
}

# cuda_build_lab: cuda_build and, beside it, the kernel lab's library (dev/cuda/build.sh into
# build/ret-cuda, the one RETNET_CUDA_LIB names for the lab's Python scripts)
cuda_build_lab() {
  local lp
  dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1 &
  lp=$!
  cuda_build
  wait $lp # its own: cuda_build_base's may still run, for `wait $BPID`
  tail -1 "$OUT/retlib.log"
  export RETNET_CUDA_LIB=build/ret-cuda/libretention_cuda.so
}

# train_ab FLAGS...: the 1.3B training step (6 steps after 2) once per argument, each run with
# RETNET_CUDA_LAB_FLAGS set to it, into $OUT/train.jsonl; a line per run
train_ab() {
  local f
  for f in "$@"; do
    RETNET_CUDA_LAB_FLAGS=$f timeout 60 build-cuda/retnet bench train --config dev/cuda/cfg-1.3b-fla.json \
      --device cuda --batch 8 --seq 2048 --steps 6 --warmup 2 --json 2>/dev/null |
      sed "s/^{/{\"lab_flags\": $f, /" >>"$OUT/train.jsonl"
  done
  python3 - "$OUT/train.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    print('lab_flags', r.get('lab_flags'), r.get('ms_per_step'), 'ms', r.get('tokens_per_s'), 'tokens/s, MFU', r.get('mfu'))
PY
}

# train_run TAG BIN MODEL [B T [VAR=VALUE]]: `BIN bench train MODEL` (B x T, default 8 x 2048;
# 4 steps after 2, or $TRAIN_STEPS) with the environment setting given, appended to
# $OUT/train.jsonl as one JSON line tagged "v": TAG
train_run() {
  local tag=$1 bin=$2 model=$3 b=${4:-8} t=${5:-2048} setting=${6:-X=1}
  env "$setting" timeout 90 $bin bench train $model --device cuda --batch $b --seq $t \
    --steps "${TRAIN_STEPS:-4}" --warmup 2 --json 2>/dev/null |
    sed "s/^{/{\"v\": \"$tag\", /" >>"$OUT/train.jsonl"
}

# preset_ab V...: the paper preset's step (train_run) for each V in turn: base ($BASE's
# build), rows0 / rowsums0 (this tree's with RETNET_CUDA_ROWS=0 / RETNET_CUDA_ROWSUMS=0),
# anything else this tree's
preset_ab() {
  local v
  for v in "$@"; do
    case $v in
      base) train_run "base preset" "$BASE/build-cuda/retnet" "--preset 1.3b" ;;
      rows0) train_run "rows0 preset" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_ROWS=0 ;;
      rowsums0) train_run "rowsums0 preset" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_ROWSUMS=0 ;;
      *) train_run "$v preset" build-cuda/retnet "--preset 1.3b" ;;
    esac
  done
}

# train_record [TAG VAR=VALUE]...: the preset's training record (6 steps after 2): B 8 x T
# 2048 and B 2 x T 8192 twice each, a B 8 x T 2048 run tagged "preset TAG" under each setting
# given, the fla shape's step beside them; then train_table
train_record() {
  local i
  for i in 1 2; do
    TRAIN_STEPS=6 train_run preset build-cuda/retnet "--preset 1.3b" 8 2048
    TRAIN_STEPS=6 train_run preset build-cuda/retnet "--preset 1.3b" 2 8192
  done
  while [ $# -ge 2 ]; do
    TRAIN_STEPS=6 train_run "preset $1" build-cuda/retnet "--preset 1.3b" 8 2048 "$2"
    shift 2
  done
  TRAIN_STEPS=6 train_run fla build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json" 8 2048
  train_table
}

# ops_ab PATTERN: bench_cuda_ops of $BASE's build, then of this tree's, each logged to $OUT;
# the lines matching PATTERN (egrep) printed
ops_ab() {
  local v bin
  for v in base new; do
    bin=build-cuda/cuda/bench_cuda_ops; [ $v = base ] && bin=$BASE/build-cuda/cuda/bench_cuda_ops
    timeout 150 $bin >"$OUT/bench_ops_$v.log" 2>&1
    echo "== $v"; grep -E "$1" "$OUT/bench_ops_$v.log"
  done
}

# train_table [FILE]: a line per run of $OUT/train.jsonl (or FILE): tag, shape, ms per step,
# tokens/s, MFU, memory and the losses
train_table() {
  python3 - "${1:-$OUT/train.jsonl}" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    print(r.get('v'), 'B', r['batch'], 'T', r['seq'], r['ms_per_step'], 'ms', r['tokens_per_s'], 'tok/s MFU', r['mfu'],
          'GB', round(r['device_bytes'] / 1e9, 2), 'loss', r['loss_first'], '->', repr(r['loss_last']))
PY
}

# train_step_phases MODEL: one step of MODEL (B 8 x T 2048) timed by phase, the table printed
train_step_phases() {
  RETNET_CUDA_TIMING=1 timeout 60 build-cuda/retnet bench train $1 \
    --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train-timing.log" 2>&1
  grep -A40 "CUDA step timing" "$OUT/train-timing.log" | tail -26
}

# ncu_train MODEL...: for each model, ncu's own time of each kernel over a warm-up and a timed
# training step (B 8 x T 2048), summed by kernel (ncu_kernels, the 30 largest)
ncu_train() {
  local NCU model tag
  NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
  for model in "$@"; do
    tag=$(echo "$model" | tr -c 'a-z0-9\n' '_')
    timeout 240 "$NCU" --csv --metrics gpu__time_duration.sum --cache-control none --clock-control none \
      build-cuda/retnet bench train $model --device cuda --batch 8 --seq 2048 --steps 1 --warmup 1 \
      >"$OUT/ncu-train$tag.csv" 2>"$OUT/ncu-train$tag.err"
    echo "$model ncu exit $? at $((SECONDS - t0)) s"
    ncu_kernels "$OUT/ncu-train$tag.csv" "$model (two steps: warm-up and timed)" 30
  done
}

# train_phases: one training step timed by phase (RETNET_CUDA_TIMING=1), the table printed
train_phases() {
  RETNET_CUDA_TIMING=1 timeout 60 build-cuda/retnet bench train --config dev/cuda/cfg-1.3b-fla.json \
    --device cuda --batch 8 --seq 2048 --steps 2 --warmup 1 >"$OUT/train-timing.log" 2>&1
  grep -A40 "CUDA step timing" "$OUT/train-timing.log" | tail -26
}

# decode_ab VAR "A B" BATCHES: the 1.3B decoding step (context 64, 48 steps after 4) with the
# environment variable VAR set to A, then B, alternated twice, at the batches BATCHES (e.g.
# 1,8,64), into $OUT/decode-ab.jsonl; then a line per batch: both settings' ms and A/B of the
# fastest runs
decode_ab() {
  local var=$1 a=${2% *} b=${2#* } batches=$3 i v
  for i in 1 2; do
    for v in "$a" "$b"; do
      env "$var=$v" timeout 90 build-cuda/retnet bench decode --config dev/cuda/cfg-1.3b-fla.json \
        --device cuda --batch "$batches" --context 64 --steps 48 --warmup 4 --json 2>/dev/null |
        sed "s/^{/{\"ab\": \"$v\", /" >>"$OUT/decode-ab.jsonl"
    done
  done
  python3 - "$OUT/decode-ab.jsonl" "$var" "$a" "$b" <<'PY'
import json, sys
path, var, a, b = sys.argv[1:]
rows = {}
for l in open(path):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("bench") != "decode": continue
    if "ms_per_step" in r: rows.setdefault((r["batch"], r["ab"]), []).append(r["ms_per_step"])
    else: print(f"{var}={r['ab']}: {r.get('refused', 'no time')}")
print(f"batch  {var}={a} ms (runs)  {var}={b} ms (runs)  {a}/{b}")
for n in sorted({k[0] for k in rows}):
    x, y = rows.get((n, a), []), rows.get((n, b), [])
    if x and y: print(f"{n:5d}  {x}  {y}  {min(x) / min(y):.3f}")
PY
}

# decode_tests: the CUDA tests of the decoding path (gemv, model, retention, ops, and
# test_cuda_train's argmax, batch and graphs) into $OUT/tests.log, a line each, then the
# failures
decode_tests() {
  TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
    build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops
  train_decode_tests
  grep FAIL "$OUT/tests.log" | head
}

# train_decode_tests: test_cuda_train's decoding tests (argmax, two batches interleaved,
# batch, graphs, graphs after training) into $OUT/tests.log, a line
train_decode_tests() {
  local rc
  timeout 150 build-cuda/cuda/tests/test_cuda_train test_argmax test_batches_interleaved test_batch \
    test_graphs test_graphs_after_train >>"$OUT/tests.log" 2>&1
  rc=$?
  echo "test_cuda_train (argmax, batches interleaved, batch, graphs, after training): exit $rc: $(tail -n 1 "$OUT/tests.log")"
}

# record_all DEADLINE: every CUDA target and test, then the decoding record (decode_record)
# and the paper preset's (preset_record) if more than 30 s are left before DEADLINE s
record_all() {
  JOBS=16 cuda_build
  TEST_TIMEOUT=150 cuda_tests
  decode_record
  local left=$(($1 - SECONDS))
  echo "preset with ${left} s left"
  [ "$left" -gt 30 ] && preset_record "$left"
}

# decode_run NAME BINARY BATCHES [VAR=VALUE...]: the 1.3B decoding step of BINARY (context 64,
# 48 steps after 4) with that environment, a JSON line per batch tagged "v": NAME into
# $OUT/decode.jsonl; for builds side by side (decode_ab compares two settings of one build).
# The model: $DECODE_MODEL (default the fla shape; "--preset 1.3b" the paper's); $DECODE_ARGS: more arguments (e.g. "--queue 1")
decode_run() {
  local name=$1 bin=$2 bs=$3; shift 3
  env "$@" timeout 100 "$bin" bench decode ${DECODE_MODEL:---config dev/cuda/cfg-1.3b-fla.json} --device cuda \
    --batch "$bs" --context 64 --steps 48 --warmup 4 ${DECODE_ARGS:-} --json 2>/dev/null |
    sed "s/^{/{\"v\": \"$name\", /" >>"$OUT/decode.jsonl"
}

# pstep_tests: the CLI, test_cuda_model and test_cuda_train built; test_cuda_model and
# test_cuda_train's decoding tests run; the persistent step's lines of their log on stdout
pstep_tests() {
  JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
  TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_model
  train_decode_tests
  grep -hE "FAIL|persistent|skipped" "$OUT/tests.log" | head -20
}

# pstep_memcheck [TEST]: compute-sanitizer memcheck of test_cuda_model TEST (default
# test_persistent, the persistent decoding step), its log in $OUT/cs-memcheck.log, a summary on
# stdout
pstep_memcheck() {
  local cs
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
  timeout 150 "$cs" --tool memcheck --print-limit 20 build-cuda/cuda/tests/test_cuda_model "${1:-test_persistent}" \
    >"$OUT/cs-memcheck.log" 2>&1
  echo "memcheck: exit $?"; grep -E "ERROR SUMMARY|passed|Invalid" "$OUT/cs-memcheck.log" | head -10
}

# pstep_variant NAME SRC [NVCC FLAGS...]: the persistent step built from SRC (a changed copy of
# src/cuda/decode_persistent.cu, or that file with -D switches) into the CLI and
# test_cuda_model; test_persistent run (or the tests in $PSTEP_TESTS; $OUT/test-NAME.log, a line
# with its exit status), the CLI kept as build/retnet-NAME. pstep_restore: the tree's own step
# again
pstep_variant() {
  local name=$1 src=$2; shift 2
  nvcc -O3 -lineinfo -std=c++17 ${CUDA_GENCODE:-} -Xcompiler -Wall,-Wno-unused-parameter -Iinclude -Isrc \
    "$@" -c "$src" -o build-cuda/src/cuda/decode_persistent.o &&
    make CUDA=1 build-cuda/retnet build-cuda/cuda/tests/test_cuda_model >>"$OUT/build.log" 2>&1
  echo "$name build: exit $?"
  timeout 150 build-cuda/cuda/tests/test_cuda_model ${PSTEP_TESTS:-test_persistent} >"$OUT/test-$name.log" 2>&1
  echo "$name ${PSTEP_TESTS:-test_persistent}: exit $?: $(tail -n 1 "$OUT/test-$name.log")"
  grep -E "FAIL|persistent: 20 steps, logits|against the chain, logits" "$OUT/test-$name.log" | head -4
  mkdir -p build && cp build-cuda/retnet "build/retnet-$name"
}
# pstep_ab ROUNDS BASE NAME=FLAGS...: the CLI and test_cuda_model built, the persistent step as
# it is kept as build/retnet-e0 (timed as BASE; with PSTEP_AB_CHAIN=1 the kernel chain too) and
# with each NAME's nvcc FLAGS (pstep_variant: its test_persistent first); then ROUNDS rounds of
# them all alternated (decode_run, B = 1), the means by decode_table
pstep_ab() {
  local rounds=$1 base=$2 v i; shift 2
  JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
  mkdir -p build && cp build-cuda/retnet build/retnet-e0
  for v in "$@"; do pstep_variant "${v%%=*}" src/cuda/decode_persistent.cu ${v#*=}; done
  pstep_restore
  for ((i = 0; i < rounds; i++)); do
    [ "${PSTEP_AB_CHAIN:-0}" = 1 ] && decode_run chain build/retnet-e0 1 RETNET_CUDA_PERSISTENT=0
    decode_run "$base" build/retnet-e0 1
    for v in "$@"; do decode_run "${v%%=*}" "build/retnet-${v%%=*}" 1; done
  done
  decode_table ms_per_step_mean
}
pstep_restore() {
  touch src/cuda/decode_persistent.cu
  make CUDA=1 build-cuda/retnet build-cuda/cuda/tests/test_cuda_model >>"$OUT/build.log" 2>&1
}

# trace_build: build/trace_inject.so, CUPTI's kernel records for an unmodified binary
# (dev/cuda/trace_inject.c, injected by CUDA_INJECTION64_PATH)
trace_build() {
  local so h
  so=$(find /usr/local/cuda*/ -name 'libcupti.so' 2>/dev/null | head -1)
  h=$(find /usr/local/cuda*/ -name 'cupti.h' 2>/dev/null | head -1)
  mkdir -p build
  gcc -O2 -shared -fPIC -I"$(dirname "$h")" -I/usr/local/cuda/include dev/cuda/trace_inject.c \
    -L"$(dirname "$so")" -Wl,-rpath,"$(dirname "$so")" -lcupti -o build/trace_inject.so
  echo "inject build: exit $? (cupti: $so)"
}

# decode_trace NAME BATCH [VAR=VALUE...]: the decoding step of build-cuda/retnet ($DECODE_MODEL,
# as decode_run; context 64, 6 steps after 2) traced (trace_build first) into
# $OUT/trace_NAME.csv; trace_steps.py's reading of the last three steps into
# $OUT/steps_NAME.txt, its summary and the first $ROWS (16) kernels of the last step printed
decode_trace() {
  local name=$1 b=$2 rows=${ROWS:-16}; shift 2
  env "$@" CUDA_INJECTION64_PATH=$PWD/build/trace_inject.so TRACE_OUT=$OUT/trace_$name.csv \
    timeout 120 build-cuda/retnet bench decode ${DECODE_MODEL:---config dev/cuda/cfg-1.3b-fla.json} \
    --device cuda --batch "$b" --context 64 --steps 6 --warmup 2 ${DECODE_ARGS:-} >/dev/null 2>&1
  python3 dev/cuda/trace_steps.py "$OUT/trace_$name.csv" 3 "$rows" >"$OUT/steps_$name.txt"
  echo "== $name"; sed -n '/^over/,$p' "$OUT/steps_$name.txt"; sed -n "1,$((rows + 2))p" "$OUT/steps_$name.txt"
}

# decode_table [FIELD]: $OUT/decode.jsonl by batch and variant, each run's ms a step (FIELD,
# default ms_per_step, the median; ms_per_step_mean for the mean) and the fastest
decode_table() {
  python3 - "$OUT/decode.jsonl" "${1:-ms_per_step}" <<'PY'
import json, sys, collections
t = collections.defaultdict(list)
f = sys.argv[2]
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if f in r: t[(r['v'], r['batch'])].append(r[f])
print('variant    batch  ms/step (runs)           best')
for (v, b), x in sorted(t.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f'{v:9s} {b:5d}  {" ".join(f"{y:.3f}" for y in x):24s} {min(x):.3f}')
PY
}

# decode_runs [MIN_BATCH]: each run of $OUT/decode.jsonl (decode_run's) on a line: variant,
# batch, the median, mean, min and max of its steps (ms) and its state bytes a sequence, for
# batches of MIN_BATCH (default 1) up
decode_runs() {
  python3 - "$OUT/decode.jsonl" "${1:-1}" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if 'ms_per_step' in r and r['batch'] >= int(sys.argv[2]):
        print(r['v'], r['batch'], 'median', r['ms_per_step'], 'mean', r.get('ms_per_step_mean'), 'min',
              r['ms_per_step_min'], 'max', r['ms_per_step_max'], 'state B/seq', r.get('state_bytes_per_seq'))
PY
}

# preset_record SECONDS: the paper's `1.3b` preset decoding at the issue's batches and contexts
# into $OUT/preset-1.3b-h200.jsonl (bench/gpu/'s record), at most SECONDS; a line per run
preset_record() {
  timeout "$1" build-cuda/retnet bench decode --preset 1.3b --device cuda --batch 1,8,64,256 \
    --context 2048,8192,32768 --json 2>"$OUT/preset.err" >"$OUT/preset-1.3b-h200.jsonl"
  echo "preset decode: exit $?"
  python3 - "$OUT/preset-1.3b-h200.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("bench") == "decode":
        print(r["context"], r["batch"], r.get("ms_per_step"), r.get("ms_per_step_mean"), r.get("of_bound"), r.get("refused", ""))
PY
}

# lab_libs_ab: the kernel lab's library of this tree (build/ret-cuda) and of an earlier
# retention.cu (build/ret-base-src: its retention.cu, pdl.cuh, mma.cuh (from the ninth
# session on), mbar.cuh (from the fourteenth) and retention.h from `git show`, carried) into build/ret-base, sm_90a only,
# built side by side in the background: `wait $LPID` before using $N (this tree's) and $B
# (the base's)
lab_libs_ab() {
  local g="-gencode arch=compute_90a,code=sm_90a"
  ( GENCODE="$g" SRC=build/ret-base-src/retention.cu dev/cuda/build.sh build/ret-base \
      >"$OUT/retlib-base.log" 2>&1 &
    GENCODE="$g" dev/cuda/build.sh build/ret-cuda >"$OUT/retlib.log" 2>&1; wait ) &
  LPID=$!
  N=build/ret-cuda/libretention_cuda.so B=build/ret-base/libretention_cuda.so
}

# lab_checks LIB: retention_lab.py's float64 checks of LIB (--no-time) into $OUT/lab.log; a
# line with the counts, then the failures
lab_checks() {
  RETNET_CUDA_LIB=$1 timeout 200 python3 dev/cuda/retention_lab.py --no-time >"$OUT/lab.log" 2>&1
  echo "lab checks: exit $? at $((SECONDS - t0)) s: $(grep -c '^  ok' "$OUT/lab.log") ok, $(grep -c BAD "$OUT/lab.log") BAD"
  grep BAD "$OUT/lab.log" | head
}

# lab_ab_checks: after lab_libs_ab, wait for both libraries and run the float64 checks of
# this tree's ($N)
lab_ab_checks() {
  wait $LPID
  lab_checks $N
}

# fwd_ab NAME=LIB[:TILE[:FLAGS[:PATH]]]...: fwd_ab.py, forward and backward, against
# chunk_retention (fla from build/fla-src), into $OUT/fwd-ab.txt and stdout
fwd_ab() {
  FWD_AB_BWD=1 PYTHONPATH=build/fla-src timeout 240 python3 dev/cuda/fwd_ab.py "$@" 2>&1 |
    grep -v Warn | tee "$OUT/fwd-ab.txt"
}

# gemv_ab_start: this tree (with the lab's library) and build/base.tar built side by side, the
# lab's float64 checks and every CUDA test, then test_cuda_gemv --bench of both into
# $OUT/gemv-new.txt and $OUT/gemv-base.txt
gemv_ab_start() {
  cuda_build_base build-cuda/cuda/tests/test_cuda_gemv
  cuda_build_lab
  lab_checks $RETNET_CUDA_LIB
  TEST_TIMEOUT=150 cuda_tests
  wait $BPID
  build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-new.txt" 2>&1
  /tmp/base/build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-base.txt" 2>&1
}

# probe_copy DIR [FMA_WARPS]: the tracked tree copied into DIR with the timing-only probes of
# the decoding chain (wrong results; never committed), each off unless its variable is set at
# run time: GEMV_PROBE_K8=n (the gemv reads only the first n 16-byte columns of each weight
# row), PROBE_NONORM (the model norms skipped), PROBE_NOHN (the head norm and gate skipped);
# FMA_WARPS, if given, the gemv FMA kernel's warps a block. Build it with `make -C DIR`.
probe_copy() {
  local d=$1
  rm -rf "$d" && mkdir -p "$d" && git ls-files -z | xargs -0 cp --parents -t "$d"
  python3 - "$d" "${2:-}" <<'PY'
import sys
d, warps = sys.argv[1:]
def patch(p, old, new):
    s = open(d + p).read(); assert old in s, (p, old); open(d + p, 'w').write(s.replace(old, new, 1))
patch('/src/cuda/gemv.cu', '    TRY(cuda_ensure_init());\n',
      '    TRY(cuda_ensure_init()); if (getenv("GEMV_PROBE_K8")) { const int64_t p = atoll(getenv("GEMV_PROBE_K8")); if (a->K8 > p) a->K8 = p; }\n')
patch('/src/cuda/model_cuda.cu', 'const float *w, const float *b, int64_t n, cuda_stream cs = NULL) {\n',
      'const float *w, const float *b, int64_t n, cuda_stream cs = NULL) {\n    if (getenv("PROBE_NONORM")) return RETNET_OK;\n')
patch('/src/cuda/norm.cu', 'int dv, float eps, int mode, cuda_stream s) {\n',
      'int dv, float eps, int mode, cuda_stream s) {\n    if (getenv("PROBE_NOHN")) return RETNET_OK;\n')
if warps: patch('/src/cuda/gemv.cu', '#define FMA_WARPS 4 ', '#define FMA_WARPS %s ' % warps)
PY
}

# ncu_summary FILE: one line per kernel of an `ncu --print-summary per-kernel` log (name,
# invocations, then the metrics' min / max / mean as ncu printed them)
ncu_summary() {
  python3 - "$1" <<'PY'
import re, sys
txt = open(sys.argv[1]).read()
blocks = re.split(r"\n  (?=\S[^\n]*\(\d+, \d+, \d+\)x\(\d+, \d+, \d+\))", txt)
for b in blocks[1:]:
    name = b.split("\n", 1)[0][:110]
    inv = re.search(r"Invocations\s*:?\s*(\d+)", b) or re.search(r"(\d+)\s+invocations", b)
    ms = [(m, re.search(m + r"\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", b))
          for m in ("gpu__time_duration.sum", "dram__bytes_read.sum", "dram__bytes_write.sum")]
    print(name, "|", inv.group(1) if inv else "?",
          *("| " + " ".join(x.groups()) for m, x in ms if x))
PY
}

# ncu_kernels CSV TITLE [TOP]: an `ncu --csv --metrics gpu__time_duration.sum` log summed by
# kernel name (templates cut at 60 characters), the TOP (default 18) largest, in ms and us
ncu_kernels() {
  python3 - "$1" "$2" "${3:-18}" <<'PY'
import csv, sys, collections, re
lines = [l for l in open(sys.argv[1]) if l.startswith('"')]
t = collections.defaultdict(float); n = collections.Counter()
for r in csv.DictReader(lines):
    if r.get('Metric Name') != 'gpu__time_duration.sum': continue
    name = r['Kernel Name']
    name = re.sub(r'\(.*$', '', name) if '<' not in name else name[:name.find('<')] + '<' + name[name.find('<')+1:][:60]
    v = float(r['Metric Value'].replace(',', ''))
    u = r['Metric Unit']
    v = v / 1e3 if u in ('ns', 'nsecond') else v * 1e3 if u in ('ms', 'msecond') else v  # -> us
    t[name] += v; n[name] += 1
tot = sum(t.values())
print(f"{sys.argv[2]}: {sum(n.values())} kernels, {tot/1e3:.2f} ms in all")
for k, v in sorted(t.items(), key=lambda kv: -kv[1])[:int(sys.argv[3])]:
    print(f"  {100*v/tot:5.1f}%  {v/1e3:8.2f} ms  {n[k]:5d} x {v/n[k]:8.1f} us  {k[:100]}")
PY
}

# gemm_lab M...: dev/cuda/gemm_lab.cu built for sm_90a into build/gemm_lab (its log in $OUT),
# then run at each M given (next156-161 copied these lines; next162 on)
gemm_lab() {
  mkdir -p build
  nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/gemm_lab dev/cuda/gemm_lab.cu \
    -lcublasLt >"$OUT/gemm_build.log" 2>&1
  echo "build: exit $? at $((SECONDS - t0)) s"; grep -E "error" "$OUT/gemm_build.log" | head -5
  local m
  for m in "$@"; do timeout 150 build/gemm_lab "$m"; echo "exit $?"; done
}

# ring_lab_runs VAR=value...: ring_lab.cu built for sm_90a, then its mode-6 settings chosen by the
# given variables (RING_TC, RING_TCD, RING_XM, RING_B8, ...; RING_ONLY6 and RING_PATTERN always)
# run twice; the table's rows, checks and meeting lines to $OUT/ring_lab.txt
ring_lab_runs() {
  nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu || return 1
  local i
  for i in 1 2; do
    echo "== run $i"
    env RING_ONLY6=1 RING_PATTERN=1 "$@" timeout 150 /tmp/ring_lab | grep -E "^\| [0-9]|check:|plain|drain [-0-9]+:"
  done | tee "$OUT/ring_lab.txt"
}

# lab_mutants FILE MAIN NVCC_CMD SED_EXPR...: for each sed expression, a copy of dev/cuda with
# that expression applied to FILE (a lab source or one of its headers), and MAIN (a .cu there)
# built from the copy as /tmp/<MAIN's name>_mut1, _mut2, ... with NVCC_CMD; an expression that
# changes nothing is an error
lab_mutants() {
  local file=$1 main=$2 nv=$3 i=0 e d
  shift 3
  for e in "$@"; do
    i=$((i + 1))
    d=/tmp/lab_mut$i
    rm -rf "$d" && mkdir -p "$d" && cp dev/cuda/*.cu dev/cuda/*.cuh "$d"/
    sed -i "$e" "$d/$(basename "$file")"
    cmp -s "$file" "$d/$(basename "$file")" && { echo "mutant $i changes nothing"; return 1; }
    $nv -I"$PWD/dev/cuda" -o "/tmp/$(basename "$main" .cu)_mut$i" "$d/$(basename "$main")" || return 1
  done
}

# mega_build: mega_lab.cu built as /tmp/mega_lab, and its two mutants (the rotation's sign; the
# decay left out) as /tmp/mega_lab_mut1, _mut2; $NV is the command
mega_build() {
  NV="nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xcompiler -fopenmp -lgomp"
  $NV -o /tmp/mega_lab dev/cuda/mega_lab.cu || return 1
  lab_mutants dev/cuda/mega_lab.cu dev/cuda/mega_lab.cu "$NV" \
    's/qr\[tid\] = q0 \* c - q1 \* sn/qr[tid] = q0 * c + q1 * sn/' \
    's/const float sv = gamma \* sreg\[j\]/const float sv = sreg[j]/'
}

# split_lab_build: the library and CLI (make CUDA=1), then build/split_lab linked against it
split_lab_build() {
  JOBS=16 cuda_build build-cuda/libretnet.a build-cuda/retnet
  mkdir -p build
  local L
  L=$(make -s CUDA=1 --eval='print-ldlibs: ; @echo $(LDLIBS)' print-ldlibs)
  gcc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -Iinclude dev/cuda/split_lab.c build-cuda/libretnet.a \
    $L -lpthread -o build/split_lab && echo "lab build: ok"
}

# split_table FILE...: split_lab's JSON lines, a line per file, batch and split: its runs' ms a
# step and the best against the same file's S = 1
split_table() {
  python3 - "$@" <<'PY'
import json, sys, os, collections
for f in sys.argv[1:]:
    r = collections.defaultdict(list)
    for l in open(f):
        try: j = json.loads(l)
        except Exception: continue
        r[(j['B'], j['S'])].append(j['ms_per_step'])
    name = os.path.basename(f)[:-6]
    for (b, s), v in sorted(r.items()):
        base = min(r.get((b, 1), [float('nan')]))
        print(f"{name:13s} B {b:4d} S {s}: " + " ".join(f"{x:.3f}" for x in v) + f"   best/S1 {min(v)/base:.3f}")
PY
}
