# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP to one port of one pod through the API server, the way ``kubectl port-forward`` gets there.

The path is the ``pods/{name}/portforward`` subresource upgraded to a WebSocket, which the API
server relays to the kubelet (or, on the test ground, to kwok). The channel protocol
(``v4.channel.k8s.io``) is small and spoken here on the standard library alone:

- every binary frame starts with a channel byte: ``0`` carries the TCP stream, ``1`` carries
  errors from the kubelet (for example "connection refused" when nothing listens on the port);
- the first frame of each channel is the port number, two bytes, little endian.

Why not ``kubernetes.stream.portforward``: with kube-apiserver 1.34 and kwok it moves the bytes,
but the kubelet side never tells the client when the pod closed its end, so a reader that waits
for end-of-stream hangs until its timeout; it also opens its sockets with no connect or read timeout
and pumps through a thread per forward. A gate needs one bounded request per check, an answer
framed by HTTP (Content-Length or chunks), and errors it can put in words, so this module opens the
WebSocket itself with the TLS material, proxy and credentials of the same client configuration
(refreshing tokens through the configuration's hooks, as the REST calls do), one per request.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import http.client
import io
import json
import os
import socket
import ssl
import struct

from urllib.parse import urlencode, urlsplit

DATA_CHANNEL = 0
ERROR_CHANNEL = 1
SUBPROTOCOL = "v4.channel.k8s.io"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class PortForwardError(Exception):
    """The pod's port could not be reached; the message says where it broke, for a person."""


class _Frames:
    """RFC 6455 framing over a connected socket: masked frames out, whole messages in."""

    def __init__(self, sock):
        self.sock = sock

    def _exact(self, n):
        chunks = []
        while n > 0:
            chunk = self.sock.recv(n)
            if not chunk:
                raise EOFError("connection closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def send(self, opcode, payload):
        head = bytearray([0x80 | opcode])
        size = len(payload)
        if size < 126:
            head.append(0x80 | size)
        elif size < 1 << 16:
            head.append(0x80 | 126)
            head += struct.pack("!H", size)
        else:
            head.append(0x80 | 127)
            head += struct.pack("!Q", size)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(head) + mask + masked)

    def _frame(self):
        b0, b1 = self._exact(2)
        size = b1 & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._exact(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._exact(8))[0]
        mask = self._exact(4) if b1 & 0x80 else None
        payload = self._exact(size) if size else b""
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def message(self):
        """The next data message as (opcode, payload); answers pings; (OP_CLOSE, reason) at the end."""
        parts, first = [], None
        while True:
            fin, opcode, payload = self._frame()
            if opcode == OP_PING:
                self.send(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                return OP_CLOSE, payload[2:]
            if first is None:
                first = opcode
            parts.append(payload)
            if fin:
                return first, b"".join(parts)


def _ssl_context(config):
    if getattr(config, "verify_ssl", True):
        ctx = ssl.create_default_context(cafile=getattr(config, "ssl_ca_cert", None) or None)
        if getattr(config, "assert_hostname", None) is False:
            ctx.check_hostname = False
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if getattr(config, "cert_file", None):
        ctx.load_cert_chain(config.cert_file, getattr(config, "key_file", None) or None)
    return ctx


def _read_head(sock, limit=65536):
    """Status line and headers of an HTTP response; the rest of what was read comes back too."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            break
    head, _sep, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    headers = {}
    for line in lines[1:]:
        key, _colon, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, rest


def _status_message(body):
    try:
        return json.loads(body.decode("utf-8", "replace")).get("message") or body.decode("utf-8", "replace")
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")


class PodPortForward:
    """One TCP connection to ``port`` of a pod, carried over one WebSocket to the API server."""

    def __init__(self, api, namespace, pod, port, timeout=10.0):
        self.api = api
        self.namespace = namespace
        self.pod = pod
        self.port = int(port)
        self.timeout = timeout
        self.sock = None
        self.frames = None
        self.seen_port = set()
        self.closed = False

    @property
    def where(self):
        return "port %d of pod %s/%s" % (self.port, self.namespace, self.pod)

    def _fail(self, what):
        raise PortForwardError("cannot reach %s through the API server's port-forward: %s" % (self.where, what))

    def _connect(self, config):
        """A TCP (and TLS) connection to the API server, through the configured proxy if any."""
        url = urlsplit(config.host)
        host = url.hostname
        port = url.port or (443 if url.scheme == "https" else 80)
        proxy = getattr(config, "proxy", None)
        if proxy:
            purl = urlsplit(proxy)
            raw = socket.create_connection((purl.hostname, purl.port or 3128), timeout=self.timeout)
            lines = ["CONNECT %s:%d HTTP/1.1" % (host, port), "Host: %s:%d" % (host, port)]
            for key, value in (getattr(config, "proxy_headers", None) or {}).items():
                lines.append("%s: %s" % (key, value))
            raw.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            status, _headers, _rest = _read_head(raw)
            if status != 200:
                raw.close()
                self._fail("the proxy %s refused CONNECT (HTTP %s)" % (proxy, status))
        else:
            raw = socket.create_connection((host, port), timeout=self.timeout)
        if url.scheme == "https":
            server_name = getattr(config, "tls_server_name", None) or host
            return _ssl_context(config).wrap_socket(raw, server_hostname=server_name), url.netloc
        return raw, url.netloc

    def open(self):
        config = self.api.api_client.configuration
        path = self.api.path("v1", "pods", self.namespace, self.pod, "portforward")
        path += "?" + urlencode({"ports": str(self.port)})
        try:
            self.sock, netloc = self._connect(config)
        except (OSError, ssl.SSLError) as exc:
            self._fail("cannot connect to the API server %s: %s" % (config.host, exc))
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        headers = {
            "Host": netloc,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Protocol": SUBPROTOCOL,
        }
        # Same credentials as the REST calls, refreshed by the configuration's hooks when they expire.
        rest_headers = self.api._headers("application/json")
        if rest_headers.get("Authorization"):
            headers["Authorization"] = rest_headers["Authorization"]
        # The client's own user agent, so audit logs show gate requests beside the REST calls.
        if rest_headers.get("User-Agent"):
            headers["User-Agent"] = rest_headers["User-Agent"]
        request = "GET %s HTTP/1.1\r\n%s\r\n\r\n" % (path, "\r\n".join("%s: %s" % kv for kv in headers.items()))
        try:
            self.sock.sendall(request.encode("latin-1"))
            status, resp_headers, rest = _read_head(self.sock)
        except (OSError, ssl.SSLError) as exc:
            self.close()
            self._fail("the API server did not answer the upgrade: %s" % exc)
        if status != 101:
            body = rest
            try:
                want = int(resp_headers.get("content-length") or 0)
                while len(body) < want:
                    chunk = self.sock.recv(want - len(body))
                    if not chunk:
                        break
                    body += chunk
            except (OSError, ValueError):
                pass
            self.close()
            self._fail(self._explain_refusal(status, _status_message(body)))
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")
        if resp_headers.get("sec-websocket-accept") != accept:
            self.close()
            self._fail("the API server's WebSocket answer did not match the request (a proxy in the way?)")
        self.frames = _Frames(_Prefixed(self.sock, rest))
        return self

    def _explain_refusal(self, status, message):
        if status == 403:
            return "not allowed (403): %s. The account needs `create` on pods/portforward (docs/rbac.md)" % message
        if status == 404:
            return "the pod is gone (404): %s" % message
        if status == 401:
            return "the API server rejected the credentials (401)"
        return "HTTP %s: %s" % (status, message.strip() or "no message")

    def send(self, data):
        try:
            self.frames.send(OP_BINARY, bytes([DATA_CHANNEL]) + data)
        except (OSError, ssl.SSLError) as exc:
            self._fail("the stream broke while sending: %s" % exc)

    def recv(self):
        """The next bytes the pod sent; b"" when the stream ended. Kubelet errors raise PortForwardError."""
        if self.closed:
            return b""
        while True:
            try:
                opcode, payload = self.frames.message()
            except socket.timeout:
                self._fail("no answer within %ss" % self.timeout)
            except (EOFError, OSError, ssl.SSLError) as exc:
                self.closed = True
                if isinstance(exc, EOFError):
                    return b""
                self._fail("the stream broke: %s" % exc)
            if opcode == OP_CLOSE:
                self.closed = True
                return b""
            if not payload:
                continue
            channel, data = payload[0], payload[1:]
            if channel not in self.seen_port:
                # The first frame of each channel only names the port.
                self.seen_port.add(channel)
                data = data[2:]
            if channel == ERROR_CHANNEL and data:
                self.closed = True
                self._fail(data.decode("utf-8", "replace").strip())
            if channel == DATA_CHANNEL and data:
                return data

    def close(self):
        self.closed = True
        if self.sock is not None:
            try:
                if self.frames is not None:
                    self.frames.send(OP_CLOSE, struct.pack("!H", 1000))
            except (OSError, ssl.SSLError):
                pass
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


class TLSOverStream:
    """TLS to the pod (scheme https) on top of the forwarded byte stream, through memory BIOs.

    The API server path is already authenticated; the pod's certificate is checked only when
    ``validate_certs`` is on (its name is rarely the pod's, so the host name is not compared).
    """

    def __init__(self, stream, validate_certs=False):
        self.stream = stream
        self.port = stream.port
        self.timeout = stream.timeout
        self.where = stream.where
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        if not validate_certs:
            ctx.verify_mode = ssl.CERT_NONE
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing)
        self.ended = False

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.stream.send(data)

    def _pump(self, operation):
        while True:
            try:
                result = operation()
                self._flush()
                return result
            except ssl.SSLWantReadError:
                self._flush()
                data = self.stream.recv()
                if not data:
                    self.ended = True
                    self.incoming.write_eof()
                else:
                    self.incoming.write(data)
            except ssl.SSLError as exc:
                raise PortForwardError("TLS with %s failed: %s" % (self.where, exc))

    def open(self):
        self.stream.open()
        self._pump(self.tls.do_handshake)
        return self

    def send(self, data):
        self._pump(lambda: self.tls.write(data))

    def recv(self):
        try:
            return self._pump(lambda: self.tls.read(65536))
        except PortForwardError:
            if self.ended:
                return b""
            raise

    def close(self):
        self.stream.close()


class _Prefixed:
    """A socket whose first reads return bytes already read past the upgrade response."""

    def __init__(self, sock, pending):
        self.sock = sock
        self.pending = pending

    def recv(self, n):
        if self.pending:
            data, self.pending = self.pending[:n], self.pending[n:]
            return data
        return self.sock.recv(n)

    def sendall(self, data):
        self.sock.sendall(data)


class _StreamReader(io.RawIOBase):
    """The pod's byte stream as a file, for http.client's response parser."""

    def __init__(self, stream):
        super(_StreamReader, self).__init__()
        self.stream = stream
        self.buffer = b""

    def readable(self):
        return True

    def readinto(self, b):
        if not self.buffer:
            self.buffer = self.stream.recv()
            if not self.buffer:
                return 0
        n = min(len(b), len(self.buffer))
        b[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


class _StreamSocket:
    """Enough of a socket for http.client: sendall and makefile."""

    def __init__(self, stream):
        self.stream = stream

    def sendall(self, data):
        self.stream.send(bytes(data))

    def makefile(self, mode="rb", buffering=None, **kwargs):
        return io.BufferedReader(_StreamReader(self.stream))

    def close(self):
        """http.client closes the socket when a response says Connection: close, before the body is read
        (a real socket lives on in its file); the stream is closed by whoever opened it."""


class ForwardedHTTPConnection(http.client.HTTPConnection):
    """http.client over a pod port-forward: one request per connection."""

    def __init__(self, stream):
        super(ForwardedHTTPConnection, self).__init__("localhost", stream.port, timeout=stream.timeout)
        self.stream = stream

    def connect(self):
        self.sock = _StreamSocket(self.stream.open())


class Response:
    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self, limit=300):
        text = self.body.decode("utf-8", "replace").strip()
        return text if len(text) <= limit else text[:limit] + "..."


def _exchange(conn, method, path, body, headers):
    send_headers = {"Connection": "close", "Accept": "application/json"}
    send_headers.update(headers or {})
    conn.request(method, path, body=body, headers=send_headers)
    resp = conn.getresponse()
    data = resp.read()
    return Response(resp.status, data, dict((k.lower(), v) for k, v in resp.getheaders()))


def pod_request(api, namespace, pod, port, method, path, body=None, headers=None, timeout=10.0,
                scheme="http", validate_certs=False):
    """One HTTP request to a pod's port through the API server; PortForwardError when it cannot get there."""
    stream = PodPortForward(api, namespace, pod, port, timeout=timeout)
    if scheme == "https":
        stream = TLSOverStream(stream, validate_certs=validate_certs)
    conn = ForwardedHTTPConnection(stream)
    try:
        return _exchange(conn, method, path, body, headers)
    except PortForwardError:
        raise
    except socket.timeout:
        raise PortForwardError("%s did not answer %s %s within %ss" % (stream.where, method, path, timeout))
    except (http.client.HTTPException, OSError, ssl.SSLError) as exc:
        raise PortForwardError("%s broke off %s %s: %s" % (
            stream.where, method, path, str(exc) or exc.__class__.__name__))
    finally:
        stream.close()


def url_request(base_url, method, path, body=None, headers=None, timeout=10.0, validate_certs=True):
    """One HTTP request to a URL the user gave instead of a port-forward."""
    url = urlsplit(base_url)
    prefix = url.path.rstrip("/")
    if url.scheme == "https":
        ctx = ssl.create_default_context()
        if not validate_certs:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        return _exchange(conn, method, prefix + path, body, headers)
    except socket.timeout:
        raise PortForwardError("%s did not answer %s %s within %ss" % (base_url, method, path, timeout))
    except (http.client.HTTPException, OSError, ssl.SSLError) as exc:
        raise PortForwardError("cannot reach %s (%s %s): %s" % (
            base_url, method, path, str(exc) or exc.__class__.__name__))
    finally:
        conn.close()
