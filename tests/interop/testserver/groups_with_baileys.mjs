// Group administration between stock Baileys and OUR account on the
// LID-first server. Our changes (subject, description, announce, locked,
// promote) reach Baileys as groups.update / group-participants.update; the
// changes Baileys makes (groupUpdateSubject, groupUpdateDescription,
// groupParticipantsUpdate promote, groupSettingUpdate, groupLeave,
// groupAcceptInvite) reach us as `group_update` events.
// usage: node groups_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: groups_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');

await runScenario(['alice', 'bob'], async ({ server, clients }) => {
  const [alice, bob] = clients;
  const ours = await startOurs(server, 'ours', binDir);
  try {
    await ours.pair('155701');
    await alice.pair('155702');
    await bob.pair('155703');
    // What Baileys makes of the w:gp2 notifications it gets.
    const updates = [];
    const parts = [];
    for (const c of [alice, bob]) {
      c.sock.ev.on('groups.update', (u) => { for (const x of u) updates.push({ who: c.name, ...x }); c.notify(); });
      c.sock.ev.on('group-participants.update', (u) => { parts.push({ who: c.name, ...u }); c.notify(); });
    }
    const ok = async (req) => {
      const r = await ours.call({ profile: 'ours', ...req });
      if (!r.ok) throw new Error(`${req.cmd} failed: ${JSON.stringify(r)}`);
      return r.result;
    };
    const created = await ok({ cmd: 'group_create', subject: 'interop admin', participants: [alice.user, bob.user] });
    const gid = created.gid;
    const seen = (what, pred) => alice.wait(() => updates.find((u) => u.who === 'alice' && u.id === gid && pred(u)), 20000, what);

    // Ours -> Baileys.
    await ok({ cmd: 'group_subject', gid, subject: 'renamed by us' });
    await seen('subject', (u) => u.subject === 'renamed by us');
    await ok({ cmd: 'group_description', gid, description: 'our rules' });
    await seen('description', (u) => u.desc === 'our rules');
    await ok({ cmd: 'group_settings', gid, setting: 'announce', state: 'on' });
    await seen('announce', (u) => u.announce === true);
    await ok({ cmd: 'group_settings', gid, setting: 'locked', state: 'on' });
    await seen('restrict', (u) => u.restrict === true);
    await ok({ cmd: 'group_promote', gid, participants: [alice.user] });
    const isAlice = (p) => userOf(p.phoneNumber) === alice.user || userOf(p.id) === alice.user;
    await alice.wait(() => parts.find((u) => u.who === 'alice' && u.id === gid && u.action === 'promote' &&
      u.participants.some(isAlice)), 20000, 'promote of alice');
    const meta = await alice.sock.groupMetadata(gid);
    if (!meta.announce || !meta.restrict || meta.desc !== 'our rules') fail('metadata: ' + JSON.stringify(meta));

    // Baileys (now an admin) -> ours.
    const update = (what, pred) => ours.wait((all) => all.find((e) => e.type === 'group_update' && e.gid === gid &&
      pred(e)), 20000, what);
    const fromAlice = (e) => e.author_pn === alice.user || e.author === alice.user;
    await alice.sock.groupUpdateSubject(gid, 'renamed by alice');
    await update('subject', (e) => e.action === 'subject' && e.subject === 'renamed by alice' && fromAlice(e));
    await alice.sock.groupUpdateDescription(gid, 'alice rules');  // names our description's id as prev
    await update('description', (e) => e.action === 'description' && e.description === 'alice rules' && fromAlice(e));
    await alice.sock.groupParticipantsUpdate(gid, [bob.user], 'promote');
    const isBob = (p) => p.jid_pn === bob.user || p.jid === bob.user;
    await update('promote', (e) => e.action === 'promote' && fromAlice(e) && e.participants.some(isBob));
    await alice.sock.groupSettingUpdate(gid, 'not_announcement');
    await update('announce off', (e) => e.action === 'announce' && e.state === 'off' && fromAlice(e));
    await alice.sock.groupSettingUpdate(gid, 'unlocked');
    await update('unlocked', (e) => e.action === 'locked' && e.state === 'off' && fromAlice(e));
    const code = await alice.sock.groupInviteCode(gid);
    const ourLink = await ok({ cmd: 'group_invite', gid });
    if (ourLink.code !== code) fail(`invite codes differ: ${code} vs ${ourLink.code}`);
    await bob.sock.groupLeave(gid);
    await update('leave', (e) => e.action === 'leave' && e.participants.some(isBob));
    const joined = await bob.sock.groupAcceptInvite(code);
    if (joined !== gid) fail('bob joined ' + joined);
    await update('join by invite', (e) => e.action === 'add' && e.reason === 'invite' && e.participants.some(isBob));
    console.log('group administration: ours -> baileys and baileys -> ours: ok');
  } finally {
    await ours.stop();
  }
}, { serveArgs: ['--addressing', 'lid'] });
