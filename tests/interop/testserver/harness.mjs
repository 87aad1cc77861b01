// Shared helpers for the wa-testserver interop tests: start/stop a server in
// a temp dir, run stock Baileys clients against it (root key and URL set at
// run time), pair them with `wa-testserver scan`, and verify with the npm
// libsignal what stock Baileys does not (its Curve.verify result is ignored).
import { createRequire } from 'module';
import { spawn, execFile } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import readline from 'readline';
import { createHmac } from 'crypto';

export function setup(interopDir) {
  const require = createRequire(path.join(interopDir, 'package.json'));
  return { require, lib: (p) => import(path.join(interopDir, 'node_modules/baileys/lib', p)) };
}

export const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };

// Resolves when pred() holds after an event; rejects at the deadline.
export function waitFor(emitterOn, pred, ms, what) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout waiting for ' + what)), ms);
    const check = () => { const v = pred(); if (v) { clearTimeout(t); resolve(v); return true; } return false; };
    if (check()) return;
    emitterOn(() => check());
  });
}

// serveArgs: extra `serve` flags, e.g. ['--addressing', 'lid']; the
// environment's WATS_SERVE_ARGS (space-separated) are added to every server,
// so a whole interop run can be repeated against the LID-first server.
// WATS_STATE_DIR: a state directory prepared before (its media CA already
// trusted by this process through NODE_EXTRA_CA_CERTS, see prepareMediaCa).
export async function startServer(bin, serveArgs = []) {
  const dir = process.env.WATS_STATE_DIR || mkdtempSync(path.join(tmpdir(), 'wats-'));
  const envArgs = (process.env.WATS_SERVE_ARGS || '').split(/\s+/).filter(Boolean);
  const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--state', dir, ...envArgs, ...serveArgs,
    ...(process.env.WATS_VERBOSE ? ['--verbose'] : [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LSAN_OPTIONS: 'suppressions=' + path.join(path.dirname(new URL(import.meta.url).pathname), 'lsan.supp') },
  });
  const lines = readline.createInterface({ input: proc.stderr });
  const log = [];
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 15000);
    proc.once('exit', (code) => reject(new Error('server exited ' + code + ': ' + log.join('\n'))));
    lines.on('line', (l) => {
      log.push(l);
      if (process.env.WATS_VERBOSE) console.error('[server] ' + l);
      if (l.includes('serving ws://')) { clearTimeout(t); resolve(); }
    });
  });
  const port = Number(readFileSync(path.join(dir, 'port'), 'utf8').trim());
  const root = Buffer.from(readFileSync(path.join(dir, 'root.pub'), 'utf8').trim(), 'hex');
  if (root.length !== 32) fail('root.pub is not 32 bytes of hex');
  const admin = (...args) => new Promise((resolve) => {
    execFile(bin, [...args.slice(0, 1), '--state', dir, ...args.slice(1)], (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
  // The server must exit cleanly on SIGTERM (under ASan this also catches
  // leaks and memory errors the run did not otherwise show).
  const stop = async () => {
    let code = proc.exitCode;
    if (code === null) {
      const exited = new Promise((r) => proc.on('exit', (c) => r(c)));
      proc.kill('SIGTERM');
      code = await exited;
    }
    await new Promise((r) => (lines.closed ? r() : lines.on('close', r)));
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0) fail('server exited with ' + code + ':\n' + log.slice(-40).join('\n'));
  };
  return { dir, port, root, admin, stop, proc };
}

// Node reads NODE_EXTRA_CA_CERTS only at start, and the media host's CA is
// made by the server's first start. So a media scenario runs in two steps:
// this process starts a server once in a fresh state dir (which writes
// DIR/media-ca.pem and keeps it for later starts), stops it, and runs itself
// again trusting that CA with WATS_STATE_DIR set; it exits with the child's
// status. Returns only in the child.
export async function prepareMediaCa() {
  if (process.env.NODE_EXTRA_CA_CERTS && process.env.WATS_STATE_DIR) return;
  const bin = process.argv[3];
  const dir = mkdtempSync(path.join(tmpdir(), 'wats-'));
  const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--state', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = readline.createInterface({ input: proc.stderr });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 15000);
    lines.on('line', (l) => { if (l.includes('serving ws://')) { clearTimeout(t); resolve(); } });
  });
  await new Promise((r) => { proc.on('exit', r); proc.kill('SIGTERM'); });
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'media-ca.pem'), WATS_STATE_DIR: dir },
  });
  const code = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}

// Certificate chain + pairing signature checks with libsignal's verifySignature.
export function makeVerifier(require, proto, Curve) {
  const libsignalCurve = require('libsignal/src/curve');
  const sig = (pub, msg, s) => {
    try { return libsignalCurve.verifySignature(Buffer.concat([Buffer.from([5]), Buffer.from(pub)]), Buffer.from(msg), Buffer.from(s)); } catch { return false; }
  };
  const chains = [];
  const origDecode = proto.CertChain.decode;
  proto.CertChain.decode = (buf, ...rest) => { chains.push(Buffer.from(buf)); return origDecode.call(proto.CertChain, buf, ...rest); };
  return {
    sig,
    chainsSeen: () => chains.length,
    checkChains(root) {
      const D = proto.CertChain.NoiseCertificate.Details;
      for (const bytes of chains) {
        const chain = origDecode.call(proto.CertChain, bytes);
        if (!sig(root, chain.intermediate.details, chain.intermediate.signature)) fail('intermediate cert not signed by root');
        const inter = D.decode(chain.intermediate.details);
        const leaf = D.decode(chain.leaf.details);
        if ((inter.issuerSerial || 0) !== 0) fail('intermediate issuer serial');
        if (!sig(inter.key, chain.leaf.details, chain.leaf.signature)) fail('leaf cert not signed by intermediate');
        if ((leaf.issuerSerial || 0) !== inter.serial) fail('leaf issuer serial');
        const now = Math.floor(Date.now() / 1000);
        if (now < Number(leaf.notBefore) || now > Number(leaf.notAfter)) fail('leaf outside validity');
      }
      return chains.length;
    },
    // The companion's stored account identity: the phone's account signature
    // and the companion's own device signature must both verify.
    checkAccount(creds) {
      const acc = creds.account;
      if (!acc) fail('no account after pairing');
      const buf = (x) => (typeof x === 'string' ? Buffer.from(x, 'base64') : Buffer.from(x));
      const identity = Buffer.from(creds.signedIdentityKey.public);
      const details = buf(acc.details);
      const accKey = buf(acc.accountSignatureKey);
      if (!sig(accKey, Buffer.concat([Buffer.from([6, 0]), details, identity]), buf(acc.accountSignature))) fail('account signature invalid');
      if (!sig(identity, Buffer.concat([Buffer.from([6, 1]), details, identity, accKey]), buf(acc.deviceSignature))) fail('device signature invalid');
    }
  };
}

export async function loadBaileys(interopDir) {
  interopDir = path.resolve(interopDir);
  const { require, lib } = setup(interopDir);
  const baileys = await import(path.join(interopDir, 'node_modules/baileys/lib/index.js'));
  const { WA_CERT_DETAILS } = await lib('Defaults/index.js');
  const { Curve } = await lib('Utils/crypto.js');
  const { proto } = await import(path.join(interopDir, 'node_modules/baileys/WAProto/index.js'));
  return { require, baileys, WA_CERT_DETAILS, Curve, proto };
}

const show = (lvl) => (process.env.WATS_VERBOSE ? (o, m) => console.error(`[baileys ${lvl}]`, m || '', typeof o === 'object' ? JSON.stringify(o, (k, v) => (k === 'trace' || typeof v === 'string' ? v : v && v.type === 'Buffer' ? '<buf>' : v)).slice(0, 600) : o) : () => {});
const deep = process.env.WATS_VERBOSE === '2';
const silent = { level: 'silent', child() { return silent; }, trace() {}, debug: deep ? show('debug') : () => {}, info: deep ? show('info') : () => {}, warn: show('warn'), error: show('error'), fatal: show('fatal') };

// The events of a profile's durable log after `since`, paged with the
// `events` command through `call` (a wactl call on any host that can read
// the log). `last` is the seq to continue from.
export async function replayLog(call, profile, since = 0) {
  const events = [];
  for (;;) {
    const r = await call({ cmd: 'events', profile, since, limit: 1000 }, 30000);
    if (!r.ok) throw new Error(`events ${profile}: ${JSON.stringify(r.error ?? r)}`);
    events.push(...r.result.events);
    if (r.result.events.length === 0 || r.result.last_seq <= since) return { events, last: since };
    since = r.result.last_seq;
  }
}

// One Baileys account instance that survives reconnects (515, restarts).
export class Client {
  constructor(B, server, name, socketOptions = {}) {
    this.B = B; this.server = server; this.name = name; this.socketOptions = socketOptions;
    this.authDir = mkdtempSync(path.join(tmpdir(), 'wats-auth-' + name + '-'));
    // What Baileys logged as errors ({ t, obj, msg }): a test can tell its
    // own failures (e.g. a device it could not encrypt for) from ours.
    this.errors = [];
    this.listeners = new Set();
    this.received = [];   // { id, from, text }
    this.sent = new Map(); // id -> message (for retries)
    this.qr = null; this.open = false; this.closedFor = null; this.stopped = false;
  }
  notify() { for (const l of [...this.listeners]) l(); }
  // The quiet logger, with this client's errors recorded.
  logger() {
    const self = this;
    const log = { ...silent, child() { return log; }, error(o, m) { self.errors.push({ t: Date.now(), obj: o, msg: m }); silent.error(o, m); } };
    return log;
  }
  on(fn) { this.listeners.add(fn); }
  wait(pred, ms, what) { return waitFor((cb) => this.on(cb), pred, ms, this.name + ': ' + what); }
  async connect() {
    const { baileys } = this.B;
    const { state, saveCreds } = await baileys.useMultiFileAuthState(this.authDir);
    this.state = state;
    this.open = false;
    const sock = baileys.makeWASocket({
      auth: state,
      logger: this.logger(),
      waWebSocketUrl: `ws://127.0.0.1:${this.server.port}/ws/chat`,
      printQRInTerminal: false,
      markOnlineOnConnect: false,
      fireInitQueries: true,
      shouldSyncHistoryMessage: () => false,
      syncFullHistory: false,
      // A retry receipt can overtake sendMessage()'s own promise: wait for
      // the message to be recorded instead of answering "unknown".
      getMessage: async (key) => {
        try { await this.wait(() => this.sent.has(key.id), 5000, 'sent message ' + key.id); } catch { return undefined; }
        return this.sent.get(key.id);
      },
      ...this.socketOptions,
    });
    this.sock = sock;
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('connection.update', (u) => {
      if (sock !== this.sock) return;
      if (u.qr) this.qr = u.qr;
      if (u.connection === 'open') { this.open = true; this.qr = null; }
      if (u.connection === 'close') {
        this.open = false;
        const code = u.lastDisconnect?.error?.output?.statusCode;
        this.closedFor = code;
        if (!this.stopped && code === 515) this.connect();
      }
      this.notify();
    });
    sock.ev.on('messages.upsert', ({ messages }) => {
      for (const m of messages) {
        const text = m.message?.conversation || m.message?.extendedTextMessage?.text;
        this.received.push({ id: m.key.id, from: m.key.remoteJid, participant: m.key.participant, fromMe: m.key.fromMe, text, stub: m.messageStubType, raw: m });
      }
      this.notify();
    });
    return sock;
  }
  get jid() { return this.state.creds.me?.id; }
  get user() { return this.jid ? this.jid.split(':')[0].split('@')[0] + '@s.whatsapp.net' : null; }
  async pair(phone) {
    await this.connect();
    await this.wait(() => this.qr, 20000, 'QR');
    const r = await this.server.admin('scan', '--phone', phone, '--qr', this.qr);
    if (r.code !== 0) fail(`scan for ${this.name} failed: ${r.stderr}`);
    await this.wait(() => this.open, 30000, 'open after pairing');
  }
  async send(jid, text) {
    const m = await this.sock.sendMessage(jid, { text });
    this.sent.set(m.key.id, m.message);
    this.notify();
    return m;
  }
  texts(filter = () => true) { return this.received.filter((m) => !m.fromMe && m.text && filter(m)).map((m) => m.text); }
  async close() {
    this.stopped = true;
    try { this.sock?.end(undefined); } catch {}
    this.open = false;
  }
  cleanup() { rmSync(this.authDir, { recursive: true, force: true }); }
  sessionFiles() { return readdirSync(this.authDir).filter((f) => f.startsWith('session-')); }
}

// Runs one interop scenario: loads Baileys, starts a wa-testserver whose root
// Baileys trusts, creates one Client per name, runs `body`, and always closes
// the clients and stops the server. Any throw fails the test; a scenario
// longer than 55 s fails too. argv: <interop dir> <wa-testserver>.
// opts.serveArgs: extra `serve` flags (e.g. ['--addressing', 'lid']);
// opts.socketOptions: extra makeWASocket options for every client.
export async function runScenario(names, body, opts = {}) {
  const [interopDir, bin] = process.argv.slice(2);
  const B = await loadBaileys(interopDir);
  const verifier = makeVerifier(B.require, B.proto, B.Curve);
  const server = await startServer(bin, opts.serveArgs || []);
  B.WA_CERT_DETAILS.PUBLIC_KEY = server.root;
  const deadline = setTimeout(() => fail('test took longer than 55 s'), 55000);
  const clients = names.map((n) => new Client(B, server, n, opts.socketOptions));
  try {
    await body({ B, server, verifier, clients, interopDir });
  } catch (e) {
    fail(e.stack || String(e));
  } finally {
    for (const c of clients) await c.close();
    await server.stop();
    for (const c of clients) c.cleanup();
    clearTimeout(deadline);
  }
  process.exit(0);
}
