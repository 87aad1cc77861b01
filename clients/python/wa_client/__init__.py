"""A small client of wa-http, the HTTP API of wa-supervisor (standard library only).

    from wa_client import Client
    wa = Client("http://127.0.0.1:8080", token="...")
    wa.send_text("sales", "+15557654321", "hello")
    for ev in wa.events("sales", since=0, follow=True):
        print(ev["seq"], ev["type"])

Every command of the control registry is reachable with ``call`` / ``get``; the
methods below are the common ones. A failed request raises ``WAError`` with the
API's error ``code`` (the same codes as the control socket, docs/CONTROL.md).
``verify_signature`` checks the ``X-WA-Signature`` header of a webhook delivery.
"""

import base64
import hashlib
import hmac
import json
import mimetypes
import os
import socket
import ssl
import struct
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Client", "WAError", "verify_signature", "sign"]

# How long a request may wait for its answer. The supervisor answers every
# request by its own deadline (timeout / unknown_outcome), so these only
# cover its defaults: a send within 160 s (queue 60 s, three iq rounds of
# 20 s, server ack 30 s, margin), a media send within 480 s (plus a
# transfer of 300 s and one more iq). Larger `senders` settings need larger
# values here.
DEFAULT_TIMEOUT_S = 180.0
TRANSFER_TIMEOUT_S = 540.0


class WAError(Exception):
    """An error answer of the API: ``code`` and ``message`` as the API gave them,
    ``status`` the HTTP status (0 when the server could not be reached)."""

    def __init__(self, code, message, status=0, retry_after=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


def _quote(segment):
    return urllib.parse.quote(str(segment), safe="")


class Client:
    """One API endpoint and one bearer token. ``ssl_context`` for HTTPS with a
    private CA (``ssl.create_default_context(cafile=...)``). ``timeout``: how
    long one request waits for its answer (seconds)."""

    def __init__(self, base_url, token=None, timeout=DEFAULT_TIMEOUT_S, ssl_context=None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.ssl_context = ssl_context

    # -- transport ---------------------------------------------------------

    def _request(self, method, path, query=None, body=None, content_type=None, timeout=None):
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: _query_value(v) for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self.ssl_context) as resp:
                return resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            data = e.read()
            return e.code, data, e.headers
        except (urllib.error.URLError, OSError) as e:
            if isinstance(getattr(e, "reason", e), (socket.timeout, TimeoutError)):
                # No answer in time: a POST may have run (a send may have left;
                # resend with the same client_id to be sure it goes once).
                code = "unknown_outcome" if method == "POST" else "timeout"
                raise WAError(code, f"no answer from {self.base_url} within {timeout or self.timeout} s") from e
            raise WAError("unreachable", f"{self.base_url}: {getattr(e, 'reason', e)}") from e

    def _envelope(self, status, data, headers):
        try:
            doc = json.loads(data.decode("utf-8")) if data else None
        except (UnicodeDecodeError, ValueError):
            doc = None
        if not isinstance(doc, dict) or "ok" not in doc:
            raise WAError("bad_response", f"HTTP {status}: not a JSON envelope", status)
        if doc["ok"] is True:
            return doc.get("result")
        err = doc.get("error") or {}
        retry = headers.get("Retry-After") if headers is not None else None
        raise WAError(err.get("code", "error"), err.get("message", ""), status,
                      float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)

    @staticmethod
    def _path(command, profile):
        if profile is None:
            return "/v1/" + _quote(command)
        return "/v1/profiles/" + _quote(profile) + "/" + _quote(command)

    def call(self, command, profile=None, **fields):
        """POST any registry command; returns its ``result``. Fields whose value
        is None are left out."""
        return self._post(command, profile, fields)

    def _post(self, command, profile, fields, timeout=None):
        body = json.dumps({k: v for k, v in fields.items() if v is not None}).encode("utf-8")
        return self._envelope(*self._request("POST", self._path(command, profile), body=body, timeout=timeout))

    def get(self, command, profile=None, timeout=None, **params):
        """GET a read command with its fields as query parameters."""
        return self._envelope(*self._request("GET", self._path(command, profile), query=params, timeout=timeout))

    # -- instances ---------------------------------------------------------

    def status(self, profile=None):
        """The instances the token may see: a list of dicts (state, linked, connection, ...)."""
        if profile is None:
            return self.get("status")["instances"]
        return self.get("status", profile)["instances"]

    def start(self, profile, create=False):
        return self.call("start", profile, create=True if create else None)

    def stop(self, profile):
        return self.call("stop", profile)

    def restart(self, profile):
        return self.call("restart", profile)

    # -- sending -----------------------------------------------------------

    def send_text(self, profile, to, text, client_id=None, quoted_id=None, quoted_sender=None):
        """Answered on the server's ack: ``{"id", "devices", ...}``. ``to`` is a
        JID or a phone number. Give a ``client_id`` to make a retry safe."""
        return self.call("send_text", profile, to=to, text=text, client_id=client_id,
                         quoted_id=quoted_id, quoted_sender=quoted_sender)

    def upload(self, profile, data, content_type=None, filename=None):
        """Stores bytes (or the file at path ``data``) with the API; returns the
        server-side path to give ``send_media``."""
        if isinstance(data, (str, os.PathLike)):
            filename = filename or os.path.basename(data)
            content_type = content_type or mimetypes.guess_type(str(data))[0]
            with open(data, "rb") as f:
                data = f.read()
        query = {"name": filename} if filename else None  # wa-http keeps only its extension
        status, body, headers = self._request("POST", self._path("media", profile), query=query, body=bytes(data),
                                              content_type=content_type or "application/octet-stream",
                                              timeout=max(self.timeout, TRANSFER_TIMEOUT_S))
        return self._envelope(status, body, headers)["path"]

    def send_media(self, profile, to, file=None, path=None, type=None, caption=None, filename=None,
                   client_id=None):
        """Sends a file: ``file`` (a local path or bytes) is uploaded first;
        ``path`` names a file already on the server's machine (under
        ``media.allowed_roots``)."""
        if (file is None) == (path is None):
            raise ValueError("give exactly one of file= or path=")
        if file is not None:
            if filename is None and isinstance(file, (str, os.PathLike)):
                filename = os.path.basename(file)
            path = self.upload(profile, file, filename=filename)
        # An upload to the media host comes before the answer: the transfer deadline.
        return self._post("send_media", profile, dict(to=to, path=path, type=type, caption=caption,
                                                       filename=filename, client_id=client_id),
                          timeout=max(self.timeout, TRANSFER_TIMEOUT_S))

    # -- events ------------------------------------------------------------

    def events_page(self, profile, since=0, limit=None, wait_ms=None):
        """One page of the profile's log: ``{"events": [...], "last_seq"}``.
        With ``wait_ms`` the server holds the request until an event past
        ``since`` exists (or the wait ends with an empty page)."""
        timeout = self.timeout + (wait_ms or 0) / 1000.0
        return self.get("events", profile, timeout=timeout, since=since, limit=limit, wait_ms=wait_ms)

    def events(self, profile, since=0, follow=False, limit=None, wait_ms=25000):
        """The profile's logged events after ``since``, in seq order, each once;
        with ``follow`` it then waits for new ones (long poll) and never ends.
        Resume after a crash by passing the last seq you handled."""
        while True:
            page = self.events_page(profile, since, limit, wait_ms if follow else None)
            events = page.get("events") or []
            for ev in events:
                seq = ev.get("seq", 0)
                if seq and seq <= since:
                    continue
                if seq:
                    since = seq
                yield ev
            if not events:
                since = max(since, page.get("last_seq") or 0)
                if not follow:
                    return

    def stream(self, since=0, profile=None, timeout=None):
        """The WebSocket ``/v1/events``: replays from ``since`` then follows
        live, one dict per event. An admin token also gets the live ``qr`` and
        ``pairing_code`` secrets (the log keeps them without). ``since`` may be
        a dict {profile: seq}. Close it with ``.close()`` or a ``with`` block."""
        if isinstance(since, dict):
            since = ",".join(f"{p}:{s}" for p, s in since.items())
        query = {"since": since}
        if profile is not None:
            query["profile"] = profile
        return _EventSocket(self, "/v1/events?" + urllib.parse.urlencode(query), timeout)

    def pair(self, profile, create=False, phone=None, timeout=120.0):
        """Starts linking the account (``create``: a new profile). With
        ``phone``: returns the 8-character code to type on that phone. Without:
        returns an iterator of the QR strings as the account shows them (a new
        one every ~20 s) that ends once the account is linked; the caller
        renders them (e.g. ``qrencode -t ansiutf8``). Needs an admin token."""
        if phone is not None:
            self._start_quietly(profile, create)
            return self.call("pair_code", profile, phone=phone)["code"]
        return self._qr_codes(profile, create, timeout)

    def _start_quietly(self, profile, create):
        try:
            self.start(profile, create=create)
        except WAError as e:
            if e.code != "already_running":
                raise

    def _qr_codes(self, profile, create, timeout):
        # The QR string travels only live, to admin tokens: the log (and so a
        # replay) keeps `qr` events without it. Listen from the log's head; a
        # code that went by before we listened comes back without its string,
        # and then a restarted worker shows a fresh one.
        try:
            head = self.events_page(profile, 0, 1).get("last_seq") or 0
        except WAError as e:
            if e.code != "unknown_profile" or not create:
                raise
            self._start_quietly(profile, True)
            head = 0  # a new profile: its whole (short) log
        deadline = time.monotonic() + timeout
        restarts = 0
        restart = False
        while True:
            if time.monotonic() > deadline:
                raise WAError("timeout", f"{profile} not linked within {timeout} s")
            missed = False
            with self.stream(since=head, profile=profile, timeout=10.0) as ws:
                # Act only once we listen, so the worker's next code is live.
                if restart:
                    self.restart(profile)
                else:
                    self._start_quietly(profile, create)
                linked = self.status(profile)
                if linked and (linked[0].get("linked") or {}).get("jid"):
                    return
                try:
                    for ev in ws:
                        head = max(head, ev.get("seq") or 0)
                        if ev.get("type") == "qr":
                            if ev.get("qr"):
                                yield ev["qr"]
                            else:
                                missed = True
                                break
                        elif ev.get("type") == "paired" or (ev.get("type") == "connection"
                                                            and ev.get("state") == "open"):
                            return
                        if time.monotonic() > deadline:
                            raise WAError("timeout", f"{profile} not linked within {timeout} s")
                except (socket.timeout, TimeoutError):
                    missed = True
            # A stream the server closed is opened again; a missed code
            # needs a restart (a few at most).
            restart = missed
            if missed:
                restarts += 1
                if restarts > 3:
                    raise WAError("pairing_failed", f"no QR code of {profile} reached this client")


def _query_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


class _EventSocket:
    """A minimal RFC 6455 client for the event stream (text frames only; the
    standard library has none)."""

    def __init__(self, client, target, timeout):
        url = urllib.parse.urlsplit(client.base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        sock = socket.create_connection((url.hostname, port), timeout=client.timeout)
        if url.scheme == "https":
            ctx = client.ssl_context or ssl.create_default_context()
            sock = ctx.wrap_socket(sock, server_hostname=url.hostname)
        self._sock = sock
        self._buf = b""
        self._closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        path = (url.path.rstrip("/") or "") + target
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if client.token:
            lines.append("Authorization: Bearer " + client.token)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        headers = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip() for h in header_lines if ":" in h}
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            # The refusal's JSON body may come in a later segment than its headers.
            length = headers.get("content-length", "")
            try:
                body = self._read(min(int(length), 65536)) if length.isdigit() else b""
            except (EOFError, OSError):
                body = self._buf
            self.close()
            try:
                err = json.loads(body.decode()).get("error", {})
            except ValueError:
                err = {}
            raise WAError(err.get("code", "websocket_refused"), err.get("message", status_line), code)
        want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != want:
            self.close()
            raise WAError("bad_response", "WebSocket handshake without the right Sec-WebSocket-Accept")
        sock.settimeout(timeout)

    def _read_until(self, marker):
        while marker not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise WAError("closed", "connection closed during the WebSocket handshake")
            self._buf += chunk
            if len(self._buf) > 65536:
                raise WAError("bad_response", "WebSocket handshake answer too long")
        head, self._buf = self._buf.split(marker, 1)
        return head

    def _read(self, n):
        while len(self._buf) < n:
            chunk = self._sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise EOFError
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(head + mask + masked)

    def _frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if b1 & 0x80 else None
        payload = self._read(n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def __iter__(self):
        return self

    def __next__(self):
        message = b""
        while not self._closed:
            try:
                fin, opcode, payload = self._frame()
            except socket.timeout:
                raise  # the caller's timeout, not the end of the stream
            except (EOFError, OSError):
                self.close()
                break
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                try:
                    self._send(0x8, payload[:2])
                except OSError:
                    pass
                self.close()
            elif opcode in (0x1, 0x0):
                message += payload
                if fin:
                    return json.loads(message.decode("utf-8"))
        raise StopIteration

    def close(self):
        if not self._closed:
            self._closed = True
            try:
                self._sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sign(secret, timestamp, body):
    """The ``X-WA-Signature`` value for a delivery: ``sha256=<hex>`` of
    HMAC-SHA256(secret, "<timestamp>.<body>")."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if isinstance(body, str):
        body = body.encode("utf-8")
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret, timestamp, body, header, tolerance_s=300, now=None):
    """True when ``header`` (the ``X-WA-Signature`` value) signs ``body`` (the raw
    request bytes, before any JSON parsing) at ``timestamp`` (the
    ``X-WA-Timestamp`` value) with ``secret``, and the timestamp is within
    ``tolerance_s`` seconds of ``now`` (replays of old deliveries fail).
    Duplicates that at-least-once delivery implies are dropped by the events'
    ``idempotency_key``, not here."""
    if not header or not isinstance(header, str) or not header.startswith("sha256="):
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    if str(ts) != str(timestamp).strip():
        return False
    current = time.time() if now is None else now
    if tolerance_s is not None and abs(current - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().lower().encode("ascii", "replace"))
