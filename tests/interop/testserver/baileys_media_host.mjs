// Stock Baileys uses wa-testserver's media host: alice sends a document
// (media_conn -> HTTPS upload -> <message type="media">), bob downloads and
// decrypts it; after `media-expire` bob's download fails, bob asks for a
// re-upload (server-error receipt), the emulated phone answers with a new
// direct path (the test tells it the media key, as the real phone knows it
// from its copy) and the new path downloads the same bytes.
// usage: node baileys_media_host.mjs <interop dir> <wa-testserver>
import { randomBytes } from 'node:crypto';
import { runScenario, fail, prepareMediaCa } from './harness.mjs';

// The media host's certificate is checked: prepareMediaCa runs this script
// again trusting the server's test CA (see harness.mjs).
await prepareMediaCa();

await runScenario(['alice', 'bob'], async ({ B, server, clients }) => {
  const [alice, bob] = clients;
  await alice.pair('155531');
  await bob.pair('155532');
  const docs = [];
  bob.sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) if (m.message?.documentMessage && !m.key.fromMe) docs.push(m);
    bob.notify();
  });
  const data = randomBytes(300000);
  const sent = await alice.sock.sendMessage(bob.user, { document: data, mimetype: 'application/octet-stream', fileName: 'blob.bin' });
  alice.sent.set(sent.key.id, sent.message);
  await bob.wait(() => docs.length > 0, 20000, 'document from alice');
  const msg = docs[0];
  const doc = msg.message.documentMessage;
  if (!doc.url.startsWith('https://127.0.0.1:')) fail('upload url ' + doc.url);
  const first = await B.baileys.downloadMediaMessage(msg, 'buffer', {});
  if (!Buffer.from(first).equals(data)) fail('downloaded bytes differ from what alice sent');

  const oldPath = doc.directPath;
  const exp = await server.admin('media-expire', oldPath);
  if (exp.code !== 0) fail('media-expire: ' + exp.stderr);
  let status = 0;
  try { await B.baileys.downloadMediaMessage(msg, 'buffer', {}); } catch (e) { status = e?.output?.statusCode ?? e?.status ?? -1; }
  if (status !== 410) fail('expected 410 after expiry, got ' + status);

  const key = await server.admin('media-retry-key', msg.key.id, Buffer.from(doc.mediaKey).toString('base64'), oldPath);
  if (key.code !== 0) fail('media-retry-key: ' + key.stderr);
  // Baileys builds the new URL from its media_conn host (mmg.whatsapp.net
  // until it asked once): bob asks, as a client that uploaded before would have.
  await bob.sock.refreshMediaConn(true);
  if (!bob.sock.getMediaHost().startsWith('127.0.0.1:')) fail('media host ' + bob.sock.getMediaHost());
  const updated = await bob.sock.updateMediaMessage(msg);
  const newPath = updated.message.documentMessage.directPath;
  if (!newPath || newPath === oldPath) fail('no new direct path after the media retry');
  const again = await B.baileys.downloadMediaMessage(updated, 'buffer', {});
  if (!Buffer.from(again).equals(data)) fail('re-uploaded bytes differ');

  const st = JSON.parse((await server.admin('status', '--json')).stdout).result.media.counters;
  if (st.uploads !== 1 || st.retries_served !== 1 || st.expired_hits < 1) fail('media counters ' + JSON.stringify(st));
  console.log('media upload, download, expiry and re-upload with Baileys: ok');
});
