#!/usr/bin/env python3
"""Test-only HTTPS media host for the wa_media unit tests.

usage: media_host.py CERT KEY DATA_DIR AUTH
Prints "PORT <n>" on stdout once it listens on 127.0.0.1.

POST /mms/<type>/<token>?auth=AUTH&token=<token>: checks auth and that the
token is the unpadded base64url SHA-256 of the body, stores it, answers
{"url", "direct_path"} with direct_path "/v/<token>.enc?ccb=1".
An auth of "too-large" is answered 413.
GET /v/<name>?...: the stored body; unknown names 404.
GET /corrupt/<name>?...: the stored body with one byte flipped.
GET /gone/<name>?...: 410.  GET /fail/<name>?...: 500.
"""
import base64
import hashlib
import http.server
import json
import os
import ssl
import sys
import urllib.parse

CERT, KEY, DATA, AUTH = sys.argv[1:5]


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", ctype="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        parts = u.path.split("/")
        length = int(self.headers.get("Content-Length", "0"))
        try:
            body = self.rfile.read(length)
        except OSError:
            return
        if len(body) != length:
            self.close_connection = True
            return
        if q.get("auth", [""])[0] == "too-large":
            return self.reply(413)
        if len(parts) != 4 or parts[1] != "mms" or q.get("auth", [""])[0] != AUTH:
            return self.reply(401)
        token = parts[3]
        if q.get("token", [""])[0] != token or b64url(hashlib.sha256(body).digest()) != token:
            return self.reply(400)
        if self.headers.get("Origin") != "https://web.whatsapp.com":
            return self.reply(400)
        with open(os.path.join(DATA, token), "wb") as f:
            f.write(body)
        dp = "/v/" + token + ".enc?ccb=1"
        host = self.headers.get("Host", "")
        self.reply(200, json.dumps({"url": "https://" + host + dp, "direct_path": dp}).encode(), "application/json")

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.split("/")
        if len(parts) != 3:
            return self.reply(404)
        kind, name = parts[1], parts[2]
        if kind == "gone":
            return self.reply(410)
        if kind == "fail":
            return self.reply(500)
        p = os.path.join(DATA, name[:-4] if name.endswith(".enc") else name)
        if kind not in ("v", "corrupt") or not os.path.isfile(p):
            return self.reply(404)
        with open(p, "rb") as f:
            body = bytearray(f.read())
        if kind == "corrupt":
            body[len(body) // 2] ^= 0x01
        self.reply(200, bytes(body))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
