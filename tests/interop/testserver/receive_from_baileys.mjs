// Stock Baileys clients send to OUR account (wa-supervisor + wa-connection,
// paired through the server's emulated phone): 1:1 messages (first a pkmsg,
// then a msg on the same session) and group messages (pairwise SKDM, then
// skmsg only). Every one must arrive as a `message` event with the right
// text, chat and sender, exactly once.
// usage: node receive_from_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: receive_from_baileys.mjs <interop dir> <wa-testserver> <bin dir>');

await runScenario(['alice', 'bob'], async ({ server, clients }) => {
  const [alice, bob] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    // Paired the way a phone does: it scans the QR of our `qr` event.
    const ourUser = await ours.pair('155541');

    await alice.pair('155542');
    await bob.pair('155543');

    const messages = (ev) => ev.filter((e) => e.type === 'message');
    const arrived = (text) => (ev) => messages(ev).find((e) => e.text === text);
    const expect = async (text, chat, senderJid) => {
      const m = await ours.wait(arrived(text), 20000, 'message ' + JSON.stringify(text));
      if (m.chat !== chat) fail(`${text}: chat ${m.chat}, expected ${chat}`);
      if (m.sender !== senderJid) fail(`${text}: sender ${m.sender}, expected ${senderJid}`);
      if (m.from_me !== false) fail(`${text}: from_me`);
      if (typeof m.id !== 'string' || m.id.length === 0) fail(`${text}: no id`);
      return m;
    };

    // 1:1: a new session (pkmsg), then the same session (msg), from two senders.
    const sent = [];
    for (const [client, texts] of [[alice, ['hello from alice', 'alice again']], [bob, ['hello from bob', 'bob again']]]) {
      for (const t of texts) {
        const m = await client.send(ourUser, t);
        sent.push(m.key.id);
        await expect(t, client.user, client.jid);
      }
    }

    // A group of alice, bob and us: the first message of each sender carries
    // its sender key (pairwise), the second is skmsg only.
    const group = await alice.sock.groupCreate('receive interop', [bob.user, ourUser]);
    for (const [client, texts] of [[alice, ['group: alice 1', 'group: alice 2']], [bob, ['group: bob 1', 'group: bob 2']]]) {
      for (const t of texts) {
        const m = await client.send(group.id, t);
        sent.push(m.key.id);
        await expect(t, group.id, client.jid);
      }
    }

    // Exactly once each, and nothing undecryptable.
    for (const id of sent) {
      const n = messages(ours.events).filter((e) => e.id === id).length;
      if (n !== 1) fail(`message ${id} announced ${n} times`);
    }
    const bad = ours.events.filter((e) => e.type === 'undecryptable');
    if (bad.length) fail('undecryptable: ' + JSON.stringify(bad));
    // The senders hear our delivery receipts (Baileys marks its messages delivered).
    console.log(`our account received ${sent.length} messages from 2 Baileys clients (1:1 and group) as message events: ok`);
  } finally {
    await ours.stop();
  }
});
