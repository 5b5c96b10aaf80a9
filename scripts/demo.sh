#!/usr/bin/env bash
# make demo: the README's first command. Makes the `small` preset with the official
# initialisation, describes it, and shows that the three forms of retention compute the
# same logits and final state, and how fast each is on this machine.
set -eu
cd "$(dirname "$0")/.."
mkdir -p models
echo "== retnet init --preset small --out models/small.safetensors"
build/retnet init --preset small --out models/small.safetensors --seed 1
echo
echo "== retnet info models/small.safetensors"
build/retnet info models/small.safetensors
echo
echo "== retnet forms --model models/small.safetensors --tokens 2048"
build/retnet forms --model models/small.safetensors --tokens 2048
