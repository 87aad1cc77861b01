// Our side of an interop scenario: a wa-supervisor with one account on the
// test server, its events read with `wactl events` (JSON Lines) and its
// control requests made with `wactl call`. Failures throw, so a caller's
// `finally` can stop the supervisor (fail() would exit and orphan it).
import { spawn, execFile } from 'child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import readline from 'readline';
import { waitFor } from './harness.mjs';

// opts.mediaRoots: directories send_media may read (and download write).
export async function startOurs(server, profile, binDir, opts = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'wats-ours-'));
  const config = {
    run_dir: path.join(dir, 'run'),
    data_dir: path.join(dir, 'data'),
    server: { url: `ws://127.0.0.1:${server.port}/ws/chat`, root_public_key: server.root.toString('hex'),
      media_ca_file: path.join(server.dir, 'media-ca.pem') },
    media: { allowed_roots: opts.mediaRoots || [] },
    instances: [{ profile, autostart: true }],
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const env = { ...process.env, LSAN_OPTIONS: 'suppressions=' + path.join(path.dirname(new URL(import.meta.url).pathname), 'lsan.supp') };
  const sup = spawn(path.join(binDir, 'wa-supervisor'), ['--config', path.join(dir, 'config.json')], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const log = [];
  readline.createInterface({ input: sup.stderr }).on('line', (l) => { log.push(l); if (process.env.WATS_VERBOSE) console.error('[ours] ' + l); });
  const events = [];
  const listeners = new Set();
  let watcher = null;
  let stopped = false;
  // The event socket exists once the supervisor is up: retry until wactl attaches.
  const attach = () => {
    watcher = spawn(path.join(binDir, 'wactl'), ['--run-dir', config.run_dir, 'events', '--profile', profile], { stdio: ['ignore', 'pipe', 'ignore'], env });
    readline.createInterface({ input: watcher.stdout }).on('line', (l) => {
      try { events.push(JSON.parse(l)); } catch { return; }
      for (const f of [...listeners]) f();
    });
    watcher.once('exit', () => { if (!stopped) setTimeout(attach, 100); });
  };
  attach();
  const wait = (pred, ms, what) => waitFor((cb) => listeners.add(cb), () => pred(events), ms, 'ours: ' + what);
  // One control request; resolves with the parsed reply.
  const call = (req, timeoutMs = 30000) => new Promise((resolve) => {
    execFile(path.join(binDir, 'wactl'), ['--run-dir', config.run_dir, '--timeout-ms', String(timeoutMs), 'call', JSON.stringify(req)], { env },
      (err, stdout, stderr) => {
        try { resolve(JSON.parse(stdout)); } catch { resolve({ ok: false, error: { code: 'wactl', message: stderr || String(err) } }); }
      });
  });
  const send = async (to, text) => {
    const r = await call({ cmd: 'send_text', profile, to, text });
    if (!r.ok) throw new Error(`our send to ${to} failed: ${JSON.stringify(r)}`);
    return r.result;
  };
  // Pairs the account the way a phone does: scan the QR of its `qr` event.
  // PUB/SUB drops what was published before `wactl events` subscribed: if
  // the first QR went by unseen, a restarted worker shows a fresh one.
  const pair = async (phone) => {
    let qr = null;
    for (let attempt = 0; !qr; ++attempt) {
      try {
        qr = await wait((ev) => ev.find((e) => e.type === 'qr'), 5000, 'qr event');
      } catch (e) {
        if (attempt >= 2) throw e;
        await call({ cmd: 'stop', profile });
        await call({ cmd: 'start', profile });
      }
    }
    const scan = await server.admin('scan', '--phone', phone, '--qr', qr.qr);
    if (scan.code !== 0) throw new Error('scan of our account failed: ' + scan.stderr);
    await wait((ev) => ev.some((e) => e.type === 'connection' && e.state === 'open'), 20000, 'open');
    return phone + '@s.whatsapp.net';
  };
  const stop = async () => {
    stopped = true;
    watcher?.kill('SIGTERM');
    if (sup.exitCode === null) {
      const exited = new Promise((r) => sup.on('exit', (c, s) => r(c ?? s)));
      sup.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) console.error('supervisor exited with ' + code + ':\n' + log.slice(-30).join('\n'));
    }
    if (process.env.WATS_KEEP) console.error('ours: kept ' + dir); else rmSync(dir, { recursive: true, force: true });
  };
  return { events, wait, call, send, pair, stop, log };
}
