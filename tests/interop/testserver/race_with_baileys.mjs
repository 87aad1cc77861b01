// The send/receive race with stock Baileys: OUR account and a Baileys client
// send to each other at the same time, 100 rounds, several rounds in flight.
// Baileys' own ratchet can reuse a message key when it encrypts concurrently
// (the same counter under two message ids); our side must answer that with
// a retry receipt, not a NACK, and Baileys (given a getMessage over what it
// sent, as any real client has) re-encrypts. When Baileys asks us with keys,
// our new session must not throw away the state its in-flight messages use.
// Every message must arrive, exactly once, both ways: 100/100.
// usage: node race_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: race_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const ROUNDS = 100;
const LANES = Number(process.env.RACE_LANES || 1);  // rounds in flight at once

await runScenario(['alice'], async ({ server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    const ourUser = await ours.pair('155561');
    await alice.pair('155562');
    // One message each way first: both sessions exist before the race.
    await ours.send(alice.user, 'warm up ours');
    await alice.wait(() => alice.texts().includes('warm up ours'), 15000, 'warm up from ours');
    await alice.send(ourUser, 'warm up alice');
    await ours.wait((ev) => ev.some((e) => e.type === 'message' && e.text === 'warm up alice'), 15000, 'warm up from alice');

    const counters = async () => JSON.parse((await server.admin('status', '--json')).stdout).result.counters;
    const before = await counters();
    let next = 0;
    const errors = [];
    await Promise.all(Array.from({ length: LANES }, async () => {
      for (let i = next++; i < ROUNDS; i = next++) {
        const results = await Promise.allSettled([ours.send(alice.user, 'ours ' + i), alice.send(ourUser, 'alice ' + i)]);
        for (const r of results) if (r.status === 'rejected') errors.push(String(r.reason));
      }
    }));
    if (errors.length) throw new Error(`${errors.length} sends failed: ${errors.slice(0, 3).join('; ')}`);

    const wantAtAlice = new Set(Array.from({ length: ROUNDS }, (_, i) => 'ours ' + i));
    const wantAtOurs = new Set(Array.from({ length: ROUNDS }, (_, i) => 'alice ' + i));
    const atAlice = () => alice.texts((m) => m.from === ourUser).filter((t) => wantAtAlice.has(t));
    const atOurs = () => ours.events.filter((e) => e.type === 'message' && e.chat === alice.user && wantAtOurs.has(e.text)).map((e) => e.text);
    const report = () => `ours -> baileys ${new Set(atAlice()).size}/${ROUNDS}, baileys -> ours ${new Set(atOurs()).size}/${ROUNDS}`;
    try {
      await Promise.all([
        alice.wait(() => new Set(atAlice()).size === ROUNDS, 30000, 'every message from ours'),
        ours.wait(() => new Set(atOurs()).size === ROUNDS, 30000, 'every message from alice'),
      ]);
    } catch (e) {
      const bad = ours.events.filter((ev) => ev.type === 'undecryptable').map((ev) => ev.reason);
      throw new Error(`${e.message}: ${report()}; our undecryptable: ${JSON.stringify(bad)}`);
    }
    // Exactly once each way.
    if (atAlice().length !== ROUNDS) throw new Error(`baileys read ${atAlice().length} copies of ${ROUNDS} messages`);
    if (atOurs().length !== ROUNDS) throw new Error(`we announced ${atOurs().length} copies of ${ROUNDS} messages`);
    // Events name the user JID as the chat, undecryptable ones too.
    for (const e of ours.events.filter((ev) => ev.type === 'undecryptable'))
      if (e.chat !== alice.user) throw new Error('undecryptable event with chat ' + e.chat);
    const after = await counters();
    const recovered = ours.events.filter((e) => e.type === 'undecryptable').length;
    console.log(`race with Baileys, ${ROUNDS} rounds, ${LANES} in flight: ${report()} ` +
      `(${recovered} recovered through retry receipts here, ${after.retry_receipts - before.retry_receipts} retry receipts in all): ok`);
  } finally {
    await ours.stop();
  }
});
