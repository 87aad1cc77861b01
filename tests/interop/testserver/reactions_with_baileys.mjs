// Reactions between stock Baileys and OUR account on the LID-first server:
// Baileys reacts to our message (we get a `reaction` event naming it), takes
// it back (an empty emoji); we react to Baileys' message (its messages.upsert
// carries a reactionMessage with our emoji and the right key).
// usage: node reactions_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: reactions_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');

await runScenario(['alice'], async ({ server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    await ours.pair('155601');
    const ourLid = userOf(ours.events.find((e) => e.type === 'connection' && e.state === 'open').lid);
    await alice.pair('155602');

    // Baileys reacts to a message of ours.
    const r = await ours.send(alice.user, 'react to this, alice');
    const got = await alice.wait(() => alice.received.find((m) => m.id === r.id), 20000, 'our message');
    const reaction = (emoji) => ours.wait((all) => all.find((e) => e.type === 'reaction' && e.target_id === r.id &&
      e.emoji === emoji), 20000, `reaction ${JSON.stringify(emoji)}`);
    for (const emoji of ['👍', '']) {
      await alice.sock.sendMessage(got.from, { react: { text: emoji, key: got.raw.key } });
      const ev = await reaction(emoji);
      if (ev.target_from_me !== true) throw new Error('reaction not to our message: ' + JSON.stringify(ev));
      if (ev.removed !== (emoji === '')) throw new Error('removed flag wrong: ' + JSON.stringify(ev));
    }

    // We react to a message of Baileys'.
    const b = await alice.send(ourLid, 'and you react to this');
    const ev = await ours.wait((all) => all.find((e) => e.type === 'message' && e.id === b.key.id), 20000, 'alice message');
    const res = await ours.call({ cmd: 'react', profile: 'ours', chat: ev.chat, id: ev.id, emoji: '🎉', client_id: 'r1' });
    if (!res.ok) throw new Error('react: ' + JSON.stringify(res));
    const up = await alice.wait(() => alice.received.find((m) => m.raw?.message?.reactionMessage?.text === '🎉'), 20000,
      'our reaction');
    const key = up.raw.message.reactionMessage.key;
    if (key.id !== b.key.id) throw new Error('our reaction names ' + key.id + ', not ' + b.key.id);
    // Baileys turns the key to its own side: the target is alice's own message.
    if (!key.fromMe) throw new Error('our reaction does not name alice\'s own message: ' + JSON.stringify(key));
    const bad = ours.events.filter((e) => e.type === 'undecryptable');
    if (bad.length) throw new Error('undecryptable on our side: ' + JSON.stringify(bad));
    console.log('reactions: baileys -> ours (set, removed) and ours -> baileys: ok');
  } finally {
    await ours.stop();
  }
}, { serveArgs: ['--addressing', 'lid'] });

