#!/usr/bin/env node
// make_golden_hf.js: the golden ids that tests/test_tokenizer_hf.c checks src/tokenizer_hf.c
// against, made with Hugging Face's tokenizers (the Rust library, through its official node
// binding, npm "tokenizers"; it ships its compiled binaries, so it needs no network when run).
// Run from the repository root after scripts/get-hf-tokenizers.sh; the committed fixtures need
// neither node nor network. To remake them:
//   npm install --prefix /tmp/golden tokenizers@0.23.2      (or: cd tests/tokenizer && npm ci)
//   scripts/get-hf-tokenizers.sh
//   NODE_PATH=/tmp/golden/node_modules node tests/tokenizer/make_golden_hf.js
// Writes, in tests/fixtures/tokenizer_hf/:
//   golden_text.txt          the test text: the cases one after another (UTF-8)
//   llama_small.json         two small tokenizers made here from the real ones (the first 1500
//   gpt2_small.json          merges), committed so that some golden tests run without npm;
//                            llama_small adds a non-special added token "<|user|>" and a special
//                            "<|im_end|>" beyond the vocabulary; gpt2_small sets ignore_merges
//   NAME.golden              per tokenizer, lines of
//     encode OFF LEN ids...  the ids of golden_text[OFF, OFF+LEN) encoded on its own, special
//                            tokens' text being ordinary text (the reference is given the file
//                            without its special added tokens)
//     special OFF LEN ids... the same with specials matched (the reference's default), for the
//                            cases where that differs
//     decode SKIP HEX ids... the reference's decode of the ids (SKIP: skip_special_tokens),
//                            as hex ("-": empty); random ids, kept when the text is valid UTF-8
//     corpus OFF LEN COUNT FNV  tinyshakespeare.txt cut into 16 pieces at line starts, each
//                            encoded on its own: its id count and the FNV-1a 64 hash of the
//                            ids as 4-byte little-endian words
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { Tokenizer } = require('tokenizers');

const FIX = 'tests/fixtures/tokenizer_hf';
const HF = process.env.RETNET_HF_DIR || 'data/hf';
const SHAKESPEARE = process.argv[2] || '../shared/data/tinyshakespeare.txt';
fs.mkdirSync(FIX, { recursive: true });

const excerpt = fs.readFileSync(SHAKESPEARE).subarray(0, 2000).toString('utf8');
const cases = [
  excerpt,
  "Hello world",
  " Hello world",               // a leading space: Prepend gives "▁▁Hello", Metaspace does not
  "  two leading spaces and two trailing  ",
  "a  b   c    d     e",
  "I'm sure you're right; we've seen it, they'll say he'd come. It's John's, isn't it?",
  "I'M SURE YOU'RE RIGHT. DON'T! O'Neil's rock'n'roll",
  "123 4567890 3.14159 1,000,000 2023-11-28 0x1F 12abc abc12 007 1e-9 -42 +7 ½ ² ٣٤ 一二三 Ⅻ ①",
  "naïve café résumé Ångström Straße œuvre façade Ærø Łódź İstanbul cafe\u0301 n\u0303",
  "Καλημέρα κόσμε! Привет, мир! Բարեւ. გამარჯობა",
  "你好，世界。日本語のテキスト、カタカナ。한국어 텍스트입니다. ＡＢＣ１２３ 漢字かな交じり文 龘 鱻",
  "مرحبا بالعالم ١٢٣ שלום עולם नमस्ते दुनिया สวัสดีชาวโลก",
  "👍🏽 🇺🇸🇫🇷 👨‍👩‍👧 😀😀😀 ❤️ ✔︎ 🤖robot🤖 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀",
  "a\u00a0b\u3000c\u2003d \u00a0e\u2009f",
  "line1\nline2\n\n\nline3\r\nline4\n",
  "\tindented\t\ttabs \t mixed\n\t\n  \n",
  "x\u000by\u000cz\u0000nul\u0001\u001f\u007f end",
  "!!! ??? ... --- *** @#$% (parens) [brackets] {braces} <html><body>&amp;</body></html>",
  "def f(x):\n    return x**2  # square\n\n        deeply    indented\nint main(void) { return 0; }\n",
  "the \u2581 lower one eighth block is Llama's space: \u2581\u2581x \u2581",
  "<s> and </s> and <unk> are specials; <|endoftext|> too; <s></s><s> <bos> <|user|> hi <|im_end|>",
  "<s>starts with a special",
  "a".repeat(300) + " " + "1".repeat(200) + " " + " ".repeat(100) + "x" + "!".repeat(150),
  "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
  "x",
  " ",
  "",
];
const texts = cases.map(s => Buffer.from(s, 'utf8'));
const all = Buffer.concat(texts);
fs.writeFileSync(path.join(FIX, 'golden_text.txt'), all);

// ---- the two small tokenizers
const K = 1500;
function small(src, name, build) {
  const j = JSON.parse(fs.readFileSync(path.join(HF, src, 'tokenizer.json'), 'utf8'));
  const out = build(j);
  fs.writeFileSync(path.join(FIX, name), JSON.stringify(out));
  return path.join(FIX, name);
}
const pairOf = m => Array.isArray(m) ? m : [m.slice(0, m.indexOf(' ')), m.slice(m.indexOf(' ') + 1)];
const llamaSmall = small('llama', 'llama_small.json', j => {
  const merges = j.model.merges.slice(0, K).map(pairOf);
  const keep = new Set();
  for (const [tok, id] of Object.entries(j.model.vocab))
    if (id < 259 || [...tok].length === 1) keep.add(tok);
  for (const [a, b] of merges) { keep.add(a); keep.add(b); keep.add(a + b); }
  const toks = [...keep].sort((x, y) => j.model.vocab[x] - j.model.vocab[y]);
  const vocab = {};
  toks.forEach((t, i) => { vocab[t] = i; });
  j.model.vocab = vocab;
  j.model.merges = merges.map(p => p.join(' '));
  j.added_tokens.push({ id: toks.length, content: '<|user|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
  j.added_tokens.push({ id: toks.length + 1, content: '<|im_end|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return j;
});
const gpt2Small = small('gpt2', 'gpt2_small.json', j => {
  const vocab = {};
  for (const [tok, id] of Object.entries(j.model.vocab)) if (id < 256 + K) vocab[tok] = id;
  vocab['<|endoftext|>'] = 256 + K;
  j.model.vocab = vocab;
  j.model.merges = j.model.merges.slice(0, K);
  j.model.ignore_merges = true;
  j.added_tokens[0].id = 256 + K;
  return j;
});

// ---- goldens
function fnv(ids) {
  let h = 0xcbf29ce484222325n;
  for (const id of ids)
    for (let k = 0; k < 4; k++) {
      h ^= BigInt((id >>> (8 * k)) & 255);
      h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    }
  return h.toString(16).padStart(16, '0');
}
let seed = 12345;
const rand = n => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };

async function golden(name, file) {
  const json = fs.readFileSync(file, 'utf8');
  const withSpecials = Tokenizer.fromString(json);
  const j = JSON.parse(json);
  j.added_tokens = j.added_tokens.filter(a => !a.special);
  const ordinary = Tokenizer.fromString(JSON.stringify(j));
  const enc = async (t, s) => (await t.encode(s, null, { addSpecialTokens: false })).getIds();
  let out = `# ${name}: golden ids of tests/fixtures/tokenizer_hf/golden_text.txt, made by tests/tokenizer/make_golden_hf.js\n` +
            `# with Hugging Face tokenizers (npm tokenizers ${require('tokenizers/package.json').version}) from ` +
            `${path.basename(path.dirname(file)) === 'tokenizer_hf' ? file : name + '/tokenizer.json'} ` +
            `(sha256 ${crypto.createHash('sha256').update(json).digest('hex')}).\n`;
  let off = 0, nids = 0;
  const allIds = [];
  for (const t of texts) {
    const s = t.toString('utf8');
    const a = await enc(ordinary, s), b = await enc(withSpecials, s);
    out += ['encode', off, t.length].concat(a).join(' ') + '\n';
    if (a.join() !== b.join()) out += ['special', off, t.length].concat(b).join(' ') + '\n';
    nids += a.length;
    allIds.push(a);
    off += t.length;
  }
  // decodes: random ids (and the cases' ids), skipping specials or not
  const V = withSpecials.getVocabSize(true);
  let ndec = 0;
  for (let tries = 0; ndec < 60 && tries < 2000; tries++) {
    const n = 1 + rand(12), ids = [];
    for (let k = 0; k < n; k++) ids.push(rand(4) === 0 ? rand(4) : rand(V));
    const skip = rand(2);
    const s = await withSpecials.decode(ids, skip === 1);
    if (s.includes('\ufffd')) continue;
    out += ['decode', skip, s.length ? Buffer.from(s, 'utf8').toString('hex') : '-'].concat(ids).join(' ') + '\n';
    ndec++;
  }
  for (const ids of allIds.slice(0, 12)) {
    const s = await withSpecials.decode(ids, false);
    out += ['decode', 0, s.length ? Buffer.from(s, 'utf8').toString('hex') : '-'].concat(ids).join(' ') + '\n';
  }
  // tinyshakespeare in 16 pieces
  const ts = fs.readFileSync(SHAKESPEARE);
  let start = 0, ncorpus = 0;
  for (let p = 1; p <= 16; p++) {
    let end = p === 16 ? ts.length : Math.floor(ts.length * p / 16);
    while (end < ts.length && !(ts[end - 1] === 10 && ts[end] > 32 && ts[end] < 127)) end++;
    const ids = await enc(ordinary, ts.subarray(start, end).toString('utf8'));
    out += `corpus ${start} ${end - start} ${ids.length} ${fnv(ids)}\n`;
    ncorpus += ids.length;
    start = end;
  }
  fs.writeFileSync(path.join(FIX, name + '.golden'), out);
  console.log(`${name}: ${texts.length} cases (${nids} ids), ${ndec} random decodes, ${ncorpus} corpus ids`);
}

(async () => {
  await golden('llama_small', llamaSmall);
  await golden('gpt2_small', gpt2Small);
  for (const n of ['llama', 'llama-pairs', 'llama-metaspace', 'llama-metaspace-legacy', 'mistral', 'gpt2'])
    await golden(n, path.join(HF, n, 'tokenizer.json'));
})();
