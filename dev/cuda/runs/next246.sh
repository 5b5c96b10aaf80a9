#!/usr/bin/env bash
# Prepared in the thirty-third session (not run; its GPU time was spent): next240.sh again, on
# the tree with the OQ kernel (fp32 O at KC 256, next245): every CUDA test, then the 1.3B
# training step a b a b against the tree before it. Carry build/base.tar made by
# `git archive ffbec20` (and build/fla-src).
exec bash "$(dirname "$0")/next240.sh"
