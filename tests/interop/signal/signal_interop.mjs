// interop.signal.*: our Signal stack (libsignal-protocol-c + our crypto
// provider + SQLite store, behind signal_interop_peer) against the npm
// libsignal that Baileys uses for pairwise sessions and Baileys' own group
// cipher for sender keys. Both directions, both session initiators.
//
//   node signal_interop.mjs /path/to/signal_interop_peer
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import libsignal from 'libsignal';
import { GroupSessionBuilder, GroupCipher, SenderKeyName, SenderKeyDistributionMessage, SenderKeyRecord }
  from 'baileys/lib/Signal/Group/index.js';

const { SessionBuilder, SessionCipher, ProtocolAddress, SessionRecord, keyhelper } = libsignal;

const peerPath = process.argv[2];
if (!peerPath) {
  console.error('usage: signal_interop.mjs /path/to/signal_interop_peer');
  process.exit(2);
}
// A deadline for the whole run, not a synchronisation device.
const deadline = setTimeout(() => { console.error('FAIL: deadline exceeded'); process.exit(1); }, 40000);

const dir = mkdtempSync(join(tmpdir(), 'wa-signal-interop-'));
const peer = spawn(peerPath, [join(dir, 'ours.db')], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: peer.stdout });
const waiting = [];
lines.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
peer.on('exit', (code) => { while (waiting.length) waiting.shift()({ ok: false, code: `peer exited ${code}` }); });
function call(req) {
  return new Promise((resolve) => { waiting.push(resolve); peer.stdin.write(JSON.stringify(req) + '\n'); });
}
async function ok(req) {
  const r = await call(req);
  assert.equal(r.ok, true, `${req.op} failed: ${r.code} ${r.message ?? ''}`);
  return r;
}

const b64 = (buf) => Buffer.from(buf).toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64');
const prefixed = (raw32) => Buffer.concat([Buffer.from([5]), unb64(raw32)]);
const raw = (key33) => b64(key33.subarray(1));

// npm libsignal's storage contract, in memory. Records go through their
// serialised form so no object is shared between calls.
class JsStore {
  constructor() {
    this.identity = keyhelper.generateIdentityKeyPair();
    this.regId = keyhelper.generateRegistrationId();
    this.sessions = new Map();
    this.prekeys = new Map();
    this.signed = new Map();
    this.senderKeys = new Map();
  }
  async getOurIdentity() { return this.identity; }
  async getOurRegistrationId() { return this.regId; }
  async isTrustedIdentity() { return true; }
  async loadPreKey(id) { return this.prekeys.get(id); }
  async removePreKey(id) { this.prekeys.delete(id); }
  async loadSignedPreKey(id) { return this.signed.get(id); }
  async loadSession(addr) { const s = this.sessions.get(addr); return s ? SessionRecord.deserialize(s) : undefined; }
  async storeSession(addr, rec) { this.sessions.set(addr, rec.serialize()); }
  async loadSenderKey(name) {
    const s = this.senderKeys.get(name.toString());
    return s ? SenderKeyRecord.deserialize(s) : new SenderKeyRecord();
  }
  async storeSenderKey(name, rec) { this.senderKeys.set(name.toString(), JSON.stringify(rec.serialize())); }
  bundle(deviceId) {
    const spk = keyhelper.generateSignedPreKey(this.identity, 1);
    this.signed.set(1, spk.keyPair);
    const pk = keyhelper.generatePreKey(77);
    this.prekeys.set(77, pk.keyPair);
    return {
      registration_id: this.regId, device: deviceId, identity: raw(this.identity.pubKey),
      signed_prekey: { id: 1, pub: raw(spk.keyPair.pubKey), sig: b64(spk.signature) },
      prekey: { id: 77, pub: raw(pk.keyPair.pubKey) },
    };
  }
}

const ours = { name: 'ours', device: 0 };
const group = '120363000000000001@g.us';
const text = (s) => Buffer.from(s, 'utf8');
let checks = 0;

async function cToJs(js, jsAddr, cipher, msg, expectType) {
  const r = await ok({ op: 'encrypt', ...jsAddr, pt: b64(text(msg)) });
  assert.equal(r.type, expectType);
  const pt = r.type === 'pkmsg' ? await cipher.decryptPreKeyWhisperMessage(unb64(r.ct))
                                : await cipher.decryptWhisperMessage(unb64(r.ct));
  assert.equal(Buffer.from(pt).toString(), msg);
  checks++;
}

async function jsToC(jsAddr, cipher, msg, expectType) {
  const m = await cipher.encrypt(text(msg));
  assert.equal(m.type, expectType === 'pkmsg' ? 3 : 1);
  const r = await ok({ op: 'decrypt', ...jsAddr, type: expectType, ct: b64(m.body) });
  assert.equal(unb64(r.pt).toString(), msg);
  checks++;
}

try {
  // 1. JS starts the session from our bundle (pkmsg JS -> C), then both ways.
  const js = new JsStore();
  const jsAddr = { name: 'js', device: 1 };
  const cBundle = await ok({ op: 'bundle' });
  const toOurs = new ProtocolAddress(ours.name, ours.device);
  await new SessionBuilder(js, toOurs).initOutgoing({
    identityKey: prefixed(cBundle.identity),
    registrationId: cBundle.registration_id,
    preKey: { keyId: cBundle.prekey.id, publicKey: prefixed(cBundle.prekey.pub) },
    signedPreKey: { keyId: cBundle.signed_prekey.id, publicKey: prefixed(cBundle.signed_prekey.pub),
                    signature: unb64(cBundle.signed_prekey.sig) },
  });
  // Our signed prekey signature must verify with the reference verifier.
  assert.equal(libsignal.curve.verifySignature(prefixed(cBundle.identity), prefixed(cBundle.signed_prekey.pub),
                                               unb64(cBundle.signed_prekey.sig)), true);
  const badSig = unb64(cBundle.signed_prekey.sig);
  badSig[5] ^= 1;
  assert.equal(libsignal.curve.verifySignature(prefixed(cBundle.identity), prefixed(cBundle.signed_prekey.pub),
                                               badSig), false);
  const jsCipher = new SessionCipher(js, toOurs);
  await jsToC(jsAddr, jsCipher, 'js pkmsg 1', 'pkmsg');
  await jsToC(jsAddr, jsCipher, 'js pkmsg 2', 'pkmsg');
  for (let i = 0; i < 5; i++) {
    await cToJs(js, jsAddr, jsCipher, `c says ${i}`, 'msg');
    await jsToC(jsAddr, jsCipher, `js says ${i}`, 'msg');
  }
  // Out of order, both ways.
  const burst = [];
  for (let i = 0; i < 4; i++) burst.push(await ok({ op: 'encrypt', ...jsAddr, pt: b64(text(`burst ${i}`)) }));
  for (const i of [3, 0, 2, 1]) {
    assert.equal(Buffer.from(await jsCipher.decryptWhisperMessage(unb64(burst[i].ct))).toString(), `burst ${i}`);
    checks++;
  }
  const jsBurst = [];
  for (let i = 0; i < 4; i++) jsBurst.push(await jsCipher.encrypt(text(`js burst ${i}`)));
  for (const i of [2, 3, 0, 1]) {
    const r = await ok({ op: 'decrypt', ...jsAddr, type: 'msg', ct: b64(jsBurst[i].body) });
    assert.equal(unb64(r.pt).toString(), `js burst ${i}`);
    checks++;
  }
  // Tampering is refused by our side, which keeps working afterwards.
  const good = await jsCipher.encrypt(text('tamper target'));
  const bad = Buffer.from(good.body);
  bad[bad.length - 2] ^= 1;
  const refused = await call({ op: 'decrypt', ...jsAddr, type: 'msg', ct: b64(bad) });
  assert.equal(refused.ok, false);
  const accepted = await ok({ op: 'decrypt', ...jsAddr, type: 'msg', ct: b64(good.body) });
  assert.equal(unb64(accepted.pt).toString(), 'tamper target');
  checks += 2;

  // 2. We start the session from a JS bundle (pkmsg C -> JS).
  const js2 = new JsStore();
  const js2Addr = { name: 'js2', device: 0 };
  const installed = await ok({ op: 'process_bundle', name: js2Addr.name, ...js2.bundle(0) });
  assert.equal(installed.installed, true);
  const js2Cipher = new SessionCipher(js2, toOurs);
  await cToJs(js2, js2Addr, js2Cipher, 'c pkmsg 1', 'pkmsg');
  await cToJs(js2, js2Addr, js2Cipher, 'c pkmsg 2', 'pkmsg');
  await jsToC(js2Addr, js2Cipher, 'js2 reply', 'msg');
  await cToJs(js2, js2Addr, js2Cipher, 'c after reply', 'msg');

  // 3. Sender keys: ours -> Baileys' GroupCipher.
  const ourSkdm = await ok({ op: 'skdm', group, ...ours });
  const ourKeyName = new SenderKeyName(group, toOurs);
  await new GroupSessionBuilder(js).process(ourKeyName,
    new SenderKeyDistributionMessage(null, null, null, null, unb64(ourSkdm.skdm)));
  const jsGroup = new GroupCipher(js, ourKeyName);
  for (let i = 0; i < 3; i++) {
    const r = await ok({ op: 'group_encrypt', group, ...ours, pt: b64(text(`group ${i}`)) });
    assert.equal(Buffer.from(await jsGroup.decrypt(unb64(r.ct))).toString(), `group ${i}`);
    checks++;
  }
  // ... and Baileys' sender key -> ours.
  const jsKeyName = new SenderKeyName(group, new ProtocolAddress(jsAddr.name, jsAddr.device));
  const jsSkdm = await new GroupSessionBuilder(js).create(jsKeyName);
  await ok({ op: 'process_skdm', group, ...jsAddr, skdm: b64(jsSkdm.serialize()) });
  const jsSender = new GroupCipher(js, jsKeyName);
  for (let i = 0; i < 3; i++) {
    const ct = await jsSender.encrypt(text(`js group ${i}`));
    const r = await ok({ op: 'group_decrypt', group, ...jsAddr, ct: b64(ct) });
    assert.equal(unb64(r.pt).toString(), `js group ${i}`);
    checks++;
  }
  console.log(`PASS: ${checks} cross-implementation checks`);
} catch (e) {
  console.error('FAIL:', e?.stack ?? e);
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
  peer.stdin.end();
  await new Promise((resolve) => (peer.exitCode !== null ? resolve() : peer.on('exit', resolve)));
  rmSync(dir, { recursive: true, force: true });
}
