// wa-http from Node 18+ with nothing but fetch: list the instances, send a
// text, then follow a profile's events (replay from a seq, then long poll).
// Optionally receive webhooks and check their signature.
//
//   WA_URL=http://127.0.0.1:8080 WA_TOKEN=... node example.mjs sales +15557654321 "hello"
//   WA_WEBHOOK_SECRET=... WA_WEBHOOK_PORT=9000 node example.mjs --webhooks
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const base = process.env.WA_URL || 'http://127.0.0.1:8080';
const token = process.env.WA_TOKEN;

// One API call: the result on success, else an Error with the API's code.
async function api(method, path, body) {
  const resp = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const doc = await resp.json();
  if (!doc.ok) throw Object.assign(new Error(`${doc.error.code}: ${doc.error.message}`), { code: doc.error.code, status: resp.status });
  return doc.result;
}
const profilePath = (p, cmd) => `/v1/profiles/${encodeURIComponent(p)}/${cmd}`;

// "sha256=" + hex HMAC-SHA256(secret, "<X-WA-Timestamp>.<raw body>"), within 5 minutes.
function verifySignature(secret, timestamp, rawBody, header, toleranceS = 300) {
  if (!/^\d+$/.test(timestamp || '') || Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceS) return false;
  const want = Buffer.from('sha256=' + createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex'));
  const got = Buffer.from(String(header || ''));
  return got.length === want.length && timingSafeEqual(got, want);
}

if (process.argv[2] === '--webhooks') {
  const secret = process.env.WA_WEBHOOK_SECRET;
  const seen = new Set();  // at least once: drop the duplicates by idempotency_key
  createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      if (!verifySignature(secret, req.headers['x-wa-timestamp'], raw, req.headers['x-wa-signature'])) {
        res.writeHead(401).end();
        return;
      }
      for (const ev of JSON.parse(raw).events) {
        if (seen.has(ev.idempotency_key)) continue;
        seen.add(ev.idempotency_key);
        console.log(ev.profile, ev.seq, ev.type, ev.text ?? '');
      }
      res.writeHead(204).end();   // any 2xx moves the webhook's cursor
    });
  }).listen(Number(process.env.WA_WEBHOOK_PORT || 9000), '127.0.0.1');
} else {
  const [profile, to, text] = process.argv.slice(2);
  const { instances } = await api('GET', '/v1/status');
  for (const i of instances) console.log(i.profile, i.state, i.linked?.jid ?? '-', i.connection?.state ?? '-');
  if (profile && to && text) {
    const sent = await api('POST', profilePath(profile, 'send_text'), { to, text });
    console.log('sent', sent.id);   // answered on the server's ack
  }
  if (profile) {
    // Replay from seq 0, then long-poll for new events (resume from the last seq after a restart).
    let since = 0;
    for (;;) {
      const page = await api('GET', `${profilePath(profile, 'events')}?since=${since}&limit=100&wait_ms=25000`);
      for (const ev of page.events) {
        console.log(ev.seq, ev.type, ev.type === 'message' ? `${ev.sender}: ${ev.text ?? ev.msg_type}` : '');
        since = ev.seq;
      }
    }
  }
}
