# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP to one port of one pod through the API server, the way ``kubectl port-forward`` gets there.

The path is the ``pods/{name}/portforward`` subresource upgraded to a WebSocket, which the API
server relays to the kubelet (or, on the test ground, to kwok). The WebSocket itself (handshake,
framing, pings, TLS and proxies) is ``websocket-client``'s, the library the kubernetes client
installs for the same purpose. What is left here is the port-forward channel protocol
(``v4.channel.k8s.io``) and one bounded HTTP request on top of it:

- every binary message starts with a channel byte: ``0`` carries the TCP stream, ``1`` carries
  errors from the kubelet (for example "connection refused" when nothing listens on the port);
- the first message of each channel is the port number, two bytes, little endian.

Why not ``kubernetes.stream.portforward``: with kube-apiserver 1.34 and kwok it moves the bytes,
but the kubelet side never tells the client when the pod closed its end, so a reader that waits
for end-of-stream hangs until its timeout; it also pumps through a thread per forward. A gate
needs one bounded request per check, an answer framed by HTTP (Content-Length or chunks), and
errors it can put in words, so the connection here is opened with the TLS material, proxy and
credentials of the same client configuration (refreshing tokens through the configuration's
hooks, as the REST calls do), one per request, with a timeout on every read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import io
import json
import socket
import ssl

from urllib.parse import urlencode, urlsplit

try:
    import websocket

    WS_ERRORS = (websocket.WebSocketException, OSError, ssl.SSLError)
except ImportError:  # the kubernetes client brings websocket-client; a gate without it says so
    websocket = None
    WS_ERRORS = (OSError, ssl.SSLError)

DATA_CHANNEL = 0
ERROR_CHANNEL = 1
SUBPROTOCOL = "v4.channel.k8s.io"


class PortForwardError(Exception):
    """The pod's port could not be reached; the message says where it broke, for a person."""


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


def _proxy_options(config):
    """websocket-client's proxy options from the client configuration's proxy settings."""
    proxy = getattr(config, "proxy", None)
    if not proxy:
        return {}
    url = urlsplit(proxy)
    options = {"http_proxy_host": url.hostname, "http_proxy_port": url.port or 3128, "proxy_type": "http"}
    if url.username:
        options["http_proxy_auth"] = (url.username, url.password or "")
    if getattr(config, "no_proxy", None):
        options["http_no_proxy"] = [h.strip() for h in config.no_proxy.split(",") if h.strip()]
    return options


def _status_message(body):
    text = (body or b"").decode("utf-8", "replace")
    try:
        return json.loads(text).get("message") or text
    except (ValueError, AttributeError):
        return text


class PodPortForward:
    """One TCP connection to ``port`` of a pod, carried over one WebSocket to the API server."""

    def __init__(self, api, namespace, pod, port, timeout=10.0):
        self.api = api
        self.namespace = namespace
        self.pod = pod
        self.port = int(port)
        self.timeout = timeout
        self.ws = None
        self.seen_port = set()
        self.closed = False

    @property
    def where(self):
        return "port %d of pod %s/%s" % (self.port, self.namespace, self.pod)

    def _fail(self, what):
        raise PortForwardError("cannot reach %s through the API server's port-forward: %s" % (self.where, what))

    def _url(self, config):
        url = urlsplit(config.host)
        scheme = "wss" if url.scheme == "https" else "ws"
        path = self.api.path("v1", "pods", self.namespace, self.pod, "portforward")
        return "%s://%s%s%s?%s" % (scheme, url.netloc, url.path.rstrip("/"), path, urlencode({"ports": str(self.port)}))

    def _headers(self):
        # Same credentials as the REST calls, refreshed by the configuration's hooks when they expire, and the
        # client's own user agent, so audit logs show gate requests beside the REST calls.
        rest = self.api._headers("application/json")
        return ["%s: %s" % (key, rest[key]) for key in ("Authorization", "User-Agent") if rest.get(key)]

    def open(self):
        if websocket is None:
            self._fail("the websocket-client Python library is missing (it comes with the kubernetes client)")
        config = self.api.api_client.configuration
        sslopt = {"context": _ssl_context(config)}
        if getattr(config, "tls_server_name", None):
            sslopt["server_hostname"] = config.tls_server_name
        self.ws = websocket.WebSocket(sslopt=sslopt, skip_utf8_validation=True, enable_multithread=False)
        try:
            self.ws.connect(self._url(config), header=self._headers(), subprotocols=[SUBPROTOCOL],
                            timeout=self.timeout, **_proxy_options(config))
        except websocket.WebSocketBadStatusException as exc:
            self.close()
            self._fail(self._explain_refusal(exc.status_code, _status_message(getattr(exc, "resp_body", None))))
        except WS_ERRORS as exc:
            self.close()
            self._fail("cannot connect to the API server %s: %s" % (config.host, exc))
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
            self.ws.send_binary(bytes([DATA_CHANNEL]) + data)
        except WS_ERRORS as exc:
            self._fail("the stream broke while sending: %s" % exc)

    def recv(self):
        """The next bytes the pod sent; b"" when the stream ended. Kubelet errors raise PortForwardError."""
        if self.closed:
            return b""
        while True:
            try:
                opcode, payload = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                self._fail("no answer within %ss" % self.timeout)
            except socket.timeout:
                self._fail("no answer within %ss" % self.timeout)
            except websocket.WebSocketConnectionClosedException:
                self.closed = True
                return b""
            except WS_ERRORS as exc:
                self.closed = True
                self._fail("the stream broke: %s" % exc)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.closed = True
                return b""
            if not payload:
                continue
            channel, data = payload[0], payload[1:]
            if channel not in self.seen_port:
                # The first message of each channel only names the port.
                self.seen_port.add(channel)
                data = data[2:]
            if channel == ERROR_CHANNEL and data:
                self.closed = True
                self._fail(data.decode("utf-8", "replace").strip())
            if channel == DATA_CHANNEL and data:
                return data

    def close(self):
        self.closed = True
        if self.ws is not None:
            # Say goodbye, but do not wait for the answer: the kubelet side may never give one.
            try:
                if self.ws.connected:
                    self.ws.send_close()
            except WS_ERRORS:
                pass
            try:
                self.ws.shutdown()
            except WS_ERRORS:
                pass
            self.ws = None


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
