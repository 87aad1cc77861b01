// The wa-supervisor dashboard: plain JavaScript over the HTTP API (no build
// step, nothing fetched from elsewhere). It asks for a token (kept in
// sessionStorage, i.e. this tab only), lists the instances from `status`,
// runs start/stop/restart and "add account" (start with create), shows each
// waiting account's QR code (qr.svg, reloaded on every live `qr` event) until
// it is linked, and tails the live events over the WebSocket.
'use strict';

const TOKEN_KEY = 'wa-dashboard-token';
const TAIL_MAX = 200;
const REFRESH_MS = 3000;

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
};

let token = sessionStorage.getItem(TOKEN_KEY) || '';
const panes = new Map();   // profile -> {root, img, note, url, linked, timer}
const heads = new Map();   // profile -> last seq seen (where the stream resumes)
let socket = null;
let socketWanted = false;
let reconnectTimer = null;
let refreshTimer = null;

class ApiError extends Error {
  constructor(code, message, status) { super(`${code}: ${message}`); this.code = code; this.status = status; }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError('unreachable', String(e), 0);
  }
  let doc = null;
  try { doc = await resp.json(); } catch { /* not JSON: reported below */ }
  if (!doc || typeof doc.ok !== 'boolean') throw new ApiError('bad_response', `HTTP ${resp.status}`, resp.status);
  if (!doc.ok) throw new ApiError(doc.error?.code || 'error', doc.error?.message || '', resp.status);
  return doc.result;
}

const profilePath = (p, cmd) => `/v1/profiles/${encodeURIComponent(p)}/${cmd}`;

function showError(err) {
  const box = $('#error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
  box.hidden = false;
  if (err.code === 'unauthorized') logout();
}

// ---- instances ---------------------------------------------------------

const linkedJid = (inst) => (inst.linked && inst.linked.jid) || null;
const connText = (c) => (c ? c.state + (c.reason ? ` (${c.reason})` : '') : '—');

function renderInstances(instances) {
  const body = $('#instances tbody');
  body.replaceChildren();
  for (const inst of instances) {
    const tr = el('tr');
    tr.dataset.profile = inst.profile;
    const state = el('td', { className: `state state-${inst.state}`, textContent: inst.state + (inst.reason ? ` (${inst.reason})` : '') });
    const jid = linkedJid(inst);
    const linked = el('td', { className: 'linked', textContent: jid || (inst.linked === false ? 'waiting to be paired' : '—') });
    const actions = el('td', { className: 'actions' });
    for (const cmd of ['start', 'stop', 'restart']) {
      const b = el('button', { type: 'button', textContent: cmd, className: `do-${cmd}` });
      b.addEventListener('click', () => runCommand(inst.profile, cmd, b));
      actions.append(b);
    }
    tr.append(el('td', { className: 'profile', textContent: inst.profile }), state, linked,
      el('td', { className: 'connection', textContent: connText(inst.connection) }),
      el('td', { className: 'restarts', textContent: String(inst.restarts ?? 0) }),
      el('td', { className: 'senders', textContent: String((inst.senders || []).length) }), actions);
    body.append(tr);
  }
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    const { instances } = await api('GET', '/v1/status');
    renderInstances(instances);
    let newProfile = false;
    for (const inst of instances) {
      if (!heads.has(inst.profile)) newProfile = true;
      const jid = linkedJid(inst);
      if (jid) markLinked(inst.profile, jid);
      else if (inst.linked === false && inst.state === 'running') openPane(inst.profile);
    }
    setLive(true);
    if (newProfile || !socketWanted) await follow(instances.map((i) => i.profile));
  } catch (e) {
    showError(e);
  }
  if (token) refreshTimer = setTimeout(refresh, REFRESH_MS);
}

let refreshSoon = null;
function scheduleRefresh() {
  if (refreshSoon) return;
  refreshSoon = setTimeout(() => { refreshSoon = null; refresh(); }, 150);
}

async function runCommand(profile, cmd, button) {
  if (button) button.disabled = true;
  try {
    await api('POST', profilePath(profile, cmd), {});
    showError(null);
  } catch (e) {
    showError(e);
  } finally {
    if (button) button.disabled = false;
    scheduleRefresh();
  }
}

async function addAccount(ev) {
  ev.preventDefault();
  const input = $('#new-profile');
  const profile = input.value.trim();
  if (!profile) return;
  const button = $('#add-account');
  button.disabled = true;
  try {
    await api('POST', profilePath(profile, 'start'), { create: true });
    showError(null);
    input.value = '';
    openPane(profile);
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
    scheduleRefresh();
  }
}

// ---- pairing -----------------------------------------------------------

function openPane(profile) {
  let pane = panes.get(profile);
  if (pane && !pane.linked) return pane;
  if (pane) pane.root.remove();
  const img = el('img', { className: 'qr', alt: `QR code to link ${profile}` });
  img.hidden = true;
  const note = el('p', { className: 'note hint', textContent: 'waiting for a QR code…' });
  const root = el('div', { className: 'pair' }, el('h3', { textContent: profile }), img, note);
  root.dataset.profile = profile;
  $('#pairing .hint')?.remove();
  $('#pairing').append(root);
  pane = { root, img, note, url: null, linked: false, timer: null };
  panes.set(profile, pane);
  loadQr(profile);
  return pane;
}

// qr.svg needs the bearer header, which an <img src> cannot send: fetch it
// and show it as a blob URL. Until a code exists (404) it polls slowly; live
// `qr` events reload it at once.
async function loadQr(profile) {
  const pane = panes.get(profile);
  if (!pane || pane.linked) return;
  clearTimeout(pane.timer);
  try {
    const resp = await fetch(profilePath(profile, 'qr.svg') + `?n=${Date.now()}`, { headers: { Authorization: `Bearer ${token}` } });
    if (pane.linked) return;
    if (resp.ok) {
      const blob = await resp.blob();
      if (pane.linked) return;
      const url = URL.createObjectURL(blob);
      await new Promise((resolve) => { pane.img.onload = resolve; pane.img.onerror = resolve; pane.img.src = url; });
      if (pane.url) URL.revokeObjectURL(pane.url);
      pane.url = url;
      pane.img.hidden = false;
      pane.img.dataset.loaded = String(Date.now());
      pane.note.textContent = 'Scan with WhatsApp > Linked devices > Link a device';
    } else {
      let code = `HTTP ${resp.status}`;
      try { code = (await resp.json()).error.code; } catch { /* keep the status */ }
      pane.img.hidden = true;
      pane.note.textContent = code === 'not_found' ? 'waiting for a QR code…' : `QR unavailable: ${code}`;
    }
  } catch (e) {
    pane.note.textContent = `QR unavailable: ${e}`;
  }
  if (!pane.linked) pane.timer = setTimeout(() => loadQr(profile), 2000);
}

function markLinked(profile, jid) {
  const pane = panes.get(profile);
  if (!pane || pane.linked) return;
  pane.linked = true;
  clearTimeout(pane.timer);
  if (pane.url) URL.revokeObjectURL(pane.url);
  pane.img.remove();
  pane.note.remove();
  pane.root.append(el('p', { className: 'linked', textContent: `linked as ${jid}` }));
}

// ---- live events -------------------------------------------------------

function tail(ev) {
  const list = $('#tail');
  // The QR string and pairing code are secrets: the tail never shows them.
  const { profile, seq, type, ts, qr, ...rest } = ev;
  if (type === 'pairing_code' && 'code' in rest) rest.code = '…';
  const time = ts ? new Date(ts).toLocaleTimeString() : '';
  const li = el('li', { textContent: `${time} ${profile} #${seq} ${type} ${JSON.stringify(rest)}` });
  li.dataset.type = type;
  li.dataset.profile = profile;
  list.append(li);
  while (list.children.length > TAIL_MAX) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

function onEvent(ev) {
  if (ev.seq > 0) {
    if (ev.seq <= (heads.get(ev.profile) ?? 0)) return;   // already shown (a reconnect's replay)
    heads.set(ev.profile, ev.seq);
  }
  tail(ev);
  if (ev.type === 'qr') { openPane(ev.profile); loadQr(ev.profile); }
  if (ev.type === 'paired' && ev.jid) markLinked(ev.profile, ev.jid);
  if (ev.type === 'connection' && ev.state === 'open' && ev.jid) markLinked(ev.profile, ev.jid);
  if (/^(instance_|sender_|connection|paired|logged_out)/.test(ev.type)) scheduleRefresh();
}

// One WebSocket for every profile, resuming each from the last seq shown; a
// profile seen for the first time starts at its log's head (live from now).
async function follow(profiles) {
  for (const p of profiles) {
    if (heads.has(p)) continue;
    try {
      const page = await api('GET', `${profilePath(p, 'events')}?since=0&limit=1`);
      heads.set(p, page.last_seq || 0);
    } catch (e) {
      heads.set(p, 0);
    }
  }
  socketWanted = true;
  connect();
}

function connect() {
  clearTimeout(reconnectTimer);
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
  if (!socketWanted || !token) return;
  const since = [...heads].map(([p, s]) => `${p}:${s}`).join(',');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${proto}//${location.host}/v1/events?since=${encodeURIComponent(since || '0')}&access_token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => { $('#conn').textContent = 'live'; $('#conn').classList.add('live'); };
  ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    setLive(false);
    if (socketWanted) reconnectTimer = setTimeout(connect, 2000);
  };
}

function setLive(on) {
  const pill = $('#conn');
  if (on && socket && socket.readyState === WebSocket.OPEN) { pill.textContent = 'live'; pill.classList.add('live'); return; }
  pill.classList.remove('live');
  pill.textContent = on ? 'connected' : 'reconnecting…';
}

// ---- token -------------------------------------------------------------

function login(ev) {
  ev?.preventDefault();
  const given = $('#token').value.trim();
  if (given) token = given;
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('#token').value = '';
  $('#login').hidden = true;
  $('#forget').hidden = false;
  $('#dashboard').hidden = false;
  showError(null);
  refresh();
}

function logout() {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  socketWanted = false;
  connect();
  clearTimeout(refreshTimer);
  $('#login').hidden = false;
  $('#forget').hidden = true;
  $('#dashboard').hidden = true;
  $('#conn').textContent = 'not connected';
  $('#conn').classList.remove('live');
}

$('#login').addEventListener('submit', login);
$('#add').addEventListener('submit', addAccount);
$('#forget').addEventListener('click', () => { showError(null); logout(); });
if (token) login();
