"""A real Prometheus (Debian's package) scraping an exporter the test controls, both on loopback.

``Exporter`` serves ``model_requests_total{version, code}`` counters that grow by 100 requests a
scrape, ``errors_per_scrape`` of them with code 500; the test raises that number mid-bake.
``Prometheus`` runs /usr/bin/prometheus on a free 127.0.0.1 port with a temp config and storage,
scraping the exporter every second, and stops that process (and only it).
"""

import http.server
import os
import tempfile
import threading
import urllib.parse
import urllib.request
import json

from testground.modelserver.server import LocalProcess
from testground.process import free_port

PROMETHEUS = "/usr/bin/prometheus"

# Error ratio of the new version over the last few seconds of scrapes.
ERROR_RATIO_QUERY = ('sum(rate(model_requests_total{version="v2",code=~"5.."}[4s])) '
                     '/ sum(rate(model_requests_total{version="v2"}[4s]))')


class Exporter:
    def __init__(self, version="v2"):
        self.version = version
        self.errors_per_scrape = 0
        self.requests = 0
        self.errors = 0
        self.lock = threading.Lock()
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = exporter.scrape().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def scrape(self):
        with self.lock:
            self.requests += 100
            self.errors += self.errors_per_scrape
            ok = self.requests - self.errors
            return ("# TYPE model_requests_total counter\n"
                    'model_requests_total{version="%s",code="200"} %d\n'
                    'model_requests_total{version="%s",code="500"} %d\n' % (self.version, ok, self.version, self.errors))

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Prometheus(LocalProcess):
    LOG_LINES = 20

    def __init__(self, scrape_port):
        self.scrape_port = scrape_port
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=60):
        self.workdir = tempfile.mkdtemp(prefix="prometheus-")
        self.port = free_port()
        config = os.path.join(self.workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: model\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.scrape_port)
        self.spawn("prometheus", [PROMETHEUS, "--config.file=" + config,
                                  "--storage.tsdb.path=" + os.path.join(self.workdir, "data"),
                                  "--web.listen-address=127.0.0.1:%d" % self.port])
        return self.wait_http(self.url + "/-/ready", timeout, "prometheus on %s" % self.url)

    def query(self, expr):
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)["data"]["result"]
