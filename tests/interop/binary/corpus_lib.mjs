// A deterministic corpus of binary nodes for comparing our codec with the
// reference client's (Baileys). Shared by the interop test (corpus.mjs) and the
// benchmark (bench/binary/baileys_codec.mjs).
//
// Nodes are kept in Baileys' shape ({tag, attrs, content: undefined | string |
// Buffer | node[]}); toJsonNode() turns one into wa-inspect's JSON shape.
import { encodeBinaryNode } from 'baileys/lib/WABinary/encode.js';
import { decodeDecompressedBinaryNode } from 'baileys/lib/WABinary/decode.js';
import * as constants from 'baileys/lib/WABinary/constants.js';

export { encodeBinaryNode, decodeDecompressedBinaryNode, constants };

// mulberry32: small, seedable, identical on every run.
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  return { next, int, pick };
}

const SINGLE = constants.SINGLE_BYTE_TOKENS.slice(1);
const DOUBLE = constants.DOUBLE_BYTE_TOKENS.flat();
const isToken = (s) => Object.prototype.hasOwnProperty.call(constants.TOKEN_MAP, s);

// Words that are neither tokens nor JavaScript Object.prototype names (Baileys
// looks strings up in a plain object, so "constructor" would hit the prototype).
const WORDS = ['pair-success', 'ib', 'c.us', 'hello', 'world', 'stanza', 'x-custom', 'Olá', 'résumé',
  'emoji 😀', 'tab\there', 'quote"s', 'back\\slash', 'lower-hex-ab12', 'MiXeD', 'a', 'zz top', '∑∆']
  .filter((w) => !isToken(w));

const digits = (r, n) => Array.from({ length: n }, () => r.int(10)).join('');
const nonZero = (r, n) => String(1 + r.int(9)) + digits(r, n - 1);

function nibbleString(r, len) {
  const alphabet = '0123456789-.';
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[r.int(alphabet.length)];
  return s;
}

function hexString(r, len) {
  const alphabet = '0123456789ABCDEF';
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[r.int(alphabet.length)];
  return s;
}

// About `len` UTF-16 units, cut on a code point (a lone surrogate is not
// valid UTF-8 and would not survive JSON on the way to wa-inspect).
function rawString(r, len) {
  let s = '';
  while (s.length < len) s += r.pick(WORDS) + ' ';
  return Array.from(s).slice(0, len).join('');
}

// Every JID form, in the string notation both libraries use.
export function jidString(r) {
  const user = nonZero(r, 8 + r.int(8));
  const dev = 1 + r.int(99);
  switch (r.int(22)) {
    case 0: return `${user}@s.whatsapp.net`;
    case 1: return `${user}:${dev}@s.whatsapp.net`;
    case 2: return `${user}:0@s.whatsapp.net`;
    case 3: return '@s.whatsapp.net';
    case 4: return `${user}@lid`;
    case 5: return `${user}:${dev}@lid`;
    case 6: return `${user}@hosted`;
    case 7: return `${user}:${dev}@hosted`;
    case 8: return `${user}@hosted.lid`;
    case 9: return `${user}:${dev}@hosted.lid`;
    case 10: return `120363${digits(r, 12)}@g.us`;
    case 11: return `${user}-${nonZero(r, 10)}@g.us`;
    case 12: return '@g.us';
    case 13: return 'status@broadcast';
    case 14: return `${user}@broadcast`;
    case 15: return `120363${digits(r, 12)}@newsletter`;
    case 16: return `${user}@bot`;
    case 17: return `${user}@c.us`;
    case 18: return `${user}_${2 + r.int(100)}:${dev}@s.whatsapp.net`;
    case 19: return `${user}:255@lid`;
    case 20: return `${hexString(r, 6)}@s.whatsapp.net`;
    default: return `${user}@msgr`;
  }
}

export function stringValue(r) {
  switch (r.int(12)) {
    case 0: return r.pick(SINGLE);
    case 1: return r.pick(DOUBLE);
    case 2: return nibbleString(r, 1 + r.int(127));
    case 3: return hexString(r, 1 + r.int(127));
    case 4: return nibbleString(r, 128 + r.int(40));  // too long to pack
    case 5: return hexString(r, 1 + r.int(20)).toLowerCase() + 'g';
    case 6: return rawString(r, 1 + r.int(60));
    case 7: return '';
    case 8: return rawString(r, 256 + r.int(400));    // BINARY_20
    case 9: return String(r.int(100000));
    default: return jidString(r);
  }
}

function keyName(r, used) {
  for (;;) {
    const k = r.int(3) === 0 ? r.pick(WORDS.filter((w) => w.length < 12)) + '_' + r.int(9) : r.pick(r.int(2) ? SINGLE : DOUBLE);
    // Integer-like keys would be reordered by JavaScript objects.
    if (!used.has(k) && !/^\d+$/.test(k) && k !== '') { used.add(k); return k; }
  }
}

function randomBytes(r, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return b;
}

export function randomNode(r, depth = 0) {
  const tag = r.int(4) === 0 ? stringValue(r) || 'x' : r.pick(r.int(3) ? SINGLE : WORDS);
  const attrs = {};
  const used = new Set();
  const n = r.int(7);
  for (let i = 0; i < n; i++) attrs[keyName(r, used)] = stringValue(r);
  let content;
  switch (r.int(6)) {
    case 0: break;
    case 1: content = randomBytes(r, r.int(3) ? r.int(64) : 256 + r.int(600)); break;
    case 2: content = stringValue(r); break;
    case 3: content = []; break;
    default:
      if (depth < 4) {
        content = [];
        const kids = 1 + r.int(5);
        for (let i = 0; i < kids; i++) content.push(randomNode(r, depth + 1));
      }
  }
  return { tag, attrs, content };
}

// Hand-picked nodes: the worked examples and the size boundaries.
export function specialNodes(r, { huge = true } = {}) {
  const nodes = [
    { tag: 'iq', attrs: { id: '1', type: 'get', xmlns: 'w:p', to: '@s.whatsapp.net' }, content: [{ tag: 'ping', attrs: {} }] },
    { tag: 'enc', attrs: { v: '2', type: 'pkmsg' }, content: Buffer.from([1, 2, 3]) },
    { tag: 'xmlstreamend', attrs: {} },
    { tag: 'user', attrs: { jid: '123456@lid' } },
    { tag: 'user', attrs: { jid: '123456:7@lid' } },
    { tag: 'a', attrs: { k: '1234567', h: 'ABCDEF0', e: '' } },
    { tag: 'b', attrs: {}, content: Buffer.alloc(255, 1) },
    { tag: 'b', attrs: {}, content: Buffer.alloc(256, 2) },
    { tag: 'b', attrs: {}, content: Buffer.alloc((1 << 20) - 1, 3) },
    { tag: 'list', attrs: {}, content: Array.from({ length: 255 }, () => ({ tag: 'item', attrs: {} })) },
    { tag: 'list', attrs: {}, content: Array.from({ length: 256 }, (_, i) => ({ tag: 'item', attrs: { id: String(i) } })) },
    { tag: 'attrs', attrs: Object.fromEntries(Array.from({ length: 140 }, (_, i) => ['k' + i, jidString(r)])) },
    { tag: 's', attrs: { long: rawString(r, 300) }, content: rawString(r, 70000) },
    { tag: 'message', attrs: { id: '3EB0' + hexString(r, 18), to: '5511999999999@s.whatsapp.net', type: 'text' }, content: [
      { tag: 'participants', attrs: {}, content: [
        { tag: 'to', attrs: { jid: '5511999999999@s.whatsapp.net' }, content: [{ tag: 'enc', attrs: { v: '2', type: 'pkmsg' }, content: randomBytes(r, 200) }] },
        { tag: 'to', attrs: { jid: '5511888888888:3@s.whatsapp.net' }, content: [{ tag: 'enc', attrs: { v: '2', type: 'msg' }, content: randomBytes(r, 90) }] },
      ] },
      { tag: 'device-identity', attrs: {}, content: randomBytes(r, 150) },
    ] },
  ];
  if (huge) {
    nodes.push({ tag: 'big', attrs: {}, content: randomBytes(r, (1 << 20) + 17) });       // BINARY_32 bytes
    nodes.push({ tag: 'big', attrs: { s: 'x' }, content: rawString(r, (1 << 20) + 5) });  // BINARY_32 string
  }
  return nodes;
}

export function buildCorpus({ seed = 20240601, count = 800, huge = true } = {}) {
  const r = rng(seed);
  const nodes = specialNodes(r, { huge });
  while (nodes.length < count) nodes.push(randomNode(r));
  return nodes;
}

// Baileys shape -> wa-inspect JSON shape.
export function toJsonNode(node) {
  const attrs = {};
  for (const [k, v] of Object.entries(node.attrs || {})) attrs[k] = v;
  let content = null;
  if (typeof node.content === 'string') content = node.content;
  else if (Buffer.isBuffer(node.content) || node.content instanceof Uint8Array) content = { bytes: Buffer.from(node.content).toString('hex') };
  else if (Array.isArray(node.content)) content = node.content.map(toJsonNode);
  return { tag: node.tag, attrs, content };
}
