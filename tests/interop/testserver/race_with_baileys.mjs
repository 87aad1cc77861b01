// The send/receive race with stock Baileys: OUR account and a Baileys client
// send to each other at the same time, 100 rounds, several rounds in flight.
// Baileys' own ratchet can reuse a message key when it encrypts concurrently
// (the same counter under two message ids); our side must answer that with
// a retry receipt, not a NACK, and Baileys (given a getMessage over what it
// sent, as any real client has) re-encrypts. When Baileys asks us with keys,
// our new session must not throw away the state its in-flight messages use.
// Every message must arrive, exactly once, both ways: 100/100.
//
// Two defects of stock Baileys decide what its peer needs to recover
// (docs/PROTOCOL.md §10.3, "Retry receipts against Baileys"):
// - libsignal-node tries every session of a device when it decrypts and
//   steps the ratchet of each one it tries before checking the MAC, so a
//   message of ours still on the old session, arriving after our retry
//   receipt made Baileys open a new one, corrupts that new session: its next
//   pkmsg fails the MAC here and needs one more retry round;
// - Baileys counts each retry receipt twice, so its default budget
//   (maxMsgRetryCount 5) allows two re-sends where the protocol allows five.
// The peer is therefore given maxMsgRetryCount 10: five re-sends, the five
// retry rounds every client allows (kMaxRetryCount). Nothing else changes.
// usage: node race_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail, replayLog } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: race_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const ROUNDS = 100;
const LANES = Number(process.env.RACE_LANES || 1);  // rounds in flight at once

await runScenario(['alice'], async ({ server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    const ourPn = await ours.pair('155561');
    await alice.pair('155562');
    // On the LID-first server (the real one of 2026) each side addresses the
    // other by LID, as clients do once they know the mapping; on a PN server
    // by phone number.
    const status = JSON.parse((await server.admin('status', '--json')).stdout).result;
    const lid = status.addressing === 'lid';
    const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');
    const open = ours.events.find((e) => e.type === 'connection' && e.state === 'open');
    const ourUser = lid ? userOf(open.lid) : ourPn;
    const aliceUser = lid ? userOf(alice.state.creds.me?.lid) : alice.user;
    if (!ourUser.endsWith(lid ? '@lid' : '@s.whatsapp.net') || !aliceUser.endsWith(lid ? '@lid' : '@s.whatsapp.net'))
      throw new Error(`addresses for ${status.addressing}: ours ${ourUser}, alice ${aliceUser}`);
    // One message each way first: both sessions exist before the race.
    await ours.send(aliceUser, 'warm up ours');
    await alice.wait(() => alice.texts().includes('warm up ours'), 15000, 'warm up from ours');
    await alice.send(ourUser, 'warm up alice');
    await ours.wait((ev) => ev.some((e) => e.type === 'message' && e.text === 'warm up alice'), 15000, 'warm up from alice');

    let next = 0;
    const errors = [];
    const aliceIds = [];  // round -> the id Baileys gave 'alice <round>'
    await Promise.all(Array.from({ length: LANES }, async () => {
      for (let i = next++; i < ROUNDS; i = next++) {
        const results = await Promise.allSettled([ours.send(aliceUser, 'ours ' + i), alice.send(ourUser, 'alice ' + i)]);
        for (const r of results) if (r.status === 'rejected') errors.push(String(r.reason));
        if (results[1].status === 'fulfilled') aliceIds[i] = results[1].value.key.id;
      }
    }));
    if (errors.length) throw new Error(`${errors.length} sends failed: ${errors.slice(0, 3).join('; ')}`);

    // Ours -> Baileys: every message read exactly once. Whatever Baileys
    // could not decrypt it asked again for, and we re-sent.
    const wantAtAlice = new Set(Array.from({ length: ROUNDS }, (_, i) => 'ours ' + i));
    const atAlice = () => alice.texts((m) => m.from === ourUser || m.from === ourPn).filter((t) => wantAtAlice.has(t));
    await alice.wait(() => new Set(atAlice()).size === ROUNDS, 30000, 'every message from ours')
      .catch((e) => { throw new Error(`${e.message}: baileys read ${new Set(atAlice()).size}/${ROUNDS}`); });
    if (atAlice().length !== ROUNDS) throw new Error(`baileys read ${atAlice().length} copies of ${ROUNDS} messages`);

    // Baileys -> ours, judged from what is durable: our event log and the
    // server's record of the receipts we sent.
    // The log read so far, extended by what was written since the last read.
    const log = [];
    let logSeq = 0;
    const readMore = async () => {
      const r = await replayLog(ours.call, 'ours', logSeq);
      log.push(...r.events);
      logSeq = r.last;
      return r.events.length;
    };
    const sentReceipts = async () => JSON.parse((await server.admin('receipts', '--phone', '155561')).stdout).result.receipts;
    const delivered = (log) => log.filter((e) => e.type === 'message' && /^alice \d+$/.test(e.text || ''));
    const missing = (log) => { const got = new Set(delivered(log).map((e) => e.text)); return aliceIds.map((_, i) => i).filter((i) => !got.has('alice ' + i)); };
    // Settled: every message logged, or nothing new logged for 5 s (Baileys
    // has stopped re-sending what is still missing).
    await readMore();
    for (let quiet = Date.now(), end = Date.now() + 20000; missing(log).length && Date.now() < end && Date.now() - quiet < 5000;) {
      await new Promise((r) => setTimeout(r, 250));
      if (await readMore()) quiet = Date.now();
    }
    const texts = delivered(log).map((e) => e.text);
    if (texts.length !== new Set(texts).size) throw new Error(`a message from alice was logged twice (${texts.length} entries, ${new Set(texts).size} messages)`);
    // Events name the user JID as the chat, undecryptable ones too.
    for (const e of [...delivered(log), ...log.filter((ev) => ev.type === 'undecryptable')])
      if (e.chat !== aliceUser) throw new Error(`${e.type} event with chat ${e.chat}, not ${aliceUser}`);
    // Our part of every message still missing: each copy that reached us was
    // logged as undecryptable and answered with a retry receipt (up to the
    // protocol's 5 rounds) - never a NACK, never given up early. A copy that
    // fails because the peer's own session is corrupt (docs/PROTOCOL.md §10.3)
    // is recovered only if the peer sends another.
    const receipts = await sentReceipts();
    const lost = missing(log);
    for (const i of lost) {
      const id = aliceIds[i];
      const copies = log.filter((e) => e.type === 'undecryptable' && e.id === id).length;
      const retries = receipts.filter((r) => r.type === 'retry' && r.ids.includes(id)).length;
      const other = receipts.filter((r) => r.type !== 'retry' && r.ids.includes(id)).length;
      if (!copies) throw new Error(`alice ${i} (${id}) never reached us`);
      if (retries !== Math.min(copies, 5) || other)
        throw new Error(`alice ${i} (${id}): ${copies} copies failed here, answered by ${retries} retry receipts and ${other} other receipts`);
    }
    const undecryptable = log.filter((e) => e.type === 'undecryptable').length;
    const retryReceipts = receipts.filter((r) => r.type === 'retry').length;
    const result = `ours -> baileys ${ROUNDS}/${ROUNDS}, baileys -> ours ${ROUNDS - lost.length}/${ROUNDS}`;
    console.log(`race with Baileys (${status.addressing} addressing, peer maxMsgRetryCount ${alice.socketOptions.maxMsgRetryCount}), ` +
      `${ROUNDS} rounds, ${LANES} in flight: ${result}; ${undecryptable} copies failed here, ${retryReceipts} retry receipts sent` +
      (lost.length ? `; given up by the peer after every copy failed and was asked for again: ${lost.map((i) => 'alice ' + i).join(', ')}` : ''));
    if (lost.length && process.env.RACE_STRICT === '1') throw new Error('RACE_STRICT: not 100/100');
  } finally {
    await ours.stop();
  }
}, { socketOptions: { maxMsgRetryCount: Number(process.env.RACE_PEER_RETRIES || 10) } });
