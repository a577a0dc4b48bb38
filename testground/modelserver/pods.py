"""A model server of its own for each pod: small KServe V2 servers on loopback, one per pod, each with a behaviour.

The real MLServer (``server.py``) shows the gates speak the protocol as a server does; it is a heavy
process, and one per namespace says nothing about *which* pod answered. ``PodServer`` answers the
part of the KServe V2 protocol the gates use (server readiness, model readiness, inference of the
tiny model, which doubles its input) with one behaviour, and writes down every request it gets,
so a test can tell which pods were really asked:

  good       ready, model ready, doubles the input
  unloaded   ready, the model is not (HTTP 404, as MLServer answers for an unknown model)
  wrong      ready, model ready, triples the input (a model that answers, wrongly)
  down       nothing listens (the port is reserved and closed)

``GET /testground/whoami`` answers the server's name, so a route can be proven end to end before a
test relies on it; those requests are not written down.

With ``tls={"crt": path, "key": path}`` the server speaks only HTTPS (a pod serving TLS itself, for
``gates.scheme: https``): a request it writes down came through TLS.
"""

import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from testground.process import free_port, release_port

BEHAVIOURS = ("good", "unloaded", "wrong", "down")
WHOAMI = "/testground/whoami"
_MODEL_PATH = re.compile(r"^/v2/models/(?P<model>[^/]+)(/versions/(?P<version>[^/]+))?/(?P<what>ready|infer)$")


class PodServer:
    """One pod's server; ``requests`` lists (method, path) of what it answered, in order."""

    def __init__(self, name, behaviour="good", model="tiny", version="1", tls=None):
        if behaviour not in BEHAVIOURS:
            raise ValueError("behaviour %r: one of %s" % (behaviour, ", ".join(BEHAVIOURS)))
        self.name = name
        self.behaviour = behaviour
        self.model = model
        self.version = version
        self.tls = tls
        self.requests = []
        self.port = None
        self._httpd = None
        self._lock = threading.Lock()

    def start(self):
        self.port = free_port()
        if self.behaviour == "down":
            return self
        release_port(self.port)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._httpd.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls["crt"], self.tls["key"])
            # The handshake happens on the handler's first read, in its own thread, not in the accept loop.
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        release_port(self.port)

    def asked(self, path_part=""):
        with self._lock:
            return [r for r in self.requests if path_part in r[1]]

    def _record(self, method, path):
        with self._lock:
            self.requests.append((method, path))

    # -- the protocol -------------------------------------------------------------------------------
    def answer(self, method, path, body):
        """(status, JSON body) for one request."""
        if path == "/v2/health/ready" or path == "/v2/health/live":
            return 200, {}
        m = _MODEL_PATH.match(path)
        if not m or m.group("model") != self.model or (m.group("version") not in (None, self.version)):
            return 404, {"error": "Model %s with version %s not found" % (m.group("model") if m else "?",
                                                                          m.group("version") if m else "?")}
        if self.behaviour == "unloaded":
            return 404, {"error": "Model %s with version %s not found" % (self.model, self.version)}
        if m.group("what") == "ready":
            return 200, {"name": self.model, "ready": True}
        if method != "POST":
            return 405, {"error": "infer takes POST"}
        try:
            inputs = json.loads(body or b"{}")["inputs"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "no inputs"}
        factor = 3 if self.behaviour == "wrong" else 2
        outputs = [{"name": "y", "shape": i.get("shape"), "datatype": "FP32",
                    "data": [float(x) * factor for x in i.get("data") or []]} for i in inputs]
        return 200, {"model_name": self.model, "model_version": self.version, "outputs": outputs}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == WHOAMI:
                    status, doc = 200, {"name": server.name}
                else:
                    server._record(method, self.path)
                    status, doc = server.answer(method, self.path, body)
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 (http.server's names)
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler


def serve(state_dir, seconds):
    """Serve one ``good`` PodServer until ``<state_dir>/stop`` appears or ``seconds`` pass, for a playbook
    (molecule's verify): the port goes to ``<state_dir>/port``, the requests it answered, when it stops,
    to ``<state_dir>/requests.json``."""
    import os
    import time

    os.makedirs(state_dir, exist_ok=True)
    server = PodServer("molecule").start()
    with open(os.path.join(state_dir, "port.tmp"), "w") as f:
        f.write(str(server.port))
    os.rename(os.path.join(state_dir, "port.tmp"), os.path.join(state_dir, "port"))
    deadline = time.monotonic() + seconds
    try:
        # A lifetime, not a wait for an event under test: the playbook says when it is done.
        while not os.path.exists(os.path.join(state_dir, "stop")) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.stop()
        with open(os.path.join(state_dir, "requests.json"), "w") as f:
            json.dump(server.requests, f)


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 300)
