"""Start and stop a real MLServer (KServe V2 protocol) serving the tiny model on loopback.

``ModelServer(variant).start()`` writes an MLServer settings folder in a temp dir, runs
``mlserver start`` from this venv on free 127.0.0.1 ports, waits until the HTTP port answers
``/v2/health/live``, and ``stop()`` ends that process (and only that one).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from tests.testground.cluster import free_port

MODEL = "tiny"
HERE = os.path.dirname(os.path.abspath(__file__))


class LocalProcess:
    """A server process of a test, in a session of its own, with its work dir and log."""

    LOG_LINES = 30
    proc = None
    workdir = None
    log_path = None

    def log_tail(self, lines=None):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-(lines or self.LOG_LINES):])
        except (OSError, TypeError):
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # Its own session: the signal reaches the server and anything it started, nothing else.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


class ModelServer(LocalProcess):
    def __init__(self, variant="good", model=MODEL, version="1"):
        self.variant = variant
        self.model = model
        self.version = version
        self.port = None
        self.proc = None
        self.workdir = None
        self.log_path = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _write_settings(self):
        self.port = free_port()
        settings = {
            "host": "127.0.0.1",
            "http_port": self.port,
            "grpc_port": free_port(),
            "metrics_port": free_port(),
            # One process: the tiny model needs no worker pool, and the machine is small.
            "parallel_workers": 0,
            # (A model whose load fails at startup makes MLServer exit; one never loaded leaves it serving.)
            "load_models_at_startup": self.variant != "unloaded",
            "debug": False,
        }
        model_dir = os.path.join(self.workdir, self.model)
        os.makedirs(model_dir)
        model_settings = {
            "name": self.model,
            "implementation": "tiny_model.TinyModel",
            "parameters": {"version": self.version, "extra": {"variant": self.variant}},
        }
        with open(os.path.join(self.workdir, "settings.json"), "w") as f:
            json.dump(settings, f)
        with open(os.path.join(model_dir, "model-settings.json"), "w") as f:
            json.dump(model_settings, f)

    def start(self, timeout=60):
        self.workdir = tempfile.mkdtemp(prefix="mlserver-%s-" % self.variant)
        self._write_settings()
        self.log_path = os.path.join(self.workdir, "mlserver.log")
        mlserver = os.path.join(os.path.dirname(sys.executable), "mlserver")
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([mlserver, "start", self.workdir], cwd=self.workdir, env=env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mlserver exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + "/v2/health/live", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("mlserver did not answer on %s within %ss:\n%s" % (self.url, timeout, self.log_tail()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
