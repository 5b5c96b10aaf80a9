#!/usr/bin/env bash
# Forty-fourth session: compute-sanitizer's initcheck (reads of device memory never written)
# over whole CUDA test binaries: next329.sh with the other tool. Run as
# `MC_TIMEOUT=120 next331.sh model retention gemv ops attention` (logs $OUT/initcheck-*.log).
TOOL=initcheck TOOL_FLAGS="--report-api-errors no --print-limit 10" \
  exec bash "$(dirname "$0")/next329.sh" "$@"
