"""wa_client against the real programs: wa-testserver, wa-supervisor and
wa-http (started here, each test class its own temp dir). Two accounts are
paired through the client (QR strings from the event WebSocket, scanned with
`wa-testserver scan`), then texts go from one to the other and the events are
read with replay (since) and follow (long poll).

Environment: WA_TESTSERVER (the wa-testserver binary), WA_BIN_DIR (the
directory with wa-supervisor, its workers and wa-http)."""

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from wa_client import Client, WAError, verify_signature  # noqa: E402

TESTSERVER = os.environ.get("WA_TESTSERVER", "")
BIN_DIR = os.environ.get("WA_BIN_DIR", "")


def until(what, pred, timeout=20.0):
    """Polls pred() until it returns something true; fails at the deadline."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timeout waiting for " + what)
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tree:
    """wa-testserver + wa-supervisor + wa-http in one temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wa-pyclient-")
        self.procs = []
        self.logs = {}
        state = os.path.join(self.dir, "ts")
        os.mkdir(state)
        self.state = state
        self._spawn("testserver", [TESTSERVER, "serve", "--listen", "127.0.0.1:0", "--state", state])
        until("wa-testserver port", lambda: self._read(os.path.join(state, "port")), 15)
        until("wa-testserver serving", lambda: "serving ws://" in self.log("testserver"), 15)
        ts_port = int(self._read(os.path.join(state, "port")))
        root = self._read(os.path.join(state, "root.pub"))
        self.admin_token = secrets.token_hex(24)
        self.read_token = secrets.token_hex(24)
        self.outbox = os.path.join(self.dir, "outbox")
        os.mkdir(self.outbox)
        self.port = free_port()
        config = {
            "run_dir": os.path.join(self.dir, "run"),
            "data_dir": os.path.join(self.dir, "data"),
            "server": {"url": f"ws://127.0.0.1:{ts_port}/ws/chat", "root_public_key": root,
                       "media_ca_file": os.path.join(state, "media-ca.pem")},
            "media": {"allowed_roots": [self.outbox]},
            "instances": [],
            "http": {
                "listen": f"127.0.0.1:{self.port}",
                "upload_dir": os.path.join(self.outbox, "http"),
                "tokens": [
                    {"name": "ops", "sha256": hashlib.sha256(self.admin_token.encode()).hexdigest(),
                     "scopes": ["admin"], "profiles": ["*"]},
                    {"name": "viewer", "sha256": hashlib.sha256(self.read_token.encode()).hexdigest(),
                     "scopes": ["read"], "profiles": ["alice"]},
                ],
            },
        }
        self.config = os.path.join(self.dir, "config.json")
        with open(self.config, "w") as f:
            json.dump(config, f)
        self._spawn("supervisor", [os.path.join(BIN_DIR, "wa-supervisor"), "--config", self.config])
        self._spawn("http", [os.path.join(BIN_DIR, "wa-http"), "--config", self.config])
        self.base = f"http://127.0.0.1:{self.port}"
        until("wa-http ready", self._ready, 20)

    def _ready(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise AssertionError(f"{name} exited {p.returncode}:\n{self.log(name)}")
        try:
            import urllib.request
            with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    @staticmethod
    def _read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None

    def _spawn(self, name, argv):
        path = os.path.join(self.dir, name + ".log")
        with open(path, "wb") as log:  # the child keeps its own descriptor
            self.procs.append((name, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)))
        self.logs[name] = path

    def log(self, name):
        with open(self.logs[name], "rb") as f:
            return f.read().decode("utf-8", "replace")

    def scan(self, phone, qr):
        return subprocess.run([TESTSERVER, "scan", "--state", self.state, "--phone", phone, "--qr", qr],
                              capture_output=True, text=True, timeout=40)

    def close(self):
        """Stops every process with SIGTERM; one that ignores it or exits
        with an error (a sanitizer report included) is reported."""
        bad = []
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    bad.append(f"{name} ignored SIGTERM")
                    continue
            if p.returncode != 0:
                bad.append(f"{name} exited {p.returncode}:\n{self.log(name)[-3000:]}")
        for name in self.logs:
            if os.environ.get("WATS_VERBOSE"):
                sys.stderr.write(f"--- {name}\n{self.log(name)[-4000:]}\n")
        if os.environ.get("WATS_KEEP"):
            sys.stderr.write("kept " + self.dir + "\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if bad:
            raise AssertionError("\n".join(bad))


@unittest.skipUnless(TESTSERVER and BIN_DIR, "WA_TESTSERVER and WA_BIN_DIR name the binaries")
class LiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tree = Tree()
        cls.wa = Client(cls.tree.base, token=cls.tree.admin_token, timeout=30)
        cls.secrets = [cls.tree.admin_token, cls.tree.read_token]
        try:
            cls.jids = {p: cls._pair(p, phone) for p, phone in (("alice", "15550101"), ("bob", "15550102"))}
        except BaseException:
            try:
                cls.tree.close()
            except AssertionError as e:
                sys.stderr.write(f"{e}\n")
            raise

    @classmethod
    def tearDownClass(cls):
        cls.tree.close()

    @classmethod
    def _pair(cls, profile, phone):
        # The first QR string the account shows is scanned as a phone would.
        for qr in cls.wa.pair(profile, create=True, timeout=60):
            r = cls.tree.scan(phone, qr)
            if r.returncode != 0:
                raise AssertionError(f"scan for {profile}: {r.stderr}")
        # Linked, and back online after the reconnect that follows pairing.
        inst = until(profile + " linked and open", lambda: [i for i in cls.wa.status(profile)
                                                            if (i.get("linked") or {}).get("jid")
                                                            and (i.get("connection") or {}).get("state") == "open"])
        return inst[0]["linked"]["jid"]

    def test_paired_accounts_show_in_status(self):
        st = {i["profile"]: i for i in self.wa.status()}
        self.assertEqual(set(st), {"alice", "bob"})
        for p, phone in (("alice", "15550101"), ("bob", "15550102")):
            self.assertEqual(st[p]["state"], "running")
            self.assertTrue(st[p]["linked"]["jid"].startswith(phone))

    def test_send_text_is_acked_and_arrives(self):
        head = self.wa.events_page("bob", 0, 1)["last_seq"]
        text = "hello bob " + secrets.token_hex(4)
        sent = self.wa.send_text("alice", "+15550102", text, client_id="py-" + secrets.token_hex(4))
        self.assertTrue(sent["id"])
        # Bob's side: the message is in his log (follow = long poll until it comes).
        got = None
        for ev in self.wa.events("bob", since=head, follow=True, wait_ms=5000):
            if ev["type"] == "message" and ev.get("text") == text:
                got = ev
                break
        self.assertEqual(got["id"], sent["id"])
        self.assertTrue(got["sender"].startswith("15550101") or got.get("sender_pn", "").startswith("15550101"))

    def test_events_replay_is_ordered_and_resumes(self):
        all_events = list(self.wa.events("alice", since=0, limit=3))
        seqs = [e["seq"] for e in all_events]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(seqs), len(set(seqs)))
        self.assertGreaterEqual(len(seqs), 4)  # more than one page of 3
        self.assertIn("paired", [e["type"] for e in all_events])
        # Stored qr events never carry the QR string.
        self.assertFalse([e for e in all_events if e["type"] == "qr" and e.get("qr")])
        mid = seqs[len(seqs) // 2]
        self.assertEqual([e["seq"] for e in self.wa.events("alice", since=mid)], [s for s in seqs if s > mid])

    def test_follow_wakes_on_a_new_event(self):
        head = self.wa.events_page("alice", 0, 1)["last_seq"]
        # Nothing past `since`: the long poll ends empty after about wait_ms
        # (a seq far ahead, so no event of the account can answer it).
        t0 = time.monotonic()
        page = self.wa.events_page("alice", head + 100000, wait_ms=700)
        self.assertEqual(page["events"], [])
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)
        # A message arriving while the poll waits answers it at once.
        text = "wake up " + secrets.token_hex(4)
        threading.Timer(0.3, lambda: self.wa.send_text("bob", "+15550101", text)).start()
        t0 = time.monotonic()
        got = []
        for ev in self.wa.events("alice", since=head, follow=True, wait_ms=20000):
            got.append(ev)
            if ev["type"] == "message" and ev.get("text") == text:
                break
        self.assertLess(time.monotonic() - t0, 15)
        self.assertTrue(all(e["seq"] > head for e in got))

    def test_websocket_replays_then_follows(self):
        head = self.wa.events_page("bob", 0, 1)["last_seq"]
        text = "over the socket " + secrets.token_hex(4)
        with self.wa.stream(since=max(0, head - 2), profile="bob", timeout=20) as ws:
            seen = []
            sent = False
            for ev in ws:
                seen.append(ev)
                if ev.get("seq", 0) >= head and not sent:
                    sent = True
                    self.wa.send_text("alice", "+15550102", text)
                if ev["type"] == "message" and ev.get("text") == text:
                    break
        logged = [e["seq"] for e in seen if e.get("seq")]
        self.assertEqual(logged, sorted(set(logged)))
        self.assertEqual(logged[0], max(1, head - 1))
        self.assertTrue(all(e["profile"] == "bob" for e in seen))

    def test_send_media_uploads_the_file(self):
        data = b"%PDF-1.4\n% wa_client upload test " + secrets.token_bytes(64) + b"\n%%EOF\n"
        head = self.wa.events_page("bob", 0, 1)["last_seq"]
        sent = self.wa.send_media("alice", "+15550102", file=data, filename="report.pdf", type="document")
        self.assertEqual(sent["media"]["size"], len(data))
        self.assertEqual(sent["media"]["sha256"], hashlib.sha256(data).hexdigest())
        got = None
        for ev in self.wa.events("bob", since=head, follow=True, wait_ms=5000):
            if ev["type"] == "message" and ev.get("id") == sent["id"]:
                got = ev
                break
        self.assertEqual((got["msg_type"], got["size"], got["sha256"]), ("document", len(data), sent["media"]["sha256"]))

    def test_errors_come_with_their_code(self):
        with self.assertRaises(WAError) as cm:
            self.wa.status("nobody")
        self.assertEqual((cm.exception.code, cm.exception.status), ("unknown_profile", 404))
        with self.assertRaises(WAError) as cm:
            self.wa.send_text("alice", "not a jid", "x")
        self.assertEqual(cm.exception.status, 400)
        with self.assertRaises(WAError) as cm:
            Client(self.tree.base, token="wrong").status()
        self.assertEqual((cm.exception.code, cm.exception.status), ("unauthorized", 401))
        with self.assertRaises(WAError) as cm:
            Client(self.tree.base, token="wrong").stream(since=0)
        self.assertEqual((cm.exception.code, cm.exception.status), ("unauthorized", 401))
        viewer = Client(self.tree.base, token=self.tree.read_token)
        self.assertEqual([i["profile"] for i in viewer.status()], ["alice"])
        with self.assertRaises(WAError) as cm:
            viewer.send_text("alice", "+15550102", "not allowed")
        self.assertEqual((cm.exception.code, cm.exception.status), ("forbidden", 403))

    def test_webhook_deliveries_verify_and_deduplicate(self):
        # Real deliveries from wa-webhooks (when it is built): the receiver
        # refuses the first batch, so at-least-once sends it again; what the
        # client library gives a receiver (verify_signature, idempotency_key)
        # must turn that into each event once, in order.
        deliverer = os.path.join(BIN_DIR, "wa-webhooks")
        if not os.path.exists(deliverer):
            self.skipTest("wa-webhooks is not built")
        got = []
        lock = threading.Lock()

        class Receiver(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    got.append((dict(self.headers), raw))
                    first = len(got) == 1
                self.send_response(500 if first else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        secret = secrets.token_hex(16)
        self.secrets.append(secret)
        try:
            self.wa.call("webhook_create", name="py", url=f"http://127.0.0.1:{receiver.server_port}/hook",
                         secret=secret, events=["message"], profiles=["bob"])
            self.tree._spawn("webhooks", [deliverer, "--config", self.tree.config])
            tag = secrets.token_hex(4)
            texts = [f"hook {i} {tag}" for i in range(3)]
            for t in texts:
                self.wa.send_text("alice", "+15550102", t)

            def unique():
                with lock:
                    batches = list(got)
                seen, out = set(), []
                # Only what was accepted counts: the refused first batch may
                # hold every text, and must come again.
                for headers, raw in batches[1:]:
                    for ev in json.loads(raw)["events"]:
                        if ev["idempotency_key"] not in seen:
                            seen.add(ev["idempotency_key"])
                            out.append(ev)
                return out
            until("the three texts delivered", lambda: {e.get("text") for e in unique()} >= set(texts), 30)
        finally:
            receiver.shutdown()
            receiver.server_close()
        self.assertGreaterEqual(len(got), 2)  # the refused batch came again
        for headers, raw in got:
            h = {k.lower(): v for k, v in headers.items()}
            self.assertTrue(verify_signature(secret, h["x-wa-timestamp"], raw, h["x-wa-signature"]))
            self.assertFalse(verify_signature(secret + "x", h["x-wa-timestamp"], raw, h["x-wa-signature"]))
            self.assertFalse(verify_signature(secret, h["x-wa-timestamp"], raw + b" ", h["x-wa-signature"]))
            body = json.loads(raw)
            seqs = [e["seq"] for e in body["events"]]
            self.assertEqual((h["x-wa-webhook"], body["webhook"], body["profile"]), ("py", "py", "bob"))
            self.assertEqual(h["x-wa-delivery"], f"bob:{seqs[0]}-{seqs[-1]}")
            self.assertEqual([e["idempotency_key"] for e in body["events"]], [f"bob:{q}" for q in seqs])
            self.assertTrue(all(e["type"] == "message" for e in body["events"]))
        events = unique()
        self.assertEqual([e["seq"] for e in events], sorted(e["seq"] for e in events))
        self.assertEqual([e["text"] for e in events if e.get("text") in texts], texts)

    def test_node_example_runs(self):
        # clients/node/example.mjs against the same tree: status, a send, then
        # the replay of alice's log (it follows forever: stopped once seen).
        node = shutil.which("node")
        if not node:
            self.skipTest("node is not installed")
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "node", "example.mjs")
        text = "from node " + secrets.token_hex(4)
        env = dict(os.environ, WA_URL=self.tree.base, WA_TOKEN=self.tree.admin_token)
        proc = subprocess.Popen([node, example, "alice", "+15550102", text], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        lines = []
        try:
            timer = threading.Timer(30, proc.kill)
            timer.start()
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if " paired" in line:
                    break
            timer.cancel()
        finally:
            proc.kill()
            proc.wait()
        out = "\n".join(lines)
        self.assertIn("alice running 15550101", out, proc.stderr.read() if proc.stderr else "")
        sent = [ln.split()[1] for ln in lines if ln.startswith("sent ")]
        self.assertEqual(len(sent), 1, out)
        def arrived():
            return next((ev for ev in self.wa.events("bob", since=0)
                         if ev["type"] == "message" and ev.get("text") == text), None)
        self.assertEqual(until("the Node example's text at bob", arrived)["id"], sent[0])

    def test_z_nothing_secret_in_the_logs(self):
        # Named to run last (unittest sorts by name): every process has run.
        for name in self.tree.logs:
            log = self.tree.log(name)
            for secret in self.secrets:
                self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main()
