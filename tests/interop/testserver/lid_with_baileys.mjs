// Stock Baileys and OUR account on the LID-first server (--addressing lid,
// every account LID-migrated): 1:1 both ways and a LID group both ways.
// Baileys writes to whatever JID its app gives it; an app talking to a
// migrated account uses its LID (as WhatsApp Web does), so Alice writes to
// our LID; we write to Alice's phone number and our client resolves it to her
// LID. Every message must arrive exactly once, with the right text and chat
// (both identities on our events), nothing undecryptable on our side.
// usage: node lid_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: lid_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');

const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');

await runScenario(['alice', 'bob'], async ({ server, clients }) => {
  const [alice, bob] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    const ourPn = await ours.pair('155571');
    const open = ours.events.find((e) => e.type === 'connection' && e.state === 'open');
    const ourLid = userOf(open.lid);
    if (!ourLid.endsWith('@lid')) throw new Error('our account has no LID: ' + JSON.stringify(open));
    await alice.pair('155572');
    await bob.pair('155573');
    const aliceLid = userOf(alice.state.creds.me?.lid);
    if (!aliceLid.endsWith('@lid')) throw new Error('alice has no LID: ' + JSON.stringify(alice.state.creds.me));

    const arrived = (text) => (ev) => ev.find((e) => e.type === 'message' && e.text === text);
    const ourMessage = async (text) => ours.wait(arrived(text), 20000, 'message ' + JSON.stringify(text));

    // Baileys -> us, addressed to our LID: a pkmsg, then a msg.
    for (const text of ['alice to our lid', 'alice again']) {
      await alice.send(ourLid, text);
      const m = await ourMessage(text);
      if (m.chat !== aliceLid) throw new Error(`${text}: chat ${m.chat}, expected ${aliceLid}`);
      if (m.chat_pn !== alice.user) throw new Error(`${text}: chat_pn ${m.chat_pn}, expected ${alice.user}`);
      if (userOf(m.sender) !== aliceLid) throw new Error(`${text}: sender ${m.sender}`);
    }

    // us -> Baileys, given her phone number: our client writes to her LID.
    const got = (client, id, text) =>
      client.wait(() => client.received.find((m) => m.id === id && m.text === text && !m.fromMe), 20000,
        `${JSON.stringify(text)} (${id})`);
    for (const text of ['ours to alice by number', 'ours again']) {
      const r = await ours.send(alice.user, text);
      const m = await got(alice, r.id, text);
      if (m.from !== ourLid) throw new Error(`alice got ${text} from ${m.from}, expected our LID ${ourLid}`);
    }

    // A LID group made by us with Alice and Bob (by number); both ways.
    const created = await ours.call({ cmd: 'group_create', profile: 'ours', subject: 'lid group', participants: [alice.user, bob.user] });
    if (!created.ok) throw new Error('group_create: ' + JSON.stringify(created));
    if (created.result.addressing_mode !== 'lid') throw new Error('not a LID group: ' + JSON.stringify(created.result));
    const gid = created.result.gid;
    const r = await ours.send(gid, 'group hello from ours');
    for (const c of [alice, bob]) {
      const m = await got(c, r.id, 'group hello from ours');
      if (m.from !== gid || userOf(m.participant) !== ourLid) throw new Error(`${c.name}: group message ${JSON.stringify(m)}`);
    }
    await bob.send(gid, 'group hello from bob');
    const g = await ourMessage('group hello from bob');
    if (g.chat !== gid) throw new Error('bob\'s group message in chat ' + g.chat);
    if (userOf(g.sender_pn) !== bob.user) throw new Error('bob\'s group message sender_pn ' + g.sender_pn);
    if (!String(g.sender).endsWith('@lid')) throw new Error('bob\'s group message sender ' + g.sender);

    const bad = ours.events.filter((e) => e.type === 'undecryptable');
    if (bad.length) throw new Error('undecryptable on our side: ' + JSON.stringify(bad));
    const dup = ours.events.filter((e) => e.type === 'message').map((e) => e.id);
    if (new Set(dup).size !== dup.length) throw new Error('a message arrived twice');
    console.log('lid-first server: baileys <-> ours, 1:1 and a LID group, both ways: ok');
  } finally {
    await ours.stop();
  }
}, { serveArgs: ['--addressing', 'lid'] });
