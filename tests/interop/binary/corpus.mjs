// interop.binary.corpus: our node codec (through `wa-inspect`) against
// Baileys' encodeBinaryNode / decodeBinaryNode on a deterministic corpus.
//
//   node corpus.mjs /path/to/wa-inspect [--dump corpus.jsonl]
//
// For every node: identical bytes from both encoders; each decoder reads the
// other side's bytes to the same node; and that node is the original one,
// up to what the wire cannot express (raw string content comes back as bytes,
// a ":0" device is the primary device). Then the deliberate differences:
// strings Baileys would mangle are written losslessly by us, and Baileys'
// decoder must still read them back exactly.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { buildCorpus, toJsonNode, encodeBinaryNode, decodeDecompressedBinaryNode, constants } from './corpus_lib.mjs';

const waInspect = process.argv[2];
if (!waInspect) {
  console.error('usage: corpus.mjs /path/to/wa-inspect [--dump file]');
  process.exit(2);
}
const dumpAt = process.argv.indexOf('--dump');

let failures = 0;
const failAt = (what, i, detail) => {
  failures++;
  if (failures <= 20) console.error(`FAIL ${what} #${i}: ${detail}`);
};

function inspect(mode, lines) {
  const r = spawnSync(waInspect, [mode, '--lines'], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.error) throw r.error;
  const out = r.stdout.split('\n');
  out.pop();  // trailing newline
  if (out.length !== lines.length) throw new Error(`wa-inspect ${mode}: ${out.length} outputs for ${lines.length} inputs; stderr: ${r.stderr}`);
  return out;
}

const baileysDecode = (hex) => toJsonNode(decodeDecompressedBinaryNode(Buffer.from(hex, 'hex').subarray(1), constants));

// What the original looks like after a trip over the wire.
const AD_ZERO = /:0@(s\.whatsapp\.net|lid|hosted|hosted\.lid)$/;
const wireString = (s) => s.replace(AD_ZERO, '@$1');
// Baileys' decoder drops a raw AD_JID agent ("u_5:2@s.whatsapp.net" reads as
// "u:2@..."); ours keeps it. Compare with the agent taken out of ours.
const AGENT = /(\d)_\d+(:\d+@s\.whatsapp\.net")/g;
function sameAsOriginal(decoded, original) {
  if (decoded.tag !== wireString(original.tag)) return `tag ${JSON.stringify(decoded.tag)} != ${JSON.stringify(original.tag)}`;
  const a = Object.entries(decoded.attrs);
  const b = Object.entries(original.attrs);
  if (a.length !== b.length) return 'attribute count';
  for (let i = 0; i < a.length; i++) {
    if (a[i][0] !== wireString(b[i][0]) || a[i][1] !== wireString(b[i][1])) return `attribute ${JSON.stringify(b[i])} -> ${JSON.stringify(a[i])}`;
  }
  const c = decoded.content;
  const o = original.content;
  if (o === null) return c === null ? null : 'content should be empty';
  if (typeof o === 'string') {
    const text = typeof c === 'string' ? c : c && c.bytes !== undefined ? Buffer.from(c.bytes, 'hex').toString('utf8') : null;
    return text === wireString(o) ? null : 'string content';
  }
  if (Array.isArray(o)) {
    if (!Array.isArray(c) || c.length !== o.length) return 'children';
    for (let i = 0; i < o.length; i++) {
      const d = sameAsOriginal(c[i], o[i]);
      if (d) return `child ${i}: ${d}`;
    }
    return null;
  }
  return c && c.bytes === o.bytes ? null : 'bytes content';
}

// ---- the corpus ----
const corpus = buildCorpus();
const json = corpus.map(toJsonNode);
const jsonLines = json.map((j) => JSON.stringify(j));
if (dumpAt > 0) writeFileSync(process.argv[dumpAt + 1], jsonLines.join('\n') + '\n');

const theirs = corpus.map((n) => encodeBinaryNode(n).toString('hex'));
const ours = inspect('encode', jsonLines);
const oursDecodingTheirs = inspect('decode', theirs);

for (let i = 0; i < corpus.length; i++) {
  if (ours[i] !== theirs[i]) {
    const at = [...ours[i]].findIndex((ch, k) => ch !== theirs[i][k]);
    failAt('encode', i, `bytes differ at hex offset ${at}: ours ${ours[i].slice(Math.max(0, at - 10), at + 30)} baileys ${theirs[i].slice(Math.max(0, at - 10), at + 30)}`);
    continue;
  }
  let theirsDecodingOurs;
  try {
    theirsDecodingOurs = baileysDecode(ours[i]);
  } catch (e) {
    failAt('baileys decode', i, e.message);
    continue;
  }
  if (oursDecodingTheirs[i].startsWith('!')) {
    failAt('our decode', i, oursDecodingTheirs[i]);
    continue;
  }
  const mine = JSON.parse(oursDecodingTheirs[i]);
  const a = JSON.stringify(mine).replace(AGENT, '$1$2');
  const b = JSON.stringify(theirsDecodingOurs);
  if (a !== b) {
    let at = 0;
    while (at < a.length && a[at] === b[at]) at++;
    failAt('decoders disagree', i, `ours ${a.slice(Math.max(0, at - 40), at + 40)} baileys ${b.slice(Math.max(0, at - 40), at + 40)}`);
  }
  const d = sameAsOriginal(mine, json[i]);
  if (d) failAt('round trip', i, d);
}

// ---- deliberate differences ----
const lossless = [
  '100012345:3@msgr', '100012345:0@msgr', '7-4915112345678:2@interop',   // FB_JID / INTEROP_JID
  '123_5@s.whatsapp.net', '123:300@s.whatsapp.net', '123:1@g.us', '123:05@lid', '123:@s.whatsapp.net',
  '123_5:1@lid', '123_1:1@s.whatsapp.net', '1:2:3@lid', '123@', 'a@b@c', 'constructor', 'toString', 'valueOf',
];
const diffNodes = lossless.map((s) => ({ tag: 'a', attrs: { k: s } }));
const diffOurs = inspect('encode', diffNodes.map((n) => JSON.stringify(toJsonNode(n))));
const diffBack = inspect('decode', diffOurs);
lossless.forEach((s, i) => {
  const theirBytes = encodeBinaryNode(diffNodes[i]).toString('hex');
  if (theirBytes === diffOurs[i]) failAt('expected difference vanished', i, s);
  let back;
  try {
    back = baileysDecode(diffOurs[i]).attrs.k;
  } catch (e) {
    back = `<${e.message}>`;
  }
  if (back !== s) failAt('baileys reads our lossless form', i, `${s} -> ${back}`);
  const mine = diffBack[i].startsWith('!') ? diffBack[i] : JSON.parse(diffBack[i]).attrs.k;
  if (mine !== s) failAt('we read our lossless form', i, `${s} -> ${mine}`);
});

const bytes = ours.reduce((sum, h) => sum + h.length / 2, 0);
console.log(`${corpus.length} corpus nodes (${bytes} bytes), ${lossless.length} deliberate differences: ${failures ? failures + ' failures' : 'all identical'}`);
process.exit(failures ? 1 : 0);
