// Contacts between stock Baileys and OUR account on the LID-first server:
// each side's number check finds the other (with its LID), Baileys reads the
// profile picture we set (URL from the media host; the bytes are ours) and
// the about text we set, and Baileys' block list holds back our messages
// until it unblocks us.
// usage: node contacts_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import https from 'https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { runScenario, fail } from './harness.mjs';
import { startOurs } from './ours.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: contacts_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');
const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');

const get = (url, ca) => new Promise((resolve, reject) => {
  https.get(url, { ca }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
  }).on('error', reject);
});

const root = mkdtempSync(path.join(tmpdir(), 'wats-pic-'));
const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF picture bytes '.repeat(50))]);
writeFileSync(path.join(root, 'me.jpg'), jpeg);

await runScenario(['alice'], async ({ server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir, { mediaRoots: [root] });
  const call = async (req) => {
    const r = await ours.call({ profile: 'ours', ...req });
    if (!r.ok) throw new Error(req.cmd + ': ' + JSON.stringify(r));
    return r.result;
  };
  try {
    await ours.pair('155801');
    const open = ours.events.find((e) => e.type === 'connection' && e.state === 'open');
    const ourLid = userOf(open.lid);
    const ourPn = userOf(open.jid);
    await alice.pair('155802');
    const aliceLid = userOf(alice.state.creds.me.lid);

    // Number checks both ways.
    const [found] = await alice.sock.onWhatsApp('+155801');
    if (!found?.exists) throw new Error('baileys does not find our number: ' + JSON.stringify(found));
    const checked = await call({ cmd: 'check_numbers', numbers: ['+155802', '+155899'] });
    const [a, nobody] = checked.results;
    if (!a.exists || a.jid !== '155802@s.whatsapp.net' || a.lid !== aliceLid)
      throw new Error('our check of alice: ' + JSON.stringify(a));
    if (nobody.exists) throw new Error('an unknown number exists: ' + JSON.stringify(nobody));

    // Our picture, read by Baileys, fetched from the media host.
    const set = await call({ cmd: 'picture_set', path: path.join(root, 'me.jpg') });
    const url = await alice.sock.profilePictureUrl(ourLid, 'image');
    if (!url?.startsWith('https://')) throw new Error('baileys got no picture url: ' + url);
    const got = await get(url, readFileSync(path.join(server.dir, 'media-ca.pem')));
    if (got.status !== 200 || !got.body.equals(jpeg)) throw new Error(`picture download: ${got.status}, ${got.body.length} bytes`);
    const mine = await call({ cmd: 'picture_get', jid: ourPn });
    if (mine.id !== set.id) throw new Error('our own picture id: ' + JSON.stringify(mine));

    // Our about text, read by Baileys.
    await call({ cmd: 'about_set', text: 'from ours' });
    const [st] = await alice.sock.fetchStatus(ourLid);
    if (st?.status?.status !== 'from ours') throw new Error('baileys read about: ' + JSON.stringify(st));

    // Baileys blocks us (it learns our LID <-> number from our first message).
    await ours.send(alice.user, 'hello alice');
    await alice.wait(() => alice.received.find((m) => m.text === 'hello alice'), 20000, 'first message');
    await alice.sock.updateBlockStatus(ourPn, 'block');
    const list = await alice.sock.fetchBlocklist();
    if (!list.map(userOf).includes(ourLid)) throw new Error('baileys block list: ' + JSON.stringify(list));
    await ours.send(alice.user, 'while blocked');
    await alice.sock.updateBlockStatus(ourLid, 'unblock');
    await ours.send(alice.user, 'after unblock');
    await alice.wait(() => alice.received.find((m) => m.text === 'after unblock'), 20000, 'message after unblock');
    if (alice.received.find((m) => m.text === 'while blocked')) throw new Error('a message arrived while blocked');
    console.log('contacts: number checks both ways, picture and about read by baileys, baileys block list: ok');
  } finally {
    await ours.stop();
    rmSync(root, { recursive: true, force: true });
  }
}, { serveArgs: ['--addressing', 'lid'] });
