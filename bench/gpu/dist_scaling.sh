#!/usr/bin/env bash
# bench/gpu/dist_scaling.sh: data-parallel training throughput on 1, 2, 4 and 8 GPUs of one
# machine (issue 8), and the scaling efficiency, for the `1.3b` preset (the paper's variant,
# 1,414,209,536 parameters) with the section-3 normalisations off: the GPU path does not
# compute them, everything else is the preset's. Fixed per-GPU batch (weak scaling): each GPU
# takes BATCH windows of SEQ tokens per step, so G GPUs take G x BATCH x SEQ tokens a step.
#
# For each G (those above the machine's GPU count are skipped), this script is the launcher:
# it starts G copies of build-cuda/bench/bench_dist with RETNET_RANK, RETNET_WORLD_SIZE,
# RETNET_LOCAL_RANK and RETNET_DIST_ID_FILE set (the variables `retnet train --gpus` and
# torchrun-style launchers set; rank 0 writes the id file, the others wait for it), waits, and
# stops the others if one fails. Each rank: WARMUP steps, then STEPS timed steps of zero_grad,
# accumulate (gradients averaged by NCCL during the backward), the loss summed over the ranks,
# grad_norm, update (ZeRO-1: moments sharded, weights all-gathered); see bench/bench_dist.c.
#
#   efficiency(G) = tokens/s(G) / (G x tokens/s(1))
#
# The reference: one GPU with the plain trainer (no NCCL, no sharding; `retnet bench train`,
# the same config, batch and steps), so that the 1-GPU row shows what the distributed path
# costs by itself.
#
# usage: bench/gpu/dist_scaling.sh [--no-build] [--no-ref] [--gpus "1 2 4 8"]
# Writes into $OUT (the run tool's output folder) or else bench/gpu/: dist-scaling-<gpu>.md
# (the table, with date, commit, GPU), dist-scaling-<gpu>.jsonl (one line per G) and
# dist-scaling.log (every rank's stderr). Environment: BATCH (8), SEQ (2048), STEPS (10),
# WARMUP (3), BENCH (the binary), RETNET_DIST_TIMEOUT (seconds, default here 120).
# NVLink multicast stays off: NCCL_NVLS_ENABLE=0 for every rank.
# Durations on an H200: the build ~1 min (sm_90a only: CUDA_GENCODE below); per G, ~15 s to
# make and initialise the 1.4B model on the host, then ~0.5 s a step.
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=1 REF=1
GPUS_LIST="1 2 4 8"
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0; shift ;;
        --no-ref) REF=0; shift ;;
        --gpus) GPUS_LIST=${2:?--gpus needs a list, e.g. \"1 2\"}; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "dist_scaling.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done

DEST=${OUT:-bench/gpu}
BENCH=${BENCH:-build-cuda/bench/bench_dist}
RETNET=${RETNET:-build-cuda/retnet}
BATCH=${BATCH:-8} SEQ=${SEQ:-2048} STEPS=${STEPS:-10} WARMUP=${WARMUP:-3}
export NCCL_NVLS_ENABLE=0
export RETNET_DIST_TIMEOUT=${RETNET_DIST_TIMEOUT:-120}
WORK=$(mktemp -d /tmp/retnet-dist-XXXXXX)
LOG=$DEST/dist-scaling.log
mkdir -p "$DEST"
: >"$LOG"

if [ "$BUILD" = 1 ]; then
    echo "== build ($BENCH)" | tee -a "$LOG"
    make CUDA=1 -j"$(nproc)" CUDA_GENCODE="${CUDA_GENCODE:--gencode arch=compute_90a,code=sm_90a}" \
        "$BENCH" "$RETNET" >>"$LOG" 2>&1 || { echo "build failed: see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
fi
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
TAG=$(echo "${GPU_NAME:-gpu}" | awk '{print tolower($NF)}')
JSONL=$DEST/dist-scaling-$TAG.jsonl
MD=$DEST/dist-scaling-$TAG.md
: >"$JSONL"

cat >"$WORK/1.3b.json" <<'EOF'
{"arch": "retnet", "vocab": 50257, "d_model": 2048, "n_layer": 24, "n_head": 8, "d_key": 2048, "d_value": 4096, "d_ffn": 4096, "norm": "layernorm", "head_norm": "groupnorm", "head_norm_affine": true, "ffn": "gelu", "ffn_act": "gelu", "rope": "paper", "rope_base": 10000, "decay": "pow2", "normalize": false, "eps": 1e-06, "tie_embeddings": false, "embed_scale": false, "chunk": 256, "gate": true, "context": 2048}
EOF

# G ranks of bench_dist; rank 0's JSON line into $JSONL. A rank that fails stops the others.
run_g() {
    local G=$1 idf="$WORK/id-$1" pids=() r rc=0
    rm -f "$idf"
    for ((r = 0; r < G; r++)); do
        RETNET_RANK=$r RETNET_WORLD_SIZE=$G RETNET_LOCAL_RANK=$r RETNET_DIST_ID_FILE=$idf \
            "$BENCH" --config "$WORK/1.3b.json" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" \
            --warmup "$WARMUP" >"$WORK/out-$G-$r" 2>"$WORK/err-$G-$r" &
        pids+=($!)
    done
    for ((r = 0; r < G; r++)); do
        if ! wait -n; then
            rc=1
            kill "${pids[@]}" 2>/dev/null
        fi
    done
    wait 2>/dev/null
    for ((r = 0; r < G; r++)); do sed "s/^/[G=$G rank $r] /" "$WORK/err-$G-$r" >>"$LOG"; done
    if [ $rc -ne 0 ] || ! grep -q '"dist_train"' "$WORK/out-$G-0"; then
        echo "G=$G: failed (see $LOG)" | tee -a "$LOG"
        return 1
    fi
    cat "$WORK/out-$G-0" >>"$JSONL"
    echo "G=$G: $(cat "$WORK/out-$G-0")" | tee -a "$LOG"
}

REF_LINE=
if [ "$REF" = 1 ]; then
    echo "== reference: $RETNET bench train (plain trainer, one GPU)" | tee -a "$LOG"
    "$RETNET" bench train --config "$WORK/1.3b.json" --device cuda --batch "$BATCH" --seq "$SEQ" \
        --steps "$STEPS" --warmup "$WARMUP" --json >"$WORK/ref" 2>>"$LOG"
    REF_LINE=$(grep '"bench": "train"' "$WORK/ref" | grep '"tokens_per_s"' | tail -1)
    echo "reference: ${REF_LINE:-failed (see $LOG)}" | tee -a "$LOG"
    [ -n "$REF_LINE" ] && echo "$REF_LINE" >>"$JSONL"
fi

for G in $GPUS_LIST; do
    if [ "$G" -gt "$NGPU" ]; then
        echo "G=$G: skipped (this machine has $NGPU GPU$( [ "$NGPU" = 1 ] || echo s))" | tee -a "$LOG"
        continue
    fi
    run_g "$G"
done

# the table
{
    echo "# Data-parallel training: scaling on $GPU_NAME"
    echo
    echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
         "plus the working tree; bench/gpu/dist_scaling.sh (bench/bench_dist.c), $NGPU GPU(s) on" \
         "the machine. Model: the \`1.3b\` preset with normalize off (1,414,209,536" \
         "parameters), chunkwise form; per GPU $BATCH windows of $SEQ tokens per step; $WARMUP" \
         "warm-up steps, then the median of $STEPS timed steps (min-max beside it)." \
         "Gradients averaged by NCCL in buckets during the backward, AdamW moments sharded" \
         "(ZeRO-1), NVLink multicast off. Efficiency = tokens/s over G x the 1-GPU tokens/s."
    echo
    echo "| GPUs | tokens/step | ms/step (median, min-max) | tokens/s | tokens/s per GPU | efficiency | loss first -> last |"
    echo "|---:|---:|---|---:|---:|---:|---|"
    grep '"dist_train"' "$JSONL" | awk -F'[:,}]' '
        { for (i = 1; i < NF; i++) { gsub(/[ "{]/, "", $i); k[$i] = i } }
        {
            g = $(k["gpus"] + 1) + 0; tps = $(k["tokens_per_s"] + 1) + 0
            if (g == 1) base = tps
            eff = base > 0 ? sprintf("%.1f%%", 100 * tps / (g * base)) : "-"
            printf "| %d | %d | %.1f (%.1f-%.1f) | %.0f | %.0f | %s | %.3f -> %.3f |\n", g,
                   $(k["tokens_per_step"] + 1), $(k["ms_median"] + 1), $(k["ms_min"] + 1),
                   $(k["ms_max"] + 1), tps, tps / g, eff, $(k["loss_first"] + 1), $(k["loss_last"] + 1)
            delete k
        }'
    for G in $GPUS_LIST; do
        [ "$G" -gt "$NGPU" ] && echo "| $G | - | not run: the machine has $NGPU GPU(s) | | | | |"
    done
    if [ -n "$REF_LINE" ]; then
        tps=$(echo "$REF_LINE" | grep -o '"tokens_per_s": [0-9.]*' | grep -o '[0-9.]*$')
        ms=$(echo "$REF_LINE" | grep -o '"ms_per_step": [0-9.]*' | grep -o '[0-9.]*$')
        echo
        echo "Reference, one GPU with the plain trainer (no NCCL, whole moments; \`retnet bench" \
             "train\`, the same config, batch and steps): $ms ms/step, $tps tokens/s."
    fi
} >"$MD"
cat "$MD"
rm -rf "$WORK"
