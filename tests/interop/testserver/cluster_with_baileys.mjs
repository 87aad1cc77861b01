// Cluster failover with stock Baileys peers: three wa-supervisor hosts share
// one PostgreSQL database (a fresh one in the run's cluster, fixture `pg`)
// and a nats-server of the test's own. Host h1 runs N accounts (paired by
// QR); h2 and h3 run none. Two Baileys clients send to the accounts round
// robin while the accounts send to them (one direction per pair, see
// "traffic" below); h1's supervisor is killed with SIGKILL (its workers
// follow by their parent-death signal) and every account must open on h2 or
// h3. After more sending, and once the other direction of every pair:
// - every Baileys message the server acked is in its account's log exactly
//   once (read with `events` on h2: the shared log, from any host),
// - no `undecryptable` event in our logs,
// - every message our accounts sent (ok reply), before and after the kill,
//   is read by its Baileys client exactly once, and Baileys shows no
//   undecryptable (CIPHERTEXT) stub,
// - each account runs on exactly one of h2/h3 under its lease, and the
//   server never had one device logged in twice (`replaced` 0).
// Prints the failover times (kill to `open` on the new host): p50/p99/max.
// usage: node cluster_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>
// env: WA_TEST_PG_STATE (line 1: a conninfo), WA_CLUSTER_BAILEYS_ACCOUNTS
// (N, default 10), WA_CLUSTER_BAILEYS_KEEP_MS (sending after the failover,
// default 5000), WATS_KEEP (keep the hosts' directories), WATS_VERBOSE.
import { spawn, execFile } from 'child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync, createWriteStream } from 'fs';
import { tmpdir } from 'os';
import net from 'net';
import path from 'path';
import readline from 'readline';
import { loadBaileys, startServer, Client, waitFor, replayLog } from './harness.mjs';

const [interopDir, serverBin, binDir] = process.argv.slice(2);
if (!binDir) { console.error('usage: cluster_with_baileys.mjs <interop dir> <wa-testserver> <bin dir>'); process.exit(2); }
const N = Number(process.env.WA_CLUSTER_BAILEYS_ACCOUNTS || 10);
if (!(N >= 2)) { console.error('WA_CLUSTER_BAILEYS_ACCOUNTS: at least 2 (one per Baileys client)'); process.exit(2); }
const KEEP_MS = Number(process.env.WA_CLUSTER_BAILEYS_KEEP_MS || 5000);
const TOTAL_MS = 170000;           // the whole run (CTest's TIMEOUT is 180 s)
const BAILEYS_GAP_MS = 40;         // scenario input: each Baileys client sends at most 25 messages a second
const LEASE_TTL_MS = 3000;
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1) + 's';
const note = (m) => console.log(`[${elapsed()}] ${m}`);
const lsan = 'suppressions=' + path.join(path.dirname(new URL(import.meta.url).pathname), 'lsan.supp');
const pause = (ms) => new Promise((r) => setTimeout(r, ms));  // pacing and poll intervals only

// Clean-up, run on every way out (last registered first).
const cleanups = [];
let exitCode = 0;
let cleaning = null;
const cleanup = () => {
  if (!cleaning) cleaning = (async () => {
    for (const f of cleanups.reverse()) {
      try { await f(); } catch (e) { console.error('clean-up: ' + (e.stack || e)); }
    }
  })();
  return cleaning;
};
const die = async (msg) => {
  console.error('FAIL: ' + msg);
  await cleanup();
  process.exit(1);
};
const overall = setTimeout(() => die(`the test took longer than ${TOTAL_MS / 1000} s`), TOTAL_MS);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => die('interrupted by ' + sig));
process.on('unhandledRejection', (e) => die('unhandled rejection: ' + (e?.stack || e)));

// Polls an async condition until it holds; rejects at the deadline.
async function until(pred, ms, what, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('timeout waiting for ' + what);
    await pause(every);
  }
}

function run(bin, args, timeoutMs = 30000) {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? -1) : 0, stdout, stderr }));
  });
}

// ---- PostgreSQL: a database of our own in the run's cluster ----
const PSQL = '/usr/lib/postgresql/15/bin/psql';
async function sql(conninfo, query) {
  const r = await run(PSQL, [conninfo, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', query]);
  if (r.code !== 0) throw new Error(`psql ${query}: ${r.stderr}`);
  return r.stdout;
}

// ---- nats-server on a free port ----
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

// ---- a wa-supervisor host ----
const wactl = path.join(binDir, 'wactl');
// One control request with `wactl call`; resolves with the reply (a reply
// of its own, code `wactl`, when there is none). `inflight` collects the
// running wactl processes.
function wactlCall(runDir, req, timeoutMs, inflight) {
  return new Promise((resolve) => {
    const child = execFile(wactl, ['--run-dir', runDir, '--timeout-ms', String(timeoutMs), 'call', JSON.stringify(req)],
      { timeout: timeoutMs + 10000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        inflight.delete(child);
        try { resolve(JSON.parse(stdout)); } catch { resolve({ ok: false, error: { code: 'wactl', message: (stderr || String(err)).trim() } }); }
      });
    inflight.add(child);
  });
}

function startHost(name, { server, conninfoFile, natsUrl, instances }) {
  const dir = mkdtempSync(path.join(tmpdir(), `wats-cluster-${name}-`));
  const runDir = path.join(dir, 'run');
  const config = {
    run_dir: runDir,
    data_dir: path.join(dir, 'data'),
    shutdown_timeout_ms: 2000,
    server: { url: `ws://127.0.0.1:${server.port}/ws/chat`, root_public_key: server.root.toString('hex'),
      media_ca_file: path.join(server.dir, 'media-ca.pem') },
    store: { engine: 'postgres', conninfo_file: conninfoFile },
    cluster: { host_id: name, lease_ttl_ms: LEASE_TTL_MS, scan_ms: 500, claim_jitter_ms: 500, nats_url: natsUrl },
    instances: instances.map((profile) => ({ profile })),
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const logFile = path.join(dir, 'supervisor.log');
  const logOut = createWriteStream(logFile);
  const proc = spawn(path.join(binDir, 'wa-supervisor'), ['--config', path.join(dir, 'config.json')],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LSAN_OPTIONS: lsan } });
  const log = [];
  readline.createInterface({ input: proc.stderr }).on('line', (l) => {
    log.push(l);
    logOut.write(l + '\n');
    if (process.env.WATS_VERBOSE) console.error(`[${name}] ${l}`);
  });
  const exited = new Promise((r) => proc.once('exit', (c, s) => r(c ?? s)));
  const inflight = new Set();
  const host = {
    name, dir, runDir, proc, log, logFile, exited, pids: new Set(),
    call: (req, ms = 30000) => wactlCall(runDir, req, ms, inflight),
    // After a kill: a wactl still dialling the dead control socket would
    // wait out its whole timeout; its request has no answer to wait for.
    abortCalls() { for (const c of inflight) c.kill('SIGTERM'); },
    // Stops the supervisor (and so its workers); SIGKILL after 15 s.
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
        const code = await exited;
        clearTimeout(t);
        if (code !== 0 && code !== 'SIGKILL') console.error(`${name}: supervisor exited with ${code}`);
      }
      // Workers of this host that outlived it (they have a parent-death
      // signal; this is the belt to those braces). Only pids this host
      // reported, and only while they still run our binaries.
      for (const pid of host.pids) {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmd.includes('wa-connection') || cmd.includes('wa-sender')) { process.kill(pid, 'SIGKILL'); console.error(`${name}: killed leftover worker ${pid}`); }
        } catch {}
      }
      logOut.end();
      if (process.env.WATS_KEEP) console.error(`${name}: kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
    },
  };
  return host;
}

// The host's own instances (`status` without a profile), remembering their
// worker pids for the clean-up: profile -> instance.
async function localInstances(host) {
  const r = await host.call({ cmd: 'status' }, 10000);
  const out = new Map();
  if (!r.ok) return out;
  for (const i of r.result.instances || []) {
    out.set(i.profile, i);
    if (typeof i.connection_pid === 'number') host.pids.add(i.connection_pid);
    for (const s of i.senders || []) if (typeof s.pid === 'number') host.pids.add(s.pid);
  }
  return out;
}
const isOpen = (i) => i && i.state === 'running' && i.connection && i.connection.state === 'open';

// Every event of a profile's durable log, read on `host`.
const logOf = async (host, profile) => (await replayLog(host.call, profile)).events;

// A Baileys client that also records the server's acks of its messages
// (`sendMessage` resolves when the stanza is written, not on the ack).
class AckingClient extends Client {
  constructor(...a) { super(...a); this.acks = new Map(); }  // id -> error code or null
  async connect() {
    const sock = await super.connect();
    sock.ws.on('CB:ack,class:message', (node) => {
      this.acks.set(node.attrs.id, node.attrs.error ?? null);
      this.notify();
    });
    return sock;
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p / 100))];

async function main() {
  // PostgreSQL: a fresh database, so that no other test's hosts claim our profiles.
  const stateFile = process.env.WA_TEST_PG_STATE;
  if (!stateFile) throw new Error('WA_TEST_PG_STATE is not set (run under ctest, fixture pg, or tests/support/pg_server.sh start)');
  const base = readFileSync(stateFile, 'utf8').split('\n')[0].trim();
  const dbName = `cwb_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  await sql(base, `CREATE DATABASE ${dbName}`);
  cleanups.push(() => sql(base, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  const conninfo = base.slice(0, base.indexOf('dbname=')) + 'dbname=' + dbName;
  const work = mkdtempSync(path.join(tmpdir(), 'wats-cluster-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const conninfoFile = path.join(work, 'pg.conninfo');
  writeFileSync(conninfoFile, conninfo + '\n', { mode: 0o600 });
  chmodSync(conninfoFile, 0o600);
  const leases = async () => {
    const out = new Map();
    const rows = await sql(conninfo, "SELECT profile, owner, token, expires_at > clock_timestamp() FROM wa_leases");
    for (const l of rows.split('\n').filter(Boolean)) {
      const [profile, owner, token, live] = l.split('|');
      out.set(profile, { owner, token: Number(token), live: live === 't' });
    }
    return out;
  };

  // nats-server.
  const natsPort = await freePort();
  const nats = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(natsPort)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const natsLog = [];
  readline.createInterface({ input: nats.stderr }).on('line', (l) => natsLog.push(l));
  const natsExited = new Promise((r) => nats.once('exit', r));
  cleanups.push(async () => { if (nats.exitCode === null && nats.signalCode === null) { nats.kill('SIGTERM'); await natsExited; } });
  await until(() => accepts(natsPort), 10000, 'nats-server on port ' + natsPort);
  const natsUrl = `nats://127.0.0.1:${natsPort}`;

  // wa-testserver and Baileys.
  const B = await loadBaileys(interopDir);
  const server = await startServer(serverBin);
  B.WA_CERT_DETAILS.PUBLIC_KEY = server.root;
  // Stopped here, not with server.stop() (that exits on a bad status and
  // would cut the clean-up short): a non-zero exit fails the test.
  cleanups.push(async () => {
    const proc = server.proc;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', (c, s) => r(c ?? s)));
      proc.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) { console.error(`FAIL: wa-testserver exited with ${code}`); exitCode = 1; }
    }
    rmSync(server.dir, { recursive: true, force: true });
  });
  const serverStatus = async () => {
    const r = await server.admin('status', '--json');
    if (r.code !== 0) throw new Error('server status: ' + r.stderr);
    return JSON.parse(r.stdout).result;
  };

  // h1 with every account.
  const profiles = Array.from({ length: N }, (_, i) => `acct${i}`);
  const phones = profiles.map((_, i) => String(1555730000 + i));
  const jidOf = new Map(profiles.map((p, i) => [p, phones[i] + '@s.whatsapp.net']));
  const profileOfJid = new Map(profiles.map((p) => [jidOf.get(p), p]));
  const hostOpts = { server, conninfoFile, natsUrl };
  const h1 = startHost('h1', { ...hostOpts, instances: profiles });
  cleanups.push(() => h1.stop());
  await until(async () => (await h1.call({ cmd: 'ping' }, 2000)).ok, 20000, 'h1 answering ping');

  // Pairing: scan each account's QR as a phone does (events of every profile
  // on h1's event socket; a QR published before we subscribed is shown
  // again after a restart of that instance).
  const qrs = new Map();
  const opens = new Set();
  const evListeners = new Set();
  let watcher = null;
  let watching = true;
  const attach = () => {
    watcher = spawn(wactl, ['--run-dir', h1.runDir, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
    readline.createInterface({ input: watcher.stdout }).on('line', (l) => {
      let e;
      try { e = JSON.parse(l); } catch { return; }
      if (e.type === 'qr') qrs.set(e.profile, e.qr);
      if (e.type === 'connection' && e.state === 'open') opens.add(e.profile);
      for (const f of [...evListeners]) f();
    });
    watcher.once('exit', () => { if (watching) setTimeout(attach, 100); });
  };
  attach();
  const stopWatcher = () => { watching = false; watcher?.kill('SIGTERM'); };
  cleanups.push(stopWatcher);
  const evWait = (pred, ms, what) => waitFor((cb) => evListeners.add(cb), pred, ms, what);
  const pairOurs = async (profile, phone) => {
    for (let attempt = 0; !qrs.has(profile); ++attempt) {
      try { await evWait(() => qrs.has(profile), 8000, `qr of ${profile}`); } catch (e) {
        if (attempt >= 2) throw e;
        await h1.call({ cmd: 'restart', profile });
      }
    }
    const scan = await server.admin('scan', '--phone', phone, '--qr', qrs.get(profile));
    if (scan.code !== 0) throw new Error(`scan of ${profile} failed: ${scan.stderr}`);
    // The event, or (PUB/SUB drops events for a slow subscriber under
    // load) the account's status.
    await until(async () => {
      if (opens.has(profile)) return true;
      const st = await h1.call({ cmd: 'status', profile });
      return st.ok && isOpen(st.result.instances[0]);
    }, 45000, `${profile} open after the scan`, 200);
  };
  for (let i = 0; i < N; i += 5)  // a few at a time: each scan is a process
    await Promise.all(profiles.slice(i, i + 5).map((p, k) => pairOurs(p, phones[i + k])));
  stopWatcher();
  note(`h1: ${N} accounts paired`);

  const h2 = startHost('h2', { ...hostOpts, instances: [] });
  cleanups.push(() => h2.stop());
  const h3 = startHost('h3', { ...hostOpts, instances: [] });
  cleanups.push(() => h3.stop());
  for (const h of [h1, h2, h3])
    await until(async () => {
      const m = await h.call({ cmd: 'metrics' }, 2000);
      return m.ok && m.result.cluster && m.result.cluster.nats_connected;
    }, 20000, `${h.name} connected to NATS`);
  {
    const l = await leases();
    for (const p of profiles)
      if (l.get(p)?.owner !== 'h1') throw new Error(`${p}: lease ${JSON.stringify(l.get(p))}, expected h1's`);
    const local = await localInstances(h1);
    for (const p of profiles) if (!isOpen(local.get(p))) throw new Error(`${p} not open on h1: ${JSON.stringify(local.get(p))}`);
  }
  note('h2, h3 up (no accounts), NATS linked, every lease h1\'s');

  // Two Baileys clients.
  const alice = new AckingClient(B, server, 'alice');
  const bob = new AckingClient(B, server, 'bob');
  const baileys = [alice, bob];
  cleanups.push(async () => { for (const c of baileys) { await c.close(); c.cleanup(); } });
  await alice.pair('1555739001');
  await bob.pair('1555739002');
  const baileysJids = new Map(baileys.map((c) => [c.user, c]));
  note(`Baileys paired: ${alice.user}, ${bob.user}`);

  // ---- traffic ----
  // One direction per pair while the traffic runs: Alice sends to the first
  // half of the accounts and reads the second half, Bob the other way
  // round. Stock Baileys forks its own ratchet when one pair sends both ways
  // at once (see race_with_baileys.mjs): measured here without any kill, that
  // alone gives `undecryptable` events and CIPHERTEXT stubs, which would hide
  // what a failover breaks. The other direction of every pair is exercised
  // once after the failover, one pair at a time (below).
  const half = Math.ceil(N / 2);
  const inbound = new Map(profiles.map((p, i) => [p, i < half ? alice : bob]));  // who sends to p
  const outbound = new Map(profiles.map((p, i) => [p, i < half ? bob : alice]));  // whom p sends to
  let sending = true;
  let killedAt = null;      // Date.now() of the kill
  // Baileys -> ours: every message, its target, whether the server acked it.
  const bSent = [];  // { client, id, text, profile, t }
  const bErrors = [];
  // A send Baileys could not encrypt for our account's device still goes
  // out (to its other recipients) and is acked by the server, though no
  // copy for us was ever in it: Baileys logs the failure and drops that
  // device (messages-send.js). Seen in this test only on messages sent
  // right after pairing, both sides new to each other. Such a send is
  // counted apart (`notForUs`), never held against our accounts; a client's
  // sends are sequential, so its errors during one belong to that one.
  const userOf = (jid) => String(jid ?? '').split('@')[0].split(':')[0];
  const baileysSend = async (client, profile, text) => {
    const t0 = Date.now();
    try {
      const m = await client.send(jidOf.get(profile), text);
      const notForUs = client.errors.some((e) => e.t >= t0 && e.msg === 'Failed to encrypt for recipient' &&
        userOf(e.obj?.jid) === userOf(jidOf.get(profile)));
      const rec = { client, id: m.key.id, text, profile, t: Date.now(), notForUs };
      bSent.push(rec);
      return rec;
    } catch (e) { bErrors.push(`${text}: ${e}`); return null; }
  };
  const baileysLoop = async (client) => {
    const targets = profiles.filter((p) => inbound.get(p) === client);
    for (let k = 0; sending; ++k) {
      const profile = targets[k % targets.length];
      await baileysSend(client, profile, `${client.name}->${profile} #${k}`);
      await pause(BAILEYS_GAP_MS);
    }
  };
  // ours -> Baileys: through h1 while it lives, then through h2 and h3
  // alternately (each routes to the account's owner).
  const oSent = [];  // { id, text, profile, to, via, t, after }
  const oFailed = new Map();  // error code -> count
  let ourCount = 0;
  const ourSend = async (profile, to, text, via) => {
    const t = Date.now();
    const r = await via.call({ cmd: 'send_text', profile, to: to.user, text }, 30000);
    ++ourCount;
    if (process.env.WATS_VERBOSE) console.error(`[ours send] ${text} via ${via.name} ${Date.now() - t} ms: ${JSON.stringify(r).slice(0, 300)}`);
    if (r.ok) oSent.push({ id: r.result.id, text, profile, to, via: via.name, t, after: killedAt !== null && t > killedAt });
    else {
      const code = r.error?.code || 'unknown';
      oFailed.set(code, (oFailed.get(code) || 0) + 1);
    }
    return r;
  };
  const ourLoop = async (lane) => {
    const from = profiles.filter((p) => outbound.get(p) === baileys[lane]);
    for (let k = 0; sending; ++k) {
      const profile = from[k % from.length];
      const via = killedAt === null ? h1 : (k % 2 ? h2 : h3);
      const r = await ourSend(profile, outbound.get(profile), `${profile}->${outbound.get(profile).name} #${k}`, via);
      // While h1 is gone and its accounts not yet claimed, sends fail at
      // once (cluster_unavailable, unknown_profile): pace the retries.
      if (!r.ok) await pause(50);
    }
  };
  const loops = [baileysLoop(alice), baileysLoop(bob), ourLoop(0), ourLoop(1)];
  const stopTraffic = async () => { sending = false; await Promise.all(loops); };
  cleanups.push(stopTraffic);

  // Kill h1 once traffic flows both ways for every account.
  const ackedOk = (m) => m.client.acks.has(m.id) && m.client.acks.get(m.id) === null;
  await until(() => profiles.every((p) => bSent.some((m) => m.profile === p && ackedOk(m)) && oSent.some((m) => m.profile === p)),
    30000, 'traffic to and from every account');
  note(`traffic flowing: Baileys sent ${bSent.length}, ours sent ${oSent.length}`);
  await localInstances(h1);  // remembers h1's worker pids for the clean-up
  killedAt = Date.now();
  h1.proc.kill('SIGKILL');
  await h1.exited;
  h1.abortCalls();
  note('h1 killed (SIGKILL to its supervisor only)');

  // Every account opens on h2 or h3.
  const took = new Map();
  let lastSeen = new Map();
  try {
    await until(async () => {
      const [on2, on3] = await Promise.all([localInstances(h2), localInstances(h3)]);
      lastSeen = new Map(profiles.map((p) => [p, { h2: on2.get(p) || null, h3: on3.get(p) || null }]));
      for (const p of profiles)
        if (!took.has(p) && (isOpen(on2.get(p)) || isOpen(on3.get(p)))) took.set(p, Date.now() - killedAt);
      return took.size === N;
    }, 60000, 'every account open on h2 or h3', 100);
  } catch (e) {
    const l = await leases().catch(() => new Map());
    for (const p of profiles) if (!took.has(p)) console.error(`${p}: lease ${JSON.stringify(l.get(p))} ${JSON.stringify(lastSeen.get(p))}`);
    throw e;
  }
  const ms = [...took.values()].sort((a, b) => a - b);
  note(`failover_ms accounts=${N} p50=${pct(ms, 50)} p99=${pct(ms, 99)} max=${ms[ms.length - 1]}`);
  // h1's workers are gone (no second login of the same device).
  for (const pid of h1.pids) {
    await until(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, 10000, `h1's worker ${pid} gone`);
  }

  // More traffic on the new hosts, then stop.
  await pause(KEEP_MS);  // scenario input: sending continues for KEEP_MS
  await stopTraffic();
  note(`senders stopped: Baileys sent ${bSent.length} (${bErrors.length} failed), ours ${oSent.length} ok of ${ourCount}` +
    ` (failed: ${JSON.stringify(Object.fromEntries(oFailed))})`);
  if (bErrors.length) throw new Error(`Baileys sends failed: ${bErrors.slice(0, 3).join('; ')}`);

  // The other direction of every pair, once, on the new hosts: each account
  // writes to the client that has been writing to it (Alice's and Bob's
  // sessions, begun on h1, carried on by h2/h3), then each client writes to
  // the accounts it has been reading (our sessions begun on h1).
  const reverseOurs = [];
  await Promise.all(profiles.map(async (p, i) => {
    const r = await ourSend(p, inbound.get(p), `${p}->${inbound.get(p).name} reverse`, i % 2 ? h2 : h3);
    if (!r.ok) throw new Error(`${p}: the reverse send failed: ${JSON.stringify(r)}`);
    reverseOurs.push(r.result.id);
  }));
  const readBy = (m) => m.to.received.filter((r) => r.id === m.id && !r.fromMe);
  await until(() => oSent.filter((m) => reverseOurs.includes(m.id)).every((m) => readBy(m).some((r) => r.text === m.text)),
    30000, 'Baileys reading the reverse messages', 200).catch(() => {});  // judged below with the rest
  const reverseBaileys = [];
  for (const client of baileys)
    for (const p of profiles.filter((q) => outbound.get(q) === client)) {
      const rec = await baileysSend(client, p, `${client.name}->${p} reverse`);
      if (!rec) throw new Error(`${client.name} -> ${p}: the reverse send failed: ${bErrors.at(-1)}`);
      reverseBaileys.push(rec);
    }
  note(`reverse direction: ${reverseOurs.length} sends of ours, ${reverseBaileys.length} of Baileys`);

  const problems = [];
  // Placement: each account on exactly one of h2/h3, under that host's lease.
  {
    const [on2, on3, l] = await Promise.all([localInstances(h2), localInstances(h3), leases()]);
    const where = { h2: 0, h3: 0 };
    for (const p of profiles) {
      const o2 = isOpen(on2.get(p)), o3 = isOpen(on3.get(p));
      if (o2 === o3) problems.push(`${p}: open on h2 ${o2}, on h3 ${o3}`);
      const owner = l.get(p)?.owner;
      if (owner !== (o2 ? 'h2' : 'h3')) problems.push(`${p}: lease owner ${owner}, open on ${o2 ? 'h2' : 'h3'}`);
      if (o2 !== o3) ++where[o2 ? 'h2' : 'h3'];
    }
    note(`placement after the failover: h2 ${where.h2}, h3 ${where.h3}`);
  }

  // Every Baileys message the server acked: in its account's log exactly once.
  await until(() => bSent.every((m) => m.client.acks.has(m.id)), 20000, 'the server\'s ack of every Baileys message')
    .catch(() => {});  // an unacked one is not counted
  const notForUs = bSent.filter((m) => ackedOk(m) && m.notForUs);
  if (notForUs.length)
    note(`Baileys could not encrypt ${notForUs.length} acked message(s) for our device (its own SessionError; not ` +
      `expected in our logs): ${notForUs.slice(0, 5).map((m) => `${m.text} (${m.id})`).join(', ')}`);
  // More than a few is no longer Baileys' start-up race: something of ours broke its sessions.
  if (notForUs.length > Math.max(3, bSent.length / 20))
    problems.push(`${notForUs.length} of ${bSent.length} Baileys messages not encrypted for our devices`);
  const acked = bSent.filter((m) => ackedOk(m) && !m.notForUs);
  for (const m of reverseBaileys) if (!ackedOk(m)) problems.push(`reverse ${m.text}: not acked by the server (${m.client.acks.get(m.id)})`);
  const unacked = bSent.filter((m) => !m.client.acks.has(m.id)).length;
  if (unacked) note(`${unacked} Baileys messages never acked by the server (not counted)`);
  const nacked = bSent.filter((m) => m.client.acks.has(m.id) && m.client.acks.get(m.id) !== null);
  if (nacked.length) problems.push(`${nacked.length} Baileys messages refused by the server: ${nacked.slice(0, 3).map((m) => m.client.acks.get(m.id))}`);
  const wantIn = new Map(profiles.map((p) => [p, acked.filter((m) => m.profile === p)]));
  let logs = new Map();
  const missingIn = () => {
    const out = [];
    for (const p of profiles) {
      const ids = new Set((logs.get(p) || []).filter((e) => e.type === 'message').map((e) => e.id));
      for (const m of wantIn.get(p)) if (!ids.has(m.id)) out.push(m);
    }
    return out;
  };
  const readLogs = async () => {
    const all = await Promise.all(profiles.map((p) => logOf(h2, p)));
    logs = new Map(profiles.map((p, i) => [p, all[i]]));
  };
  await until(async () => { await readLogs(); return missingIn().length === 0; }, 30000, 'every acked Baileys message in our logs', 500)
    .catch(() => {});
  {
    const missing = missingIn();
    if (missing.length)
      problems.push(`${missing.length} of ${acked.length} acked Baileys messages missing from our logs, e.g. ` +
        missing.slice(0, 5).map((m) => `${m.text} (${m.id}, sent ${m.t - killedAt} ms after the kill)`).join(', '));
    let doubled = 0, wrong = 0;
    for (const p of profiles) {
      const msgs = logs.get(p).filter((e) => e.type === 'message');
      for (const m of wantIn.get(p)) {
        const copies = msgs.filter((e) => e.id === m.id);
        if (copies.length > 1) { ++doubled; if (doubled <= 5) problems.push(`${p}: ${m.text} (${m.id}) logged ${copies.length} times`); }
        for (const e of copies) {
          if (e.text !== m.text || e.from_me !== false || e.chat !== m.client.user) {
            ++wrong;
            if (wrong <= 5) problems.push(`${p}: ${m.id} logged as ${JSON.stringify(e)}, sent ${m.text} from ${m.client.user}`);
          }
        }
      }
    }
    if (doubled) problems.push(`${doubled} Baileys messages logged more than once`);
    const afterKill = acked.filter((m) => m.t > killedAt).length;
    note(`Baileys -> ours: ${acked.length} acked (${afterKill} sent after the kill), ${acked.length - missing.length} in the logs, ${doubled} doubled`);
  }
  // Nothing undecryptable in our logs.
  {
    const bad = [];
    for (const p of profiles) for (const e of logs.get(p)) if (e.type === 'undecryptable') bad.push({ ...e, after_kill_ms: e.ts - killedAt });
    if (bad.length) problems.push(`${bad.length} undecryptable events in our logs: ${JSON.stringify(bad.slice(0, 8))}`);
  }

  // Every message our accounts sent: read by its Baileys client exactly once.
  await until(() => oSent.every((m) => readBy(m).some((r) => r.text === m.text)), 30000, 'every message of ours read by Baileys', 200)
    .catch(() => {});
  {
    const unread = oSent.filter((m) => !readBy(m).some((r) => r.text === m.text));
    if (unread.length)
      problems.push(`${unread.length} of ${oSent.length} messages of ours not read by Baileys, e.g. ` +
        unread.slice(0, 5).map((m) => `${m.text} (${m.id} via ${m.via}, ${m.t - killedAt} ms after the kill)`).join(', '));
    let doubled = 0;
    for (const m of oSent) {
      const got = readBy(m).filter((r) => r.text === m.text);
      if (got.length > 1) ++doubled;
      for (const r of got)
        if (r.from !== jidOf.get(m.profile)) problems.push(`${m.text}: read from ${r.from}, sent by ${jidOf.get(m.profile)}`);
    }
    if (doubled) problems.push(`${doubled} messages of ours read more than once by Baileys`);
    const CIPHERTEXT = B.proto.WebMessageInfo.StubType.CIPHERTEXT;
    const stubs = baileys.flatMap((c) => c.received.filter((r) => r.stub === CIPHERTEXT && !r.fromMe).map((r) => `${c.name}: ${r.id} from ${r.from}`));
    if (stubs.length) problems.push(`${stubs.length} undecryptable (CIPHERTEXT) stubs at Baileys: ${stubs.slice(0, 5).join(', ')}`);
    const after = oSent.filter((m) => m.after);
    if (after.length < N) problems.push(`only ${after.length} messages of ours sent after the kill: the test proves little`);
    const untouched = profiles.filter((p) => !after.some((m) => m.profile === p));
    if (untouched.length) problems.push(`no message of ours sent after the failover from ${untouched.join(', ')}`);
    const fromUs = baileys.flatMap((c) => c.received.filter((r) => !r.fromMe && profileOfJid.has(r.from)));
    note(`ours -> Baileys: ${oSent.length} ok (${after.length} after the kill), ${oSent.length - unread.length} read, ${doubled} doubled; ` +
      `Baileys got ${fromUs.length} upserts from our accounts`);
  }
  if (acked.filter((m) => m.t > killedAt).length < N) problems.push('too few Baileys messages sent after the kill: the test proves little');

  // The server never had one device logged in twice.
  const counters = (await serverStatus()).counters;
  if (counters.replaced !== 0) problems.push(`server counter replaced = ${counters.replaced}`);
  note(`server counters: ${JSON.stringify(counters)}`);

  if (problems.length) throw new Error('\n  ' + problems.join('\n  '));
  note(`cluster failover with Baileys peers: ${N} accounts, failover p50 ${pct(ms, 50)} ms p99 ${pct(ms, 99)} ms: ok`);
}

try {
  await main();
} catch (e) {
  await die(e.stack || String(e));
}
clearTimeout(overall);
await cleanup();
process.exit(exitCode);
