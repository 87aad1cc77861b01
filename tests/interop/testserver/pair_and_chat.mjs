// Two stock Baileys clients pair through wa-testserver (QR -> scan ->
// pair-success -> 515 -> login), reach `open`, and exchange texts that both
// decrypt. Certificate chains and pairing signatures are checked with the npm
// libsignal. usage: node pair_and_chat.mjs <interop dir> <wa-testserver>
import { loadBaileys, startServer, Client, makeVerifier, fail } from './harness.mjs';

const [interopDir, bin] = process.argv.slice(2);
const B = await loadBaileys(interopDir);
const verifier = makeVerifier(B.require, B.proto, B.Curve);
const server = await startServer(bin);
B.WA_CERT_DETAILS.PUBLIC_KEY = server.root;
const deadline = setTimeout(() => fail('test took longer than 55 s'), 55000);
const alice = new Client(B, server, 'alice');
const bob = new Client(B, server, 'bob');
try {
  await alice.pair('155501');
  await bob.pair('155502');
  verifier.checkAccount(alice.state.creds);
  verifier.checkAccount(bob.state.creds);
  if (!alice.jid.startsWith('155501:')) fail('alice jid ' + alice.jid);
  if (verifier.checkChains(server.root) < 4) fail('expected 4 handshakes (2 per client)');

  await alice.send(bob.user, 'hello bob');
  await bob.wait(() => bob.texts().includes('hello bob'), 15000, 'text from alice');
  await bob.send(alice.user, 'hello alice');
  await alice.wait(() => alice.texts().includes('hello alice'), 15000, 'text from bob');
  await alice.send(bob.user, 'second');
  await bob.wait(() => bob.texts().includes('second'), 15000, 'second text');

  const status = await server.admin('status', '--json');
  const st = JSON.parse(status.stdout);
  if (st.result.online !== 2) fail('status: expected 2 online, got ' + status.stdout);
  console.log('pairing, open, 1:1 texts both ways: ok');
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await alice.close(); await bob.close();
  await server.stop();
  alice.cleanup(); bob.cleanup();
  clearTimeout(deadline);
}
process.exit(0);
