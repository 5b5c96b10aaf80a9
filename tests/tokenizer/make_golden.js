#!/usr/bin/env node
// make_golden.js: the golden GPT-2 token ids that tests/test_tokenizer.c checks our GPT-2
// tokenizer against, from js-tiktoken (the JavaScript port of OpenAI's tiktoken, encoding
// "gpt2"). Writes
//   tests/fixtures/gpt2_golden_text.txt  the test text: cases one after another (UTF-8)
//   tests/fixtures/gpt2_golden.txt       per case: byte offset, byte length, then its ids
// Each case is encoded on its own (pre-tokens never span two cases); the last case is the
// whole text. Run from the repository root; the committed fixtures need neither node nor
// network. To remake them:
//   npm install --prefix /tmp/golden js-tiktoken@1.0.21   (or: cd tests/tokenizer && npm ci)
//   NODE_PATH=/tmp/golden/node_modules node tests/tokenizer/make_golden.js
// Avoided on purpose: U+0085 and U+FEFF (JavaScript's \s disagrees with the White_Space
// property that OpenAI's Python and Rust engines use; docs/TOKENIZER.md), and unpaired
// surrogates (not representable in UTF-8).
'use strict';
const fs = require('fs');
const { getEncoding } = require('js-tiktoken');

const shakespeare = process.argv[2] || '../shared/data/tinyshakespeare.txt';
const excerpt = fs.readFileSync(shakespeare).subarray(0, 3000).toString('utf8');

const cases = [
  excerpt,
  // contractions, upper case ones (not split by the regex), and quotes
  "I'm sure you're right; we've seen it, they'll say he'd come. It's John's, isn't it? 'Tis so.",
  "I'M SURE YOU'RE RIGHT. DON'T! O'Neil's rock'n'roll ''quoted'' 'single' l'amour 's 't 're",
  // numbers
  "123 4567890 3.14159 1,000,000 2023-11-28 0x1F 12abc abc12 007 1e-9 -42 +7 ½ ² ³ ٣٤ 一二三 Ⅻ ①",
  // Latin with accents, precomposed and decomposed (combining marks are not letters)
  "naïve café résumé Ångström Straße œuvre façade Ærø Łódź İstanbul cafe\u0301 n\u0303",
  // Greek, Cyrillic, Armenian, Georgian
  "Καλημέρα κόσμε! Ἀρχιμήδης. Привет, мир! Ёжик в тумане. Բարեւ. გამარჯობა",
  // CJK, Hangul, kana, fullwidth
  "你好，世界。日本語のテキスト、カタカナ。한국어 텍스트입니다. ＡＢＣ１２３ 漢字かな交じり文",
  // other scripts with marks: Arabic, Hebrew, Devanagari, Thai
  "مرحبا بالعالم ١٢٣ שלום עולם नमस्ते दुनिया สวัสดีชาวโลก",
  // emoji, modifiers, ZWJ sequences, flags, variation selectors
  "👍🏽 🇺🇸🇫🇷 👨‍👩‍👧 😀😀😀 ❤️ ✔︎ 🤖robot🤖",
  // spaces: runs, leading, trailing, unicode spaces (NBSP, em space, ideographic)
  "a  b   c    d     e",
  "   start and end   ",
  "a\u00a0b\u3000c\u2003d \u00a0e\u2009f",
  // newlines, CRLF, tabs, vertical tab and form feed
  "line1\nline2\n\n\nline3\r\nline4\n",
  "\tindented\t\ttabs \t mixed\n\t\n  \n",
  "x\u000by\u000cz\n\n  \n\n",
  // punctuation and symbols
  "!!! ??? ... --- *** @#$% (parens) [brackets] {braces} <html><body>&amp;</body></html>",
  "∑ x² ≤ ∞ → ∀ε>0 ∃δ; €100 £50 ¥1000 $5.99 § ¶ © ® ™ ° ± × ÷",
  // zero-width and format characters (not White_Space: "other")
  "a\u200bb\u200cc\u200dd soft\u00adhyphen \u2060word",
  // code
  "def f(x):\n    return x**2  # square\n\nint main(void) { return 0; }\n",
  // the special token's text is ordinary text to encode()
  "<|endoftext|> and <bos> are just text here",
  // long runs (the O(n log n) merge path)
  'a'.repeat(300) + ' ' + '1'.repeat(200) + ' ' + ' '.repeat(100) + 'x' + '!'.repeat(150),
  "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
  // the empty case
  "",
];

const enc = getEncoding('gpt2');
// js-tiktoken's exports hide its package.json: read it next to the resolved entry point.
function tiktokenVersion() {
  const path = require('path');
  let dir = path.dirname(require.resolve('js-tiktoken'));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'))).version;
}
const texts = cases.map(s => Buffer.from(s, 'utf8'));
const all = Buffer.concat(texts);
let out = '# GPT-2 token ids of tests/fixtures/gpt2_golden_text.txt, made by tests/tokenizer/make_golden.js\n' +
          '# with js-tiktoken ' + tiktokenVersion() + ' (encoding "gpt2").\n' +
          '# One line per case: byte offset, byte length, then the ids of that byte range encoded on its own.\n';
let off = 0;
const line = (o, buf) => {
  const s = buf.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(buf)) throw new Error('case at ' + o + ' is not valid UTF-8');
  const ids = enc.encode(s, [], []);
  if (enc.decode(ids) !== s) throw new Error('js-tiktoken does not round-trip the case at ' + o);
  return [o, buf.length].concat(ids).join(' ') + '\n';
};
for (const t of texts) {
  out += line(off, t);
  off += t.length;
}
out += line(0, all);
fs.writeFileSync('tests/fixtures/gpt2_golden_text.txt', all);
fs.writeFileSync('tests/fixtures/gpt2_golden.txt', out);
console.log(`wrote ${texts.length + 1} cases, ${all.length} bytes of text`);
