// Locations, contact cards and revokes between stock Baileys and OUR account
// on the LID-first server: each kind Baileys sends reaches us typed by its
// content (msg_type location / contact, a `revoked` event marking the
// message in our log), and each kind we send is what Baileys decodes
// (locationMessage, contactMessage with the vCard, a REVOKE protocolMessage
// naming our message).
// usage: node content_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: content_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');
const check = (cond, what, obj) => { if (!cond) throw new Error(what + ': ' + JSON.stringify(obj)); };

await runScenario(['alice'], async ({ server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    await ours.pair('155611');
    const ourLid = userOf(ours.events.find((e) => e.type === 'connection' && e.state === 'open').lid);
    await alice.pair('155612');
    const ourMessage = (id, what) =>
      ours.wait((all) => all.find((e) => e.type === 'message' && e.id === id), 20000, what);

    // Baileys -> ours: a location, a contact card, a text it then deletes.
    const loc = await alice.sock.sendMessage(ourLid, { location: { degreesLatitude: 48.8584, degreesLongitude: 2.2945,
      name: 'Eiffel Tower', address: 'Champ de Mars' } });
    const l = await ourMessage(loc.key.id, 'location');
    check(l.msg_type === 'location' && Math.abs(l.latitude - 48.8584) < 1e-9 && l.name === 'Eiffel Tower' &&
      l.address === 'Champ de Mars', 'location event', l);
    const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Bob Builder\nTEL;type=CELL;waid=15550123456:+15550123456\nEND:VCARD';
    const card = await alice.sock.sendMessage(ourLid, { contacts: { displayName: 'Bob Builder', contacts: [{ vcard }] } });
    const c = await ourMessage(card.key.id, 'contact');
    check(c.msg_type === 'contact' && c.contacts?.length === 1 && c.contacts[0].vcard === vcard, 'contact event', c);
    const gone = await alice.send(ourLid, 'alice will delete this');
    const g = await ourMessage(gone.key.id, 'text to be deleted');
    // Baileys may reuse the key object it is given for the revoke's own
    // key: keep the target's id apart.
    const goneId = gone.key.id;
    await alice.sock.sendMessage(ourLid, { delete: { ...gone.key } });
    const rv = await ours.wait((all) => all.find((e) => e.type === 'revoked' && e.target_id === goneId), 20000,
      'revoked event');
    check(rv.target_found === true && rv.by_admin === false && rv.target_from_me === false, 'revoked event', rv);
    const replay = await ours.call({ cmd: 'events', profile: 'ours', since: g.seq - 1, limit: 1 });
    const kept = replay.result?.events?.[0];
    check(kept?.id === goneId && kept.revoked === true && kept.text === 'alice will delete this',
      'the deleted message in our log', kept);

    // ours -> Baileys.
    const sent = await ours.call({ cmd: 'send_location', profile: 'ours', to: alice.user, latitude: -22.9519,
      longitude: -43.2105, name: 'Cristo Redentor', client_id: 'l1' });
    check(sent.ok, 'send_location', sent);
    const bl = await alice.wait(() => alice.received.find((m) => m.id === sent.result.id), 20000, 'our location');
    const lm = bl.raw.message?.locationMessage;
    check(lm && Math.abs(lm.degreesLatitude + 22.9519) < 1e-9 && lm.name === 'Cristo Redentor', 'Baileys location',
      bl.raw.message);
    const sc = await ours.call({ cmd: 'send_contact', profile: 'ours', to: alice.user, name: 'Carol',
      phone: '+1 555 012 3499', client_id: 'c1' });
    check(sc.ok, 'send_contact', sc);
    const bc = await alice.wait(() => alice.received.find((m) => m.id === sc.result.id), 20000, 'our contact');
    const cm = bc.raw.message?.contactMessage;
    check(cm && cm.displayName === 'Carol' && cm.vcard.includes('waid=15550123499'), 'Baileys contact', bc.raw.message);
    const t = await ours.send(alice.user, 'we will delete this');
    await alice.wait(() => alice.received.find((m) => m.id === t.id), 20000, 'our text');
    const rev = await ours.call({ cmd: 'revoke', profile: 'ours', chat: alice.user, id: t.id, client_id: 'v1' });
    check(rev.ok, 'revoke', rev);
    const br = await alice.wait(() => alice.received.find((m) => m.raw?.message?.protocolMessage?.key?.id === t.id),
      20000, 'our revoke');
    const pm = br.raw.message.protocolMessage;
    // REVOKE is enum value 0 (decoded as its name or, absent, the default).
    check([0, 'REVOKE', undefined].includes(pm.type) && pm.key.fromMe === true, 'Baileys revoke', pm);
    const bad = ours.events.filter((e) => e.type === 'undecryptable');
    check(!bad.length, 'undecryptable on our side', bad);
    console.log('content: location, contact, revoke both ways: ok');
  } finally {
    await ours.stop();
  }
}, { serveArgs: ['--addressing', 'lid'] });
