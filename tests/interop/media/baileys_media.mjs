// Media crypto cross-check against Baileys' own functions:
//  - Baileys' encryptedStream output (body, fileSha256, fileEncSha256) equals
//    ours for the same media key, for every kind and several sizes;
//  - our bodies decrypt with Baileys' downloadEncryptedContent (served over a
//    local HTTP server, the way Baileys reads them) and Baileys' bodies with ours;
//  - media retry: our server-error receipt decrypts with Baileys' key and
//    proto, Baileys' decryptMediaRetryData opens our notification, and we
//    open one Baileys' primitives built.
// usage: node baileys_media.mjs <interop dir> <media_tool>
import { execFileSync } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import http from 'http';
import os from 'os';
import path from 'path';

const [interopDir, tool] = process.argv.slice(2);
const lib = (p) => import(path.join(path.resolve(interopDir), 'node_modules/baileys/lib', p));
const { encryptedStream, getMediaKeys, downloadEncryptedContent, encryptMediaRetryRequest, decryptMediaRetryData, toBuffer } =
  await lib('Utils/messages-media.js');
const { aesDecryptGCM, aesEncryptGCM, hkdf } = await lib('Utils/crypto.js');
const { proto } = await import(path.join(path.resolve(interopDir), 'node_modules/baileys/WAProto/index.js'));

const fail = (m) => { console.error('FAIL: ' + m); process.exit(1); };
const run = (...args) => execFileSync(tool, args).toString().trim();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-media-interop-'));
const served = new Map();
const server = http.createServer((req, res) => {
  const body = served.get(req.url);
  if (!body) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Length': body.length });
  res.end(body);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

let n = 0;
try {
  // Baileys names voice notes "ptt"; our tool takes either.
  for (const kind of ['image', 'video', 'audio', 'ptt', 'document', 'sticker']) {
    for (const size of [0, 1, 16, 1000, 70000, 300001]) {
      const plain = crypto.randomBytes(size);
      const b = await encryptedStream(plain, kind);
      const baileysBody = fs.readFileSync(b.encFilePath);
      fs.unlinkSync(b.encFilePath);
      const inFile = path.join(dir, 'plain'), outFile = path.join(dir, 'body');
      fs.writeFileSync(inFile, plain);
      const [sha, encSha, len] = run('encrypt', kind, b.mediaKey.toString('hex'), inFile, outFile).split(' ');
      const ours = fs.readFileSync(outFile);
      if (!ours.equals(baileysBody)) fail(`${kind}/${size}: body differs from Baileys'`);
      if (sha !== b.fileSha256.toString('hex')) fail(`${kind}/${size}: fileSha256 differs`);
      if (encSha !== b.fileEncSha256.toString('hex')) fail(`${kind}/${size}: fileEncSha256 differs`);
      if (Number(len) !== b.fileLength) fail(`${kind}/${size}: fileLength differs`);

      // Ours, read back by Baileys' download path.
      const url = `/body-${n}`;
      served.set(url, ours);
      const keys = await getMediaKeys(b.mediaKey, kind);
      const back = await toBuffer(await downloadEncryptedContent(base + url, keys));
      if (!back.equals(plain)) fail(`${kind}/${size}: Baileys cannot decrypt our body`);
      // Baileys', read back by ours (which checks the MAC and both hashes).
      const bodyFile = path.join(dir, 'bbody');
      fs.writeFileSync(bodyFile, baileysBody);
      const r = run('decrypt', kind, b.mediaKey.toString('hex'), bodyFile, path.join(dir, 'out'), sha, encSha);
      if (r !== 'ok' || !fs.readFileSync(path.join(dir, 'out')).equals(plain)) fail(`${kind}/${size}: we cannot decrypt Baileys' body: ${r}`);
      const tampered = Buffer.from(baileysBody); tampered[tampered.length - 1] ^= 1;
      fs.writeFileSync(bodyFile, tampered);
      if (run('decrypt', kind, b.mediaKey.toString('hex'), bodyFile, path.join(dir, 'out'), sha, encSha) !== 'ERROR media_corrupt') {
        fail(`${kind}/${size}: a tampered MAC was accepted`);
      }
      n++;
    }
  }

  // Media retry.
  const retryKey = (mk) => hkdf(mk, 32, { info: 'WhatsApp Media Retry Notification' });
  for (const [fromMe, participant] of [[false, '-'], [true, '444@s.whatsapp.net']]) {
    const mk = crypto.randomBytes(32);
    const id = '3EB0' + crypto.randomBytes(8).toString('hex').toUpperCase();
    const key = { id, remoteJid: participant === '-' ? '222@s.whatsapp.net' : '333@g.us', fromMe,
      participant: participant === '-' ? undefined : participant };
    const ref = encryptMediaRetryRequest(key, mk, '111:7@s.whatsapp.net');
    const out = run('retry-receipt', id, '111:7@s.whatsapp.net', key.remoteJid, fromMe ? '1' : '0', participant, mk.toString('hex')).split(' ');
    const [to, type, jid, fm, part, encP, encIv] = out;
    const rmr = ref.content.find((c) => c.tag === 'rmr').attrs;
    if (to !== ref.attrs.to || type !== ref.attrs.type) fail(`receipt attrs ${to} ${type} vs ${ref.attrs.to} ${ref.attrs.type}`);
    if (jid !== rmr.jid || fm !== rmr.from_me || part !== (rmr.participant ?? '-')) fail('rmr attrs differ from Baileys');
    const pt = aesDecryptGCM(Buffer.from(encP, 'hex'), retryKey(mk), Buffer.from(encIv, 'hex'), Buffer.from(id));
    if (proto.ServerErrorReceipt.decode(pt).stanzaId !== id) fail('our receipt payload does not name the message');

    const [np, niv] = run('retry-notify', id, mk.toString('hex'), '/v/t62.7118-24/x.enc?ccb=9').split(' ');
    const m = decryptMediaRetryData({ ciphertext: Buffer.from(np, 'hex'), iv: Buffer.from(niv, 'hex') }, mk, id);
    if (m.directPath !== '/v/t62.7118-24/x.enc?ccb=9' || m.result !== proto.MediaRetryNotification.ResultType.SUCCESS) {
      fail('Baileys reads another notification than we built');
    }
    const iv = crypto.randomBytes(12);
    const plain = proto.MediaRetryNotification.encode({ stanzaId: id, directPath: '/v/new', result: 1 }).finish();
    const ct = aesEncryptGCM(plain, retryKey(mk), iv, Buffer.from(id));
    const opened = run('retry-open', id, mk.toString('hex'), ct.toString('hex'), iv.toString('hex'));
    if (opened !== '1 /v/new') fail(`we read Baileys' notification as ${opened}`);
    const wrong = run('retry-open', id, crypto.randomBytes(32).toString('hex'), ct.toString('hex'), iv.toString('hex'));
    if (wrong !== 'ERROR media_corrupt') fail('a notification under another key was accepted');
  }
} finally {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`media: ${n} bodies identical to Baileys' and cross-decrypted; retry payloads cross-read`);
