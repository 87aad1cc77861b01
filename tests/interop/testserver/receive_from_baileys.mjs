// Stock Baileys clients send to OUR account (wa-supervisor + wa-connection,
// paired through the server's emulated phone): 1:1 messages (first a pkmsg,
// then a msg on the same session) and group messages (pairwise SKDM, then
// skmsg only). Every one must arrive as a `message` event with the right
// text, chat and sender, exactly once.
// usage: node receive_from_baileys.mjs <interop dir> <wa-testserver> <dir of wa-supervisor, wactl>
import { spawn, execFile } from 'child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import readline from 'readline';
import { runScenario, fail, waitFor } from './harness.mjs';

const binDir = process.argv[4];
if (!binDir) fail('usage: receive_from_baileys.mjs <interop dir> <wa-testserver> <bin dir>');

// Our side: a supervisor with one account on this server, and its events
// read with `wactl events` (JSON Lines).
async function startOurs(server, profile) {
  const dir = mkdtempSync(path.join(tmpdir(), 'wats-ours-'));
  const config = {
    run_dir: path.join(dir, 'run'),
    data_dir: path.join(dir, 'data'),
    server: { url: `ws://127.0.0.1:${server.port}/ws/chat`, root_public_key: server.root.toString('hex') },
    instances: [{ profile, autostart: false }],
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const env = { ...process.env, LSAN_OPTIONS: 'suppressions=' + path.join(path.dirname(new URL(import.meta.url).pathname), 'lsan.supp') };
  const sup = spawn(path.join(binDir, 'wa-supervisor'), ['--config', path.join(dir, 'config.json')], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const supLog = [];
  readline.createInterface({ input: sup.stderr }).on('line', (l) => { supLog.push(l); if (process.env.WATS_VERBOSE) console.error('[ours] ' + l); });
  const events = [];
  const listeners = new Set();
  let watcher = null;
  // The event socket exists once the supervisor is up: retry wactl until it attaches.
  const attach = () => {
    watcher = spawn(path.join(binDir, 'wactl'), ['--run-dir', config.run_dir, 'events', '--profile', profile], { stdio: ['ignore', 'pipe', 'ignore'], env });
    readline.createInterface({ input: watcher.stdout }).on('line', (l) => {
      try { events.push(JSON.parse(l)); } catch { return; }
      for (const f of [...listeners]) f();
    });
    watcher.once('exit', () => { if (!stopped) setTimeout(attach, 100); });
  };
  let stopped = false;
  attach();
  const wait = (pred, ms, what) => waitFor((cb) => listeners.add(cb), () => pred(events), ms, 'ours: ' + what);
  const wactl = (...args) => new Promise((resolve) => {
    execFile(path.join(binDir, 'wactl'), ['--run-dir', config.run_dir, ...args], { env }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
  // The account starts once the event stream is attached; a subscriber
  // misses what is published right after it connects, so an instance whose
  // first QR went unseen is restarted (a new QR) until one is seen.
  const firstQr = async () => {
    for (let attempt = 0; attempt < 10; ++attempt) {
      const seen = events.filter((e) => e.type === 'qr').length;
      const r = await wactl(attempt === 0 ? 'start' : 'restart', profile);
      if (r.code !== 0 && r.code !== 2) continue;  // supervisor not up yet
      try {
        return await wait((ev) => ev.filter((e) => e.type === 'qr').length > seen && ev.filter((e) => e.type === 'qr').at(-1), 3000, 'qr event');
      } catch { /* not seen: try again */ }
    }
    fail('no qr event from our account');
  };
  const stop = async () => {
    stopped = true;
    watcher?.kill('SIGTERM');
    if (sup.exitCode === null) {
      const exited = new Promise((r) => sup.on('exit', (c, s) => r(c ?? s)));
      sup.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) console.error('supervisor exited with ' + code + ':\n' + supLog.slice(-30).join('\n'));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { events, wait, stop, firstQr, log: supLog };
}

await runScenario(['alice', 'bob'], async ({ server, clients }) => {
  const [alice, bob] = clients;
  const ours = await startOurs(server, 'ours');
  try {
    const ourPhone = '155541';
    const ourUser = ourPhone + '@s.whatsapp.net';
    // Pair our account the way a phone does: scan the QR from its `qr` event.
    const qr = await ours.firstQr();
    const scan = await server.admin('scan', '--phone', ourPhone, '--qr', qr.qr);
    if (scan.code !== 0) fail('scan of our account failed: ' + scan.stderr);
    await ours.wait((ev) => ev.some((e) => e.type === 'connection' && e.state === 'open'), 20000, 'open');

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
