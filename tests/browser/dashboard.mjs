// The dashboard in a real browser (Debian's Chromium, headless, driven by
// playwright-core): wa-testserver + wa-supervisor + wa-http, the page opened
// with an admin token; it adds an account, the QR code is read FROM THE PAGE
// (a screenshot of the QR element decoded by zbarimg) and scanned with
// `wa-testserver scan`, and the page must switch to "linked as …". Then the
// stop/start buttons change the instance's state in the table and the live
// tail shows the lifecycle events of that.
// argv: <tests/browser dir> <wa-testserver> <bin dir with wa-supervisor, wa-http>
// WA_SCREENSHOT=FILE.png keeps a picture of the final page; WATS_VERBOSE=1
// prints the processes' logs as they come.
import { spawn, execFile } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import readline from 'readline';
import { startServer } from '../interop/testserver/harness.mjs';

const [browserDir, testserverBin, binDir] = process.argv.slice(2);
const CHROMIUM = process.env.WA_CHROMIUM || '/usr/bin/chromium';
const pw = path.join(path.resolve(browserDir), 'node_modules/playwright-core/index.mjs');
for (const [need, what] of [[pw, 'playwright-core (npm ci in tests/browser)'], [CHROMIUM, 'chromium (Debian package)']]) {
  if (!existsSync(need)) { console.error(`FAIL: ${need} missing: ${what}; scripts/setup.sh installs it`); process.exit(1); }
}
const { chromium } = await import(pw);
const started = Date.now();
const step = (what) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);

// A condition polled until it holds (no fixed sleeps): resolves its value,
// rejects at the deadline.
async function until(what, pred, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('timeout waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startProcess(name, bin, args, log) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  readline.createInterface({ input: proc.stderr }).on('line', (l) => {
    log.push(`[${name}] ${l}`);
    if (process.env.WATS_VERBOSE) console.error(`[${name}] ${l}`);
  });
  return proc;
}

// SIGTERM must end it (a daemon under systemd); one that ignores it is
// killed so nothing outlives the test, and the test fails.
async function stopProcess(name, proc) {
  if (!proc) return true;
  if (proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((r) => proc.on('exit', () => r(true)));
    proc.kill('SIGTERM');
    const timer = new Promise((r) => setTimeout(() => r(false), 15000));
    if (!(await Promise.race([exited, timer]))) {
      console.error(`FAIL: ${name} did not exit within 15 s of SIGTERM`);
      proc.kill('SIGKILL');
      await exited;
      return false;
    }
  }
  if (proc.exitCode === 0) return true;
  console.error(`FAIL: ${name} exited with ${proc.exitCode ?? proc.signalCode}`);
  return false;
}

const run = (bin, args) => new Promise((resolve) => {
  execFile(bin, args, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
});

async function freePort() {
  const net = await import('net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const log = [];
const dir = mkdtempSync(path.join(tmpdir(), 'wa-browser-'));
let server = null, sup = null, http = null, browser = null;
const deadline = setTimeout(() => { console.error('FAIL: test took longer than 80 s\n' + log.slice(-60).join('\n')); process.exit(1); }, 80000);
let failed = false;
try {
  server = await startServer(testserverBin);
  step('wa-testserver up');
  const token = randomBytes(24).toString('hex');
  const port = await freePort();
  const config = {
    run_dir: path.join(dir, 'run'),
    data_dir: path.join(dir, 'data'),
    server: { url: `ws://127.0.0.1:${server.port}/ws/chat`, root_public_key: server.root.toString('hex'),
      media_ca_file: path.join(server.dir, 'media-ca.pem') },
    instances: [],
    http: {
      listen: `127.0.0.1:${port}`,
      tokens: [{ name: 'dashboard', sha256: createHash('sha256').update(token).digest('hex'), scopes: ['admin'], profiles: ['*'] }],
    },
  };
  const configPath = path.join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config));
  sup = startProcess('supervisor', path.join(binDir, 'wa-supervisor'), ['--config', configPath], log);
  http = startProcess('http', path.join(binDir, 'wa-http'), ['--config', configPath], log);
  const base = `http://127.0.0.1:${port}`;
  // /readyz: wa-http listens and the supervisor answers.
  await until('wa-http ready', async () => {
    if (http.exitCode !== null) throw new Error('wa-http exited ' + http.exitCode);
    try { return (await fetch(base + '/readyz')).status === 200; } catch { return false; }
  });
  step('supervisor and wa-http ready');

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(base + '/');
  step('page loaded');

  // A wrong token is refused with the API's error, the page stays at the prompt.
  await page.fill('#token', 'not-the-token');
  await page.click('#use-token');
  await page.waitForSelector('#error:not([hidden])');
  const refused = await page.textContent('#error');
  if (!refused.includes('unauthorized')) throw new Error('wrong token: ' + refused);
  if (!(await page.isVisible('#login'))) throw new Error('login prompt hidden after a refused token');

  await page.fill('#token', token);
  await page.click('#use-token');
  await page.waitForSelector('#dashboard:not([hidden])');
  await page.waitForSelector('#conn.live');
  if (await page.isVisible('#login') || await page.isVisible('#error')) throw new Error('token prompt or error still shown');
  step('token accepted, event stream live');

  // Add an account: the page starts it with create and shows its QR code.
  await page.fill('#new-profile', 'alpha');
  await page.click('#add-account');
  await page.waitForSelector('#instances tr[data-profile="alpha"]');
  const qrImg = '.pair[data-profile="alpha"] img.qr[data-loaded]';
  await page.waitForSelector(qrImg, { state: 'visible', timeout: 20000 });
  step('QR shown in the page');

  // Read the QR from the page as a phone camera would: a screenshot of the
  // element, decoded by zbarimg (null while the element is not there).
  let shots = 0;
  const readQr = async () => {
    const png = path.join(dir, `qr-${shots++}.png`);
    try {
      await page.locator(qrImg).screenshot({ path: png, timeout: 2000 });
    } catch {
      return null;
    }
    const dec = await run('zbarimg', ['--raw', '-q', png]);
    if (dec.code === 127 || /not found/.test(dec.stderr)) throw new Error('zbarimg missing (zbar-tools): ' + dec.stderr);
    const qr = dec.stdout.trim();
    return dec.code === 0 && qr ? qr : null;
  };
  const first = await until('a QR code readable from the page', readQr);
  if (first.split(',').length < 4) throw new Error('decoded QR is not a pairing code');
  step('QR decoded from the page');

  // The page follows the code live: restart (a new worker, a new code) from
  // the button, and the page must show the new one.
  await page.click('#instances tr[data-profile="alpha"] button.do-restart');
  let scanned = await until('a new QR in the page after restart', async () => {
    const qr = await readQr();
    return qr && qr !== first ? qr : null;
  });
  step('restarted from the page, new QR shown');
  // A code can rotate between the screenshot and the scan: then the next one is read.
  for (let attempt = 0; ; ++attempt) {
    const scan = await server.admin('scan', '--phone', '15550001', '--qr', scanned);
    if (scan.code === 0) break;
    if (attempt >= 2) throw new Error('no QR read from the page was accepted by the server: ' + scan.stderr);
    step('scan refused (' + scan.stderr.trim() + '), reading again');
    const before = scanned;
    scanned = await until('another QR', async () => { const q = await readQr(); return q && q !== before ? q : null; });
  }
  step('QR decoded from the page and scanned');

  const linked = await page.waitForSelector('.pair[data-profile="alpha"] .linked', { timeout: 30000 });
  const linkedText = await linked.textContent();
  if (!/^linked as 15550001(:\d+)?@s\.whatsapp\.net$/.test(linkedText)) throw new Error('pane says: ' + linkedText);
  if (await page.isVisible('.pair[data-profile="alpha"] img.qr')) throw new Error('QR still shown after linking');
  step('page says ' + linkedText);
  const row = (cls) => page.textContent(`#instances tr[data-profile="alpha"] td.${cls}`);
  await until('table shows the linked JID', async () => (await row('linked')).startsWith('15550001'));
  await until('table shows connection open', async () => (await row('connection')) === 'open');

  // Stop and start from the buttons: the state changes in the table, and the
  // live tail shows the lifecycle events as they happen.
  await page.click('#instances tr[data-profile="alpha"] button.do-stop');
  await until('state stopped', async () => (await row('state')) === 'stopped');
  await page.waitForSelector('#tail li[data-profile="alpha"][data-type="instance_stopped"]');
  step('stopped from the page');
  await page.click('#instances tr[data-profile="alpha"] button.do-start');
  await until('state running', async () => (await row('state')) === 'running');
  await page.waitForSelector('#tail li[data-profile="alpha"][data-type="instance_started"]');
  await until('connection open again', async () => (await row('connection')) === 'open', 20000);
  step('started from the page, connection open again');

  if (process.env.WA_SCREENSHOT) await page.screenshot({ path: process.env.WA_SCREENSHOT, fullPage: true });
  // The tail never shows the QR string itself.
  const tailText = await page.textContent('#tail');
  if (tailText.includes(scanned)) throw new Error('the live tail shows the QR string');
  if (pageErrors.length) throw new Error('page errors: ' + pageErrors.join('; '));
  const wireLog = log.join('\n');
  if (wireLog.includes(token)) throw new Error('a process logged the token');
  step('done');
} catch (e) {
  failed = true;
  console.error('FAIL: ' + (e.stack || e) + '\n' + log.slice(-60).join('\n'));
} finally {
  await browser?.close().catch(() => {});
  if (!(await stopProcess('wa-http', http))) failed = true;
  if (!(await stopProcess('wa-supervisor', sup))) failed = true;
  await server?.stop();
  if (process.env.WATS_KEEP) console.error('kept ' + dir); else rmSync(dir, { recursive: true, force: true });
  clearTimeout(deadline);
}
process.exit(failed ? 1 : 0);
