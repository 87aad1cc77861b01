// XEdDSA cross-check in both directions: signatures from the npm libsignal
// (Baileys' Signal library) verify in wa_crypto and vice versa, and tampered
// ones fail on both sides.
// usage: node xeddsa_cross.mjs <interop dir> <xeddsa_tool>
import { createRequire } from 'module';
import { execFileSync } from 'child_process';
import crypto from 'crypto';
import path from 'path';

const [interopDir, tool] = process.argv.slice(2);
const require = createRequire(path.join(interopDir, 'package.json'));
const curve = require('libsignal/src/curve');
const run = (...args) => execFileSync(tool, args).toString().trim();
const fail = (m) => { console.error('FAIL: ' + m); process.exit(1); };
const jsVerify = (pub32, msg, sig) => {
  try { return curve.verifySignature(Buffer.concat([Buffer.from([5]), pub32]), msg, sig); } catch { return false; }
};

let n = 0;
for (let i = 0; i < 8; i++) {
  const kp = curve.generateKeyPair();
  const pub = kp.pubKey.subarray(1);
  const priv = kp.privKey;
  if (run('pub', priv.toString('hex')) !== pub.toString('hex')) fail('public key derivation differs');
  const msg = crypto.randomBytes(1 + i * 37);

  // libsignal -> wa_crypto
  const jsSig = curve.calculateSignature(priv, msg);
  if (run('verify', pub.toString('hex'), msg.toString('hex'), jsSig.toString('hex')) !== 'valid') fail('C++ rejects a libsignal signature');
  const badJs = Buffer.from(jsSig); badJs[i * 7 % 64] ^= 0x10;
  if (run('verify', pub.toString('hex'), msg.toString('hex'), badJs.toString('hex')) !== 'invalid') fail('C++ accepts a tampered signature');

  // wa_crypto -> libsignal
  const cSig = Buffer.from(run('sign', priv.toString('hex'), msg.toString('hex')), 'hex');
  if (cSig.length !== 64) fail('bad signature length from C++');
  if (!jsVerify(pub, msg, cSig)) fail('libsignal rejects a wa_crypto signature');
  const badC = Buffer.from(cSig); badC[(i * 11 + 3) % 64] ^= 0x01;
  if (jsVerify(pub, msg, badC)) fail('libsignal accepts a tampered wa_crypto signature');
  const otherMsg = Buffer.concat([msg, Buffer.from([0])]);
  if (jsVerify(pub, otherMsg, cSig)) fail('libsignal accepts a signature for another message');
  n++;
}
console.log(`xeddsa: ${n} keys cross-verified both ways`);
