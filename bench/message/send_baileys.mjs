// The Baileys side of scripts/bench/send.sh: stock Baileys (the reference
// client) drives the SAME wa-testserver to the SAME recipients as our
// bench_send run: a cold send to each recipient in turn, then M sends with
// C outstanding. A send counts when the server's <ack class="message">
// for its id arrives (Baileys' sendMessage resolves earlier, on relay).
// usage: node send_baileys.mjs <interop dir> <wa-testserver> <state dir> <phone> <prefix> <count> <messages> <concurrency>
import { execFile } from 'child_process';
import { readFileSync } from 'fs';
import path from 'path';
import { randomBytes } from 'crypto';
import { loadBaileys, Client } from '../../tests/interop/testserver/harness.mjs';

const [interopDir, bin, dir, phone, prefix, countS, messagesS, concS] = process.argv.slice(2);
const count = Number(countS), messages = Number(messagesS), conc = Number(concS);
const B = await loadBaileys(interopDir);
const server = {
  port: Number(readFileSync(path.join(dir, 'port'), 'utf8').trim()),
  admin: (...args) => new Promise((resolve) => {
    execFile(bin, [args[0], '--state', dir, ...args.slice(1)], (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  }),
};
B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(readFileSync(path.join(dir, 'root.pub'), 'utf8').trim(), 'hex');
const client = new Client(B, server, 'bench');
await client.pair(phone);
const sock = client.sock;

const pending = new Map();  // id -> resolve
sock.ws.on('CB:ack,class:message', (node) => {
  const done = pending.get(node.attrs.id);
  if (done) { pending.delete(node.attrs.id); done(node.attrs.error); }
});
const to = (i) => prefix + String(i % count).padStart(7, '0') + '@s.whatsapp.net';
const send = (i, text) => {
  const id = '3EB0' + randomBytes(9).toString('hex').toUpperCase();
  const acked = new Promise((resolve, reject) => {
    pending.set(id, (error) => (error ? reject(new Error('rejected ' + error)) : resolve()));
  });
  return sock.sendMessage(to(i), { text }, { messageId: id }).then(() => acked);
};
const pct = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))]; };

const cold = [];
for (let i = 0; i < count; ++i) {
  const t = performance.now();
  await send(i, 'cold ' + i);
  cold.push(performance.now() - t);
}
console.log(`baileys cold send, ${count} recipients: p50 ${pct(cold, 0.5).toFixed(1)} ms, p99 ${pct(cold, 0.99).toFixed(1)} ms`);

const single = [];
for (let i = 0; i < count; ++i) {
  const t = performance.now();
  await send(i, 'single ' + i);
  single.push(performance.now() - t);
}
console.log(`baileys warm send, one outstanding, ${count} recipients: p50 ${pct(single, 0.5).toFixed(2)} ms, p99 ${pct(single, 0.99).toFixed(2)} ms`);

let next = 0;
const lat = new Array(messages);
const t0 = performance.now();
await Promise.all(Array.from({ length: conc }, async () => {
  for (let i = next++; i < messages; i = next++) {
    const t = performance.now();
    await send(i, 'warm ' + i);
    lat[i] = performance.now() - t;
  }
}));
const secs = (performance.now() - t0) / 1000;
console.log(`baileys warm sends acked: ${messages} in ${secs.toFixed(2)} s = ${(messages / secs).toFixed(0)}/s (${count} recipients, ${conc} outstanding)`);
console.log(`baileys warm send latency, ${conc} outstanding: p50 ${pct(lat, 0.5).toFixed(2)} ms, p99 ${pct(lat, 0.99).toFixed(2)} ms`);
await client.close();
client.cleanup();
process.exit(0);
