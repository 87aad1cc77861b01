#!/usr/bin/env python3
"""Test webhook receiver (stdlib only): records every delivery as one JSON
line and answers as the mode file says.

  receiver.py --dir DIR --secret S [--port N]

Writes DIR/port once listening. Reads DIR/mode (one word) on each request:
  ok     answer 200
  500    answer 500
  hang   record, then hold the request for --hang-s seconds (past the
         deliverer's timeout) before answering 200
  slow   answer 200 after --slow-ms
  maxN   answer 413 to a batch of more than N events, else 200
Each request appends to DIR/deliveries.jsonl, before answering:
  {"phase": "start", "id": N}  then
  {"phase": "done", "id": N, "mode", "status", "sig_ok", "headers", "body"}
The signature is checked here exactly as a receiver would (HMAC-SHA256 of
"<timestamp>.<body>", 300 s tolerance). Killing the process (kill -9) and
starting it again on the same --port and --dir continues the record.
"""
import argparse
import hashlib
import hmac
import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()
counter = [0]


def record(obj):
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    with lock:
        # O_APPEND + one write per line: lines of a killed process are whole or absent.
        fd = os.open(os.path.join(args.dir, "deliveries.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def mode():
    try:
        with open(os.path.join(args.dir, "mode")) as f:
            return f.read().strip() or "ok"
    except FileNotFoundError:
        return "ok"


def verify(secret, timestamp, body, header, tolerance=300):
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    want = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, header or "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with lock:
            counter[0] += 1
            rid = "%d-%d" % (os.getpid(), counter[0])
        record({"phase": "start", "id": rid})
        m = mode()
        sig_ok = verify(args.secret, self.headers.get("X-WA-Timestamp"), body, self.headers.get("X-WA-Signature"))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        status = 500 if m == "500" else 200
        if m.startswith("max") and parsed is not None and len(parsed.get("events", [])) > int(m[3:]):
            status = 413  # a receiver's body size limit
        record({"phase": "done", "id": rid, "mode": m, "status": status, "sig_ok": sig_ok,
                "headers": {k: v for k, v in self.headers.items() if k.lower().startswith("x-wa-")},
                "body": parsed})
        if m == "hang":
            time.sleep(args.hang_s)
        elif m == "slow":
            time.sleep(args.slow_ms / 1000.0)
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--hang-s", type=float, default=3.0)
    p.add_argument("--slow-ms", type=int, default=300)
    args = p.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, os.path.join(args.dir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
