// Presence between stock Baileys and OUR account on the LID-first server:
// we subscribe to Baileys' presence and get `presence` events as it goes
// available / unavailable (with last seen); Baileys subscribes to ours and
// its presence.update follows our presence_set.
// usage: node presence_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: presence_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');

await runScenario(['alice'], async ({ server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    await ours.pair('155701');
    const ourLid = userOf(ours.events.find((e) => e.type === 'connection' && e.state === 'open').lid);
    await alice.pair('155702');
    const aliceLid = userOf(alice.state.creds.me.lid);
    if (!aliceLid.endsWith('@lid')) throw new Error('alice has no LID: ' + JSON.stringify(alice.state.creds.me));
    const seen = [];
    alice.sock.ev.on('presence.update', (u) => { seen.push(u); alice.notify(); });
    // Baileys sends presence only with a push name.
    alice.state.creds.me.name = 'Alice';

    const call = async (req) => {
      const r = await ours.call({ profile: 'ours', ...req });
      if (!r.ok) throw new Error(req.cmd + ': ' + JSON.stringify(r));
      return r.result;
    };
    await call({ cmd: 'presence_set', state: 'available', name: 'Ours' });
    await alice.sock.sendPresenceUpdate('available');

    // We see Baileys' presence after subscribing: now, then its changes.
    await call({ cmd: 'presence_subscribe', jid: aliceLid });
    const ourPresence = (state, n) => ours.wait((all) => {
      const evs = all.filter((e) => e.type === 'presence' && userOf(e.jid) === aliceLid && e.state === state);
      return evs.length >= n ? evs[n - 1] : undefined;
    }, 20000, `presence ${state} #${n}`);
    await ourPresence('available', 1);
    await alice.sock.sendPresenceUpdate('unavailable');
    const gone = await ourPresence('unavailable', 1);
    if (typeof gone.last_seen !== 'number') throw new Error('no last_seen: ' + JSON.stringify(gone));
    await alice.sock.sendPresenceUpdate('available');
    await ourPresence('available', 2);

    // Baileys sees ours after subscribing.
    const aliceSees = (state) => alice.wait(() => seen.find((u) => userOf(u.id) === ourLid &&
      Object.values(u.presences).some((p) => p.lastKnownPresence === state)), 20000, `our presence ${state}`);
    await alice.sock.presenceSubscribe(ourLid);
    await aliceSees('available');
    await call({ cmd: 'presence_set', state: 'unavailable' });
    const u = await aliceSees('unavailable');
    const p = Object.values(u.presences).find((x) => x.lastKnownPresence === 'unavailable');
    if (typeof p.lastSeen !== 'number') throw new Error('baileys saw no lastSeen: ' + JSON.stringify(u));
    console.log('presence: baileys -> ours (subscribe, unavailable, available) and ours -> baileys: ok');
  } finally {
    await ours.stop();
  }
}, { serveArgs: ['--addressing', 'lid'] });
