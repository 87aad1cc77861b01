// Baileys' own client noise handler (lib/Utils/noise-handler.js) against our
// NoiseResponder (noise_peer). Because stock Baileys ignores its certificate
// signature checks, this script also verifies the chain the handshake
// delivered, with the npm libsignal's curve.verifySignature.
// usage: node baileys_noise.mjs <interop dir> <noise_peer> [--tamper-cert]
//   --tamper-cert: the peer corrupts its leaf signature; the script then
//   succeeds only if its own verification refuses the chain.
import { createRequire } from 'module';
import { spawn } from 'child_process';
import readline from 'readline';
import path from 'path';

const [interopDir, peerBin, flag] = process.argv.slice(2);
const tamper = flag === '--tamper-cert';
const require = createRequire(path.join(interopDir, 'package.json'));
const lib = (p) => import(path.join(interopDir, 'node_modules/baileys/lib', p));
const { makeNoiseHandler } = await lib('Utils/noise-handler.js');
const { Curve } = await lib('Utils/crypto.js');
const { NOISE_WA_HEADER, WA_CERT_DETAILS } = await lib('Defaults/index.js');
const { encodeBinaryNode } = await lib('WABinary/encode.js');
const { proto } = await import(path.join(interopDir, 'node_modules/baileys/WAProto/index.js'));
const libsignalCurve = require('libsignal/src/curve');

const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };
const timer = setTimeout(() => fail('timeout'), 30000);

// --- peer process, line oriented ---
const peer = spawn(peerBin, tamper ? ['--tamper-cert'] : [], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = readline.createInterface({ input: peer.stdout });
const queue = [];
let waiter = null;
lines.on('line', (l) => { if (waiter) { const w = waiter; waiter = null; w(l); } else queue.push(l); });
const nextLine = () => new Promise((resolve) => { if (queue.length) resolve(queue.shift()); else waiter = resolve; });
const expect = async (tag) => {
  const l = await nextLine();
  if (!l.startsWith(tag + ' ')) fail(`expected ${tag}, peer said: ${l}`);
  return Buffer.from(l.slice(tag.length + 1), 'hex');
};
const send = (buf) => peer.stdin.write(Buffer.from(buf).toString('hex') + '\n');

// --- capture what Baileys decrypts, to verify it independently ---
let certBytes = null;
const origCertDecode = proto.CertChain.decode;
proto.CertChain.decode = (buf, ...rest) => { certBytes = Buffer.from(buf); return origCertDecode.call(proto.CertChain, buf, ...rest); };
const sharedKeyPeers = [];
const origShared = Curve.sharedKey;
Curve.sharedKey = (priv, pub) => { sharedKeyPeers.push(Buffer.from(pub)); return origShared(priv, pub); };

const root = await expect('ROOT');
WA_CERT_DETAILS.PUBLIC_KEY = root;  // point Baileys at the test root

const logger = { child: () => logger, trace() {}, debug() {}, info() {}, warn() {}, error() {}, level: 'silent' };
const ephemeral = Curve.generateKeyPair();
const noiseKey = Curve.generateKeyPair();
const noise = makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger });

const received = [];
const onFrame = (f) => received.push(f);
const nextFrame = async () => {
  while (received.length === 0) await noise.decodeFrame(await expect('FRAME'), onFrame);
  return received.shift();
};

// 1. ClientHello
send(noise.encodeFrame(proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish()));
// 2. ServerHello -> Baileys processes it (decrypts static + cert, "verifies")
const serverHello = proto.HandshakeMessage.decode(await nextFrame());
const keyEnc = noise.processHandshake(serverHello, noiseKey);

// 3. Our own verification of the delivered chain (stock Baileys' result is unreliable).
function verifyChain() {
  if (!certBytes) return 'no certificate captured';
  const serverStatic = sharedKeyPeers[1];  // 2nd agreement: e_c with the decrypted server static
  const chain = proto.CertChain.decode(certBytes);
  const D = proto.CertChain.NoiseCertificate.Details;
  const sig = (pub, msg, s) => {
    try { return libsignalCurve.verifySignature(Buffer.concat([Buffer.from([5]), pub]), msg, s); } catch { return false; }
  };
  if (!chain.intermediate?.details || !chain.leaf?.details) return 'chain incomplete';
  if (chain.intermediate.signature.length !== 64 || chain.leaf.signature.length !== 64) return 'bad signature length';
  if (!sig(root, chain.intermediate.details, chain.intermediate.signature)) return 'intermediate signature invalid';
  const inter = D.decode(chain.intermediate.details);
  const leaf = D.decode(chain.leaf.details);
  if ((inter.issuerSerial || 0) !== 0) return 'intermediate issuer serial != 0';
  if (!sig(Buffer.from(inter.key), chain.leaf.details, chain.leaf.signature)) return 'leaf signature invalid';
  if ((leaf.issuerSerial || 0) !== inter.serial) return 'leaf issuer serial mismatch';
  if (!Buffer.from(leaf.key).equals(serverStatic)) return 'leaf key != server static';
  const now = Math.floor(Date.now() / 1000);
  for (const [n, d] of [['intermediate', inter], ['leaf', leaf]]) {
    if (now < Number(d.notBefore) || now > Number(d.notAfter)) return n + ' outside validity window';
  }
  return null;
}
const certProblem = verifyChain();
if (tamper) {
  if (certProblem !== 'leaf signature invalid') fail('tampered chain was not refused (got: ' + certProblem + ')');
  console.log('tampered certificate refused: ' + certProblem);
  peer.stdin.end('END\n');
  clearTimeout(timer);
  process.exit(0);
}
if (certProblem) fail('certificate chain: ' + certProblem);

// 4. ClientFinish with a real ClientPayload, then transport.
const payload = proto.ClientPayload.encode({
  passive: false, pull: false, connectType: 1, connectReason: 1,
  userAgent: { platform: 14, appVersion: { primary: 2, secondary: 3000, tertiary: 1 }, device: 'Desktop' } }).finish();
const payloadEnc = noise.encrypt(payload);
send(noise.encodeFrame(proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: payloadEnc } }).finish()));
await noise.finishInit();
if (!(await expect('PAYLOAD')).equals(Buffer.from(payload))) fail('server decrypted a different ClientPayload');
if (!(await expect('CLIENT_STATIC')).equals(noiseKey.public)) fail('server saw a different client static key');

for (let i = 0; i < 20; i++) {
  const node = { tag: 'iq', attrs: { id: 'n' + i, type: 'get', xmlns: 'w:p' }, content: Buffer.alloc(i * 400, i) };
  const plain = encodeBinaryNode(node);
  send(noise.encodeFrame(plain));
  if (!(await expect('RECV')).equals(plain)) fail('frame ' + i + ' decrypted to different bytes');
  const echoed = await nextFrame();  // decrypted + decoded by Baileys
  if (echoed.tag !== 'iq' || echoed.attrs.id !== 'n' + i || !Buffer.from(echoed.content).equals(node.content)) {
    fail('echoed frame ' + i + ' differs');
  }
}
peer.stdin.end('END\n');
clearTimeout(timer);
console.log('handshake + 20 transport frames each way with Baileys: ok');
