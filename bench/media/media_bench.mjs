// Media transfer bench, ours vs stock Baileys in the same run on the same
// file: one wa-testserver (also the media host, HTTPS on loopback), our
// account and a Baileys account. For a SIZE-MB document:
//   ours upload     send_media ours -> Baileys (probe, hash pass, encrypt +
//                   upload, message), sampled: PSS of our wa-sender
//   baileys upload  sendMessage Baileys -> ours, sampled: PSS of the node process
//   ours download   download of Baileys' file, sampled: PSS of our wa-sender
//   baileys download downloadMediaMessage(..., 'stream') of ours to a file
// MB/s is SIZE / wall time of the whole operation; PSS is the peak over
// 20 ms samples of /proc/PID/smaps_rollup, minus nothing (absolute).
// usage: node media_bench.mjs <interop dir> <wa-testserver> <bin dir> [size MB=100]
import { createWriteStream, mkdtempSync, readFileSync, rmSync, readdirSync, openSync, writeSync, closeSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { randomBytes, createHash } from 'crypto';
import { pipeline } from 'stream/promises';
import { runScenario, fail, prepareMediaCa } from '../../tests/interop/testserver/harness.mjs';
import { startOurs } from '../../tests/interop/testserver/ours.mjs';

await prepareMediaCa();
const binDir = process.argv[4];
const sizeMb = Number(process.argv[5] || 100);
if (!binDir) fail('usage: media_bench.mjs <interop dir> <wa-testserver> <bin dir> [size MB]');

const fx = mkdtempSync(path.join(tmpdir(), 'wa-media-bench-'));
const file = path.join(fx, 'big.bin');
{
  const fd = openSync(file, 'w');
  for (let i = 0; i < sizeMb; i++) writeSync(fd, randomBytes(1 << 20));
  closeSync(fd);
}
const sha = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');
const want = sha(file);

const pss = (pid) => {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
};
const senderPids = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
  try { return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'wa-sender'; } catch { return false; }
}).map(Number);
// Peak PSS (kB) of the processes `pids()` names while `op` runs.
async function sampled(pids, op) {
  let peak = 0;
  const t = setInterval(() => { for (const p of pids()) peak = Math.max(peak, pss(p)); }, 20);
  const t0 = process.hrtime.bigint();
  const r = await op();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  clearInterval(t);
  for (const p of pids()) peak = Math.max(peak, pss(p));
  return { r, ms, peak };
}
const row = (what, s) => console.log(`${what.padEnd(18)} ${(sizeMb / (s.ms / 1000)).toFixed(1).padStart(7)} MB/s  ` +
  `${(s.ms / 1000).toFixed(2).padStart(6)} s  peak PSS ${(s.peak / 1024).toFixed(1).padStart(6)} MB`);

await runScenario(['alice'], async ({ B, server, clients }) => {
  const [alice] = clients;
  const ours = await startOurs(server, 'ours', binDir, { mediaRoots: [fx] });
  try {
    await ours.pair('155591');
    const ourLid = (ours.events.find((e) => e.type === 'connection' && e.state === 'open').lid || '').replace(/:\d+@/, '@');
    await alice.pair('155592');
    // Warm both paths (sessions, sender process) with a text each way.
    const warm = await ours.send(alice.user, 'warm up');
    await alice.wait(() => alice.received.find((x) => x.id === warm.id), 20000, 'warm-up');
    const w2 = await alice.send(ourLid, 'warm up too');
    await ours.wait((all) => all.find((e) => e.type === 'message' && e.id === w2.key.id), 20000, 'warm-up back');

    console.log(`# media bench: one ${sizeMb} MB document over HTTPS on loopback, ${process.arch}`);
    const up = await sampled(senderPids, () => ours.call({ cmd: 'send_media', profile: 'ours', to: alice.user,
      path: file, type: 'document', client_id: 'bench-up' }, 600000));
    if (!up.r.ok) throw new Error('send_media: ' + JSON.stringify(up.r));
    row('ours upload', up);
    const self = () => [process.pid];
    const bup = await sampled(self, () => alice.sock.sendMessage(ourLid,
      { document: { url: file }, mimetype: 'application/octet-stream', fileName: 'big.bin' }));
    row('baileys upload', bup);
    const id = bup.r.key.id;
    await ours.wait((all) => all.find((e) => e.type === 'message' && e.id === id), 60000, 'baileys document');
    const out = path.join(fx, 'ours.out');
    const down = await sampled(senderPids, () => ours.call({ cmd: 'download', profile: 'ours', id, path: out }, 600000));
    if (!down.r.ok) throw new Error('download: ' + JSON.stringify(down.r));
    row('ours download', down);
    if (sha(out) !== want) throw new Error('our download differs');
    rmSync(out);
    const got = await alice.wait(() => alice.received.find((x) => x.id === up.r.result.id), 60000, 'our document');
    const bout = path.join(fx, 'baileys.out');
    const bdown = await sampled(self, async () => {
      const stream = await B.baileys.downloadMediaMessage(got.raw, 'stream', {});
      await pipeline(stream, createWriteStream(bout));
    });
    row('baileys download', bdown);
    if (sha(bout) !== want) throw new Error('baileys download differs');
    console.log(`(baileys rows: the whole node process, idle PSS before ${(pss(process.pid) / 1024).toFixed(1)} MB now)`);
  } finally {
    await ours.stop();
    rmSync(fx, { recursive: true, force: true });
  }
});
