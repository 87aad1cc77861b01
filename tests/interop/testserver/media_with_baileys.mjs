// Media between stock Baileys and OUR account on the local server, which is
// also the media host (HTTPS with its own CA): Baileys sends each kind
// (image, video, audio, voice note, document, sticker) to us and we download
// exactly its bytes; we send each kind to Baileys and its
// downloadMediaMessage returns exactly ours.
// usage: node media_with_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { randomBytes } from 'crypto';
import { runScenario, fail, prepareMediaCa } from './harness.mjs';
import { startOurs } from './ours.mjs';

await prepareMediaCa();
const binDir = process.argv[4];
if (!binDir) fail('usage: media_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>');

const userOf = (jid) => (jid || '').replace(/:\d+@/, '@');

// Fixtures made with FFmpeg's command-line tool.
const fx = mkdtempSync(path.join(tmpdir(), 'wats-media-'));
const ffmpeg = (args, out) => {
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args, path.join(fx, out)]);
  return path.join(fx, out);
};
const files = {
  image: ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=320x240', '-frames:v', '1'], 'photo.jpg'),
  video: ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '2', '-pix_fmt', 'yuv420p'], 'clip.mp4'),
  audio: ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'], 'song.mp3'),
  voice: ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=300:duration=3', '-c:a', 'libopus'], 'note.ogg'),
  sticker: ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=512x512', '-frames:v', '1'], 'sticker.webp'),
  document: path.join(fx, 'report.bin'),
};
writeFileSync(files.document, randomBytes(50000));

// What Baileys' sendMessage takes for each kind.
const content = {
  image: (f) => ({ image: { url: f }, caption: 'from baileys' }),
  video: (f) => ({ video: { url: f }, seconds: 2 }),
  audio: (f) => ({ audio: { url: f }, mimetype: 'audio/mpeg', seconds: 2 }),
  voice: (f) => ({ audio: { url: f }, mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 3 }),
  document: (f) => ({ document: { url: f }, mimetype: 'application/octet-stream', fileName: 'report.bin' }),
  sticker: (f) => ({ sticker: { url: f } }),
};
// The message field Baileys files each kind under.
const field = { image: 'imageMessage', video: 'videoMessage', audio: 'audioMessage', voice: 'audioMessage',
  document: 'documentMessage', sticker: 'stickerMessage' };

await runScenario(['alice'], async ({ B, server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir, { mediaRoots: [fx] });
  try {
    await ours.pair('155581');
    const open = ours.events.find((e) => e.type === 'connection' && e.state === 'open');
    const ourLid = userOf(open.lid);
    await alice.pair('155582');

    // Baileys -> us: every kind, downloaded by us, byte for byte.
    for (const [kind, file] of Object.entries(files)) {
      const m = await alice.sock.sendMessage(ourLid, content[kind](file));
      alice.sent.set(m.key.id, m.message);
      const ev = await ours.wait((all) => all.find((e) => e.type === 'message' && e.id === m.key.id), 20000,
        `${kind} from baileys`);
      if (ev.msg_type !== kind) throw new Error(`${kind}: our event says ${ev.msg_type}: ${JSON.stringify(ev)}`);
      if ('protobuf' in ev) throw new Error(`${kind}: the event carries the raw message`);
      const out = path.join(fx, `from-baileys-${kind}`);
      const r = await ours.call({ cmd: 'download', profile: 'ours', id: m.key.id, path: out }, 60000);
      if (!r.ok) throw new Error(`${kind}: download: ${JSON.stringify(r)}`);
      if (!readFileSync(out).equals(readFileSync(file))) throw new Error(`${kind}: downloaded bytes differ`);
    }

    // us -> Baileys: every kind, read with Baileys' own downloadMediaMessage.
    for (const [kind, file] of Object.entries(files)) {
      const r = await ours.call({ cmd: 'send_media', profile: 'ours', to: alice.user, path: file, type: kind,
        client_id: 'media-' + kind }, 60000);
      if (!r.ok) throw new Error(`${kind}: send_media: ${JSON.stringify(r)}`);
      const got = await alice.wait(() => alice.received.find((x) => x.id === r.result.id && !x.fromMe), 20000,
        `${kind} from ours`);
      const msg = got.raw.message || {};
      const inner = msg[field[kind]] || msg.documentWithCaptionMessage?.message?.[field[kind]];
      if (!inner) throw new Error(`${kind}: baileys got ${JSON.stringify(Object.keys(msg))}`);
      if (kind === 'voice' && !inner.ptt) throw new Error('voice note without ptt');
      const bytes = await B.baileys.downloadMediaMessage(got.raw, 'buffer', {});
      if (!Buffer.from(bytes).equals(readFileSync(file))) throw new Error(`${kind}: baileys downloaded other bytes`);
    }

    const bad = ours.events.filter((e) => e.type === 'undecryptable');
    if (bad.length) throw new Error('undecryptable on our side: ' + JSON.stringify(bad));
    console.log('media: six kinds baileys -> ours and ours -> baileys, bytes equal: ok');
  } finally {
    await ours.stop();
    rmSync(fx, { recursive: true, force: true });
  }
});
