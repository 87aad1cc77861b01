// Bob is offline while Alice sends 5 messages; when Bob reconnects the
// server delivers all 5 between offline_preview and offline, and Bob decrypts
// them. usage: node offline_queue.mjs <interop dir> <wa-testserver>
import { runScenario, fail } from './harness.mjs';

await runScenario(['alice', 'bob'], async ({ server, verifier, clients }) => {
  const [alice, bob] = clients;
  await alice.pair('155511');
  await bob.pair('155512');
  await alice.send(bob.user, 'warm-up');
  await bob.wait(() => bob.texts().includes('warm-up'), 15000, 'warm-up text');

  await bob.close();
  await bob.wait(() => !bob.open, 5000, 'bob closed');
  // The server must see Bob gone before Alice sends, or it would route live.
  await waitStatus(server, (s) => s.online === 1, 10000);

  const texts = ['one', 'two', 'three', 'four', 'five'];
  for (const t of texts) {
    await alice.send(bob.user, t);
  }
  await waitStatus(server, (s) => queued(s, '155512') === 5, 10000);

  bob.stopped = false;
  bob.received.length = 0;
  await bob.connect();
  await bob.wait(() => texts.every((t) => bob.texts().includes(t)), 20000, 'all 5 queued texts');
  const order = bob.texts().filter((t) => texts.includes(t));
  if (order.join(',') !== texts.join(',')) fail('queued texts out of order: ' + order.join(','));
  await waitStatus(server, (s) => queued(s, '155512') === 0, 10000);
  console.log('offline queue: 5 messages delivered on reconnect, in order: ok');
});

function queued(status, phone) {
  const acc = status.accounts.find((a) => a.phone === phone);
  return acc ? acc.devices.reduce((n, d) => n + d.queued, 0) : -1;
}

// Admin status is a request, not an event: poll it with a deadline.
async function waitStatus(server, pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await server.admin('status', '--json');
    const s = JSON.parse(r.stdout).result;
    if (pred(s)) return s;
    if (Date.now() > end) fail('status condition not reached: ' + r.stdout);
    await new Promise((res) => setTimeout(res, 100));
  }
}
