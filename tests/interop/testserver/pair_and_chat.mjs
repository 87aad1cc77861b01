// Two stock Baileys clients pair through wa-testserver (QR -> scan ->
// pair-success -> 515 -> login), reach `open`, and exchange texts that both
// decrypt. Certificate chains and pairing signatures are checked with the npm
// libsignal. usage: node pair_and_chat.mjs <interop dir> <wa-testserver>
import { runScenario, fail } from './harness.mjs';

await runScenario(['alice', 'bob'], async ({ server, verifier, clients }) => {
  const [alice, bob] = clients;
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
});
