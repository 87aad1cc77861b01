// Phone-number-code pairing (link_code_companion_reg) with stock Baileys,
// then injected faults as Baileys sees them: stream errors, refused logins,
// a client sending a malformed frame (closed alone). usage:
// node link_code_and_faults.mjs <interop dir> <wa-testserver>
import path from 'path';
import { runScenario, fail } from './harness.mjs';

await runScenario(['carol', 'dave'], async ({ server, verifier, clients, interopDir }) => {
  const [carol, dave] = clients;
  await carol.connect();
  await carol.wait(() => carol.qr, 20000, 'first QR');
  const code = await carol.sock.requestPairingCode('155541');
  const r = await server.admin('link-code', '--phone', '155541', '--code', code);
  if (r.code !== 0) fail('link-code failed: ' + r.stderr);
  await carol.wait(() => carol.open, 30000, 'open after code pairing');
  verifier.checkAccount(carol.state.creds);
  if (!carol.jid.startsWith('155541:')) fail('carol jid ' + carol.jid);
  await dave.pair('155542');

  // A wrong code is refused at the admin socket (nothing was asked for it).
  const bad = await server.admin('link-code', '--phone', '155549', '--code', 'AAAA-BBBB');
  if (bad.code === 0) fail('link-code for an unknown request succeeded');

  // stream error 503: Baileys closes with 503.
  const jid = carol.jid;
  let f = await server.admin('fault', '--jid', jid, 'stream-error', '503');
  if (f.code !== 0) fail('fault failed: ' + f.stderr);
  await carol.wait(() => !carol.open && carol.closedFor === 503, 10000, 'close with 503');

  // refused login: the reconnect gets <failure reason=403>.
  f = await server.admin('fault', '--phone', '155541', 'refuse-login', '403');
  if (f.code !== 0) fail('refuse-login failed: ' + f.stderr);
  carol.closedFor = null;
  await carol.connect();
  await carol.wait(() => carol.closedFor === 403, 10000, 'login refused with 403');
  await server.admin('fault', '--phone', '155541', 'clear');
  await carol.connect();
  await carol.wait(() => carol.open, 10000, 'open after clearing the refusal');

  // replaced: Baileys maps <conflict type=replaced> to 440.
  await server.admin('fault', '--jid', jid, 'stream-error', 'replaced');
  await carol.wait(() => carol.closedFor === 440, 10000, 'close with 440');

  // Stock Baileys crashes (uncaught decode error) on a malformed frame, so
  // that fault is for our own client; here the server's side is checked: a
  // client sending a bad frame is closed, nobody else is.
  await carol.connect();
  await carol.wait(() => carol.open, 10000, 'open again');
  const { default: WebSocket } = await import(path.join(path.resolve(interopDir), 'node_modules/ws/index.js'));
  const junk = new WebSocket(`ws://127.0.0.1:${server.port}/ws/chat`);
  await new Promise((res, rej) => { junk.on('open', res); junk.on('error', rej); });
  const closed = new Promise((res) => junk.on('close', res));
  junk.send(Buffer.from([0x57, 0x41, 0x06, 0x03, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5]));
  await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('server kept a bad client')), 10000))]);
  await carol.send(dave.user, 'still here');
  await dave.wait(() => dave.texts().includes('still here'), 15000, 'text after faults');
  console.log('link-code pairing and injected faults: ok');
});
