// OUR account (wa-supervisor + wa-connection + wa-sender) sends to stock
// Baileys clients: 1:1 (a pkmsg, then a msg on the same session), a group
// (pairwise SKDM + skmsg, then skmsg only), and a retry round: a Baileys
// client that lost its session with us asks again and decrypts our re-send.
// Every message must be read by Baileys with the right text, id and chat.
// usage: node send_to_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: send_to_baileys.mjs <interop dir> <wa-testserver> <bin dir>');

await runScenario(['alice', 'bob'], async ({ server, clients }) => {
  const [alice, bob] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    const ourUser = await ours.pair('155551');
    await alice.pair('155552');
    await bob.pair('155553');

    const got = (client, id, text, chat) =>
      client.wait(() => client.received.find((m) => m.id === id && m.text === text && m.from === chat && !m.fromMe),
        20000, `${JSON.stringify(text)} (${id})`);

    // 1:1: the first message opens the session (pkmsg), the second rides it.
    for (const text of ['hello alice from ours', 'second on the same session']) {
      const r = await ours.send(alice.user, text);
      await got(alice, r.id, text, ourUser);
    }

    // Group created by Alice with Bob and us; we send into it twice.
    const group = await alice.sock.groupCreate('ours sends here', [bob.user, ourUser]);
    for (const text of ['group hello from ours', 'group again from ours']) {
      const r = await ours.send(group.id, text);
      for (const c of [alice, bob]) {
        const m = await got(c, r.id, text, group.id);
        if (!m.participant || !m.participant.startsWith('155551')) throw new Error(`${c.name}: group message from ${m.participant}`);
      }
    }

    // Bob forgets every session with us; our next message reaches him only
    // through his retry receipt and our re-send (same id).
    // Baileys keys sessions by our PN or our LID user.
    const open = ours.events.find((e) => e.type === 'connection' && e.state === 'open');
    const ourUsers = ['155551', (open.lid || '').split(/[:@]/)[0]].filter(Boolean);
    const lost = {};
    for (const f of bob.sessionFiles()) {
      const id = f.slice('session-'.length, -'.json'.length);
      if (ourUsers.some((u) => id.startsWith(u + '_') || id.startsWith(u + '.'))) lost[id] = null;
    }
    if (Object.keys(lost).length === 0) throw new Error('bob has no session with us: ' + bob.sessionFiles().join(','));
    await bob.state.keys.set({ session: lost });
    const before = JSON.parse((await server.admin('status', '--json')).stdout).result.counters;
    const r = await ours.send(bob.user, 'after bob lost his session');
    await got(bob, r.id, 'after bob lost his session', ourUser);
    const after = JSON.parse((await server.admin('status', '--json')).stdout).result.counters;
    if (after.retry_receipts <= before.retry_receipts) throw new Error('bob decrypted without a retry receipt: the test proves nothing');
    console.log('ours -> baileys: 1:1, group and a retry re-send decrypt with the right text: ok');
  } finally {
    await ours.stop();
  }
});
