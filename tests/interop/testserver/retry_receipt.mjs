// Retry round trip: Bob loses his Signal session with Alice, cannot decrypt
// her next message, sends a retry receipt (routed to Alice's exact device),
// Alice re-encrypts for that device (routed back to Bob's device) and Bob
// decrypts it. usage: node retry_receipt.mjs <interop dir> <wa-testserver>
import { runScenario, fail } from './harness.mjs';

await runScenario(['alice', 'bob'], async ({ server, verifier, clients }) => {
  const [alice, bob] = clients;
  await alice.pair('155531');
  await bob.pair('155532');
  await alice.send(bob.user, 'before loss');
  await bob.wait(() => bob.texts().includes('before loss'), 15000, 'first text');
  await bob.send(alice.user, 'reply');
  await alice.wait(() => alice.texts().includes('reply'), 15000, 'reply');

  // Bob forgets every session with Alice (PN and LID addresses).
  const aliceUsers = [alice.jid.split(':')[0], alice.state.creds.me.lid?.split(':')[0]].filter(Boolean);
  const lost = {};
  for (const f of bob.sessionFiles()) {
    const id = f.slice('session-'.length, -'.json'.length);
    if (aliceUsers.some((u) => id.startsWith(u + '_') || id.startsWith(u + '.'))) lost[id] = null;
  }
  if (Object.keys(lost).length === 0) fail('bob has no session with alice to lose: ' + bob.sessionFiles().join(','));
  await bob.state.keys.set({ session: lost });

  const before = await counters(server);
  const m = await alice.send(bob.user, 'after loss');
  await bob.wait(() => bob.texts().includes('after loss'), 30000, 'text decrypted after retry');
  const after = await counters(server);
  // The copy Bob decrypted must be the resend: he sent a retry receipt for it.
  if (after.retry_receipts <= before.retry_receipts) fail('no retry receipt went through the server');
  if (!bob.received.some((r) => r.id === m.key.id && r.text === 'after loss')) fail('decrypted message has another id');
  console.log('retry receipt round trip: resent message decrypted: ok');
});

async function counters(srv) {
  const r = await srv.admin('status', '--json');
  return JSON.parse(r.stdout).result.counters;
}
