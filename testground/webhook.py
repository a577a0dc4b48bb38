"""What the test ground's webhook servers share: JSON over HTTPS on loopback.

The admission webhook (admission.py) and the EKS token webhook (eks_authenticator.py) are both
called by kube-apiserver with a JSON review and answer with JSON; only what they decide differs.
"""

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that reads JSON bodies and answers JSON; ``name`` prefixes its log lines."""

    name = "webhook"

    def read_json(self):
        """The request's JSON body ({} when empty); answers 400 and returns None when it is not JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": "not JSON"})
            return None

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
        sys.stderr.write("%s: %s\n" % (self.name, fmt % args))


def serve_tls(port, cert, key, handler):
    """Serve ``handler`` on 127.0.0.1:``port`` over TLS with ``cert``/``key`` until the process ends."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
