"""wa_client without wa-http: the signature check against a vector computed
with `openssl dgst -sha256 -hmac`, and the client's requests against a small
stand-in server that records what it receives (paths, auth, bodies) and
answers envelopes, long polls and a WebSocket."""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from wa_client import Client, WAError, sign, verify_signature  # noqa: E402

# printf '%s' '1796300000.<BODY>' | openssl dgst -sha256 -hmac 'whsec_test_1'
VECTOR_SECRET = "whsec_test_1"
VECTOR_TS = "1796300000"
VECTOR_BODY = (b'{"webhook":"crm","profile":"sales","events":[{"seq":42,"type":"message",'
               b'"idempotency_key":"sales:42"}]}')
VECTOR_SIG = "sha256=4856783570adc3958f080c85ade3a63b43f904f50e1080ba813384e44a769b2e"


class SignatureTest(unittest.TestCase):
    def test_known_vector(self):
        self.assertEqual(sign(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY), VECTOR_SIG)
        self.assertTrue(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, VECTOR_SIG, now=1796300010))

    def test_rejects_changes(self):
        now = 1796300010
        self.assertFalse(verify_signature("whsec_test_2", VECTOR_TS, VECTOR_BODY, VECTOR_SIG, now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, "1796300001", VECTOR_BODY, VECTOR_SIG, now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY + b" ", VECTOR_SIG, now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, VECTOR_SIG[7:], now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, "sha256=zz", now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, "", now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, None, now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, "17963e5", VECTOR_BODY, VECTOR_SIG, now=now))
        self.assertFalse(verify_signature(VECTOR_SECRET, "", VECTOR_BODY, VECTOR_SIG, now=now))

    def test_tolerance(self):
        ts = int(VECTOR_TS)
        self.assertTrue(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, VECTOR_SIG, now=ts + 300))
        self.assertTrue(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, VECTOR_SIG, now=ts - 300))
        self.assertFalse(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, VECTOR_SIG, now=ts + 301))
        self.assertFalse(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, VECTOR_SIG, now=ts - 301))
        self.assertTrue(verify_signature(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY, VECTOR_SIG, tolerance_s=None,
                                         now=ts + 10**6))


class StandIn(BaseHTTPRequestHandler):
    """Records each request; answers from the server's `routes`."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _handle(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = {"method": self.command, "path": url.path, "query": dict(urllib.parse.parse_qsl(url.query)),
               "auth": self.headers.get("Authorization"), "type": self.headers.get("Content-Type"), "body": body}
        self.server.seen.append(rec)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return _refuse(self) if getattr(self.server, "refuse_ws", False) else self._websocket(rec)
        status, doc, extra = self.server.route(rec)
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle

    def _websocket(self, rec):
        accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"]
                                                + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()

        def frame(opcode, payload, fin=True):
            n = len(payload)
            head = bytes([(0x80 if fin else 0) | opcode])
            head += bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n)
            self.wfile.write(head + payload)

        since = int(rec["query"].get("since", "0"))
        frame(0x1, json.dumps({"profile": "sales", "seq": since + 1, "type": "message"}).encode())
        frame(0x9, b"hi")  # a ping the client must answer
        big = json.dumps({"profile": "sales", "seq": since + 2, "type": "receipt", "pad": "x" * 300}).encode()
        frame(0x1, big[:100], fin=False)  # a fragmented message
        frame(0x0, big[100:])
        self.wfile.flush()
        # The client's pong (masked) must come back before the close.
        b0, b1 = self.rfile.read(2)
        mask = self.rfile.read(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(b1 & 0x7F)))
        self.server.pong = (b0 & 0x0F, bool(b1 & 0x80), payload)
        frame(0x8, struct.pack("!H", 1000))
        self.wfile.flush()
        self.close_connection = True


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
        self.server.seen = []
        self.server.route = lambda rec: (200, {"ok": True, "result": {}}, {})
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.client = Client(f"http://127.0.0.1:{self.server.server_port}", token="t0ken")

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_commands_become_paths_and_bodies(self):
        self.server.route = lambda rec: (200, {"ok": True, "result": {"id": "3EB0AA", "devices": 1}}, {})
        result = self.client.send_text("sales team", "+15550002", "hello", client_id="c-1")
        self.assertEqual(result["id"], "3EB0AA")
        rec = self.server.seen[-1]
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["path"], "/v1/profiles/sales%20team/send_text")
        self.assertEqual(rec["auth"], "Bearer t0ken")
        self.assertEqual(rec["type"], "application/json")
        self.assertEqual(json.loads(rec["body"]), {"to": "+15550002", "text": "hello", "client_id": "c-1"})
        self.client.start("sales", create=True)
        self.assertEqual(json.loads(self.server.seen[-1]["body"]), {"create": True})
        self.client.stop("sales")
        self.assertEqual((self.server.seen[-1]["path"], self.server.seen[-1]["body"]), ("/v1/profiles/sales/stop", b"{}"))
        self.client.call("ping")
        self.assertEqual(self.server.seen[-1]["path"], "/v1/ping")

    def test_status_is_a_get(self):
        self.server.route = lambda rec: (200, {"ok": True, "result": {"instances": [{"profile": "sales"}]}}, {})
        self.assertEqual(self.client.status(), [{"profile": "sales"}])
        self.assertEqual((self.server.seen[-1]["method"], self.server.seen[-1]["path"]), ("GET", "/v1/status"))
        self.client.status("sales")
        self.assertEqual(self.server.seen[-1]["path"], "/v1/profiles/sales/status")

    def test_errors_keep_code_and_status(self):
        self.server.route = lambda rec: (429, {"ok": False, "error": {"code": "rate_limited", "message": "slow"}},
                                         {"Retry-After": "2"})
        with self.assertRaises(WAError) as cm:
            self.client.send_text("sales", "+15550002", "x")
        self.assertEqual((cm.exception.code, cm.exception.status, cm.exception.retry_after), ("rate_limited", 429, 2.0))
        self.server.route = lambda rec: (502, "not an envelope", {})
        with self.assertRaises(WAError) as cm:
            self.client.status()
        self.assertEqual((cm.exception.code, cm.exception.status), ("bad_response", 502))

    def test_no_answer_in_time(self):
        # A POST without an answer may have run: unknown_outcome, not a plain timeout.
        self.server.route = lambda rec: (time.sleep(1.0), (200, {"ok": True, "result": {}}, {}))[1]
        slow = Client(self.client.base_url, token="t0ken", timeout=0.3)
        with self.assertRaises(WAError) as cm:
            slow.send_text("sales", "+15550002", "x")
        self.assertEqual(cm.exception.code, "unknown_outcome")
        with self.assertRaises(WAError) as cm:
            slow.status()
        self.assertEqual(cm.exception.code, "timeout")

    def test_unreachable(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaises(WAError) as cm:
            Client(f"http://127.0.0.1:{port}", timeout=2).status()
        self.assertEqual(cm.exception.code, "unreachable")

    def test_upload_then_send_media(self):
        def route(rec):
            if rec["path"].endswith("/media"):
                return 200, {"ok": True, "result": {"path": "/srv/outbox/http/u1"}}, {}
            return 200, {"ok": True, "result": {"id": "X"}}, {}
        self.server.route = route
        self.client.send_media("sales", "+15550002", file=b"%PDF-1.4 bytes", filename="a.pdf", caption="c")
        up, send = self.server.seen[-2:]
        self.assertEqual((up["path"], up["body"], up["query"]), ("/v1/profiles/sales/media", b"%PDF-1.4 bytes",
                                                                {"name": "a.pdf"}))
        self.assertEqual(json.loads(send["body"]), {"to": "+15550002", "path": "/srv/outbox/http/u1",
                                                    "caption": "c", "filename": "a.pdf"})
        with self.assertRaises(ValueError):
            self.client.send_media("sales", "+15550002")

    def test_events_replay_then_follow(self):
        log = [{"seq": s, "type": "message"} for s in range(1, 6)]

        def route(rec):
            since = int(rec["query"]["since"])
            limit = int(rec["query"].get("limit", 500))
            page = [e for e in log if e["seq"] > since][:limit]
            return 200, {"ok": True, "result": {"events": page, "last_seq": log[-1]["seq"]}}, {}
        self.server.route = route
        self.assertEqual([e["seq"] for e in self.client.events("sales", since=1, limit=2)], [2, 3, 4, 5])
        self.assertEqual([r["query"]["since"] for r in self.server.seen], ["1", "3", "5"])
        self.assertNotIn("wait_ms", self.server.seen[0]["query"])
        # Following: the empty page's long poll is answered by a new event.
        self.server.seen.clear()
        it = self.client.events("sales", since=4, follow=True, wait_ms=1000)
        self.assertEqual(next(it)["seq"], 5)
        log.append({"seq": 6, "type": "receipt"})
        self.assertEqual(next(it)["seq"], 6)
        self.assertEqual(self.server.seen[-1]["query"]["wait_ms"], "1000")
        self.assertEqual(self.server.seen[-1]["query"]["since"], "5")

    def test_websocket_stream(self):
        with self.client.stream(since=41, profile="sales", timeout=5) as ws:
            got = list(ws)
        self.assertEqual([(e["seq"], e["type"]) for e in got], [(42, "message"), (43, "receipt")])
        self.assertEqual(len(got[1]["pad"]), 300)
        self.assertEqual(self.server.pong, (0xA, True, b"hi"))
        rec = self.server.seen[-1]
        self.assertEqual((rec["path"], rec["query"], rec["auth"]), ("/v1/events", {"since": "41", "profile": "sales"},
                                                                    "Bearer t0ken"))

    def test_websocket_refused_is_an_error(self):
        self.server.refuse_ws = True
        with self.assertRaises(WAError) as cm:
            self.client.stream(since=0)
        self.assertEqual((cm.exception.code, cm.exception.status), ("unauthorized", 401))


def _refuse(handler):
    data = json.dumps({"ok": False, "error": {"code": "unauthorized", "message": "no"}}).encode()
    handler.send_response(401)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
    handler.close_connection = True


if __name__ == "__main__":
    unittest.main()
