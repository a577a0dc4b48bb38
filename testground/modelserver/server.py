"""Start and stop a real MLServer (KServe V2 protocol) serving the tiny model on loopback.

``ModelServer(variant).start()`` writes an MLServer settings folder in a temp dir, runs
``mlserver start`` from this venv on free 127.0.0.1 ports, waits until the HTTP port answers
``/v2/health/live``, and ``stop()`` ends that process (and only that one).
"""

import json
import os
import shutil
import sys
import tempfile
import urllib.request

from testground.process import Process, ProcessError, free_port

MODEL = "tiny"
HERE = os.path.dirname(os.path.abspath(__file__))


class LocalProcess:
    """A test server: one ``Process`` in a temporary work dir that goes away on stop."""

    LOG_LINES = 30
    process = None
    workdir = None

    @property
    def proc(self):
        return self.process.proc if self.process is not None else None

    @property
    def log_path(self):
        return self.process.log_path if self.process is not None else None

    def spawn(self, name, argv, env=None):
        self.process = Process(name, argv, os.path.join(self.workdir, name + ".log"), env=env, cwd=self.workdir)
        return self.process.start()

    def log_tail(self, lines=None):
        return self.process.tail(lines or self.LOG_LINES) if self.process is not None else ""

    def wait_http(self, url, timeout, what):
        """Until ``url`` answers 200; on failure stop and raise with the log."""
        def answers():
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        try:
            self.process.wait_until(answers, timeout, what)
        except ProcessError as exc:
            self.stop()
            raise RuntimeError(str(exc))
        return self

    def stop(self):
        if self.process is not None:
            self.process.stop(timeout=15)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


class ModelServer(LocalProcess):
    def __init__(self, variant="good", model=MODEL, version="1"):
        self.variant = variant
        self.model = model
        self.version = version
        self.port = None

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
        mlserver = os.path.join(os.path.dirname(sys.executable), "mlserver")
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.spawn("mlserver", [mlserver, "start", self.workdir], env=env)
        return self.wait_http(self.url + "/v2/health/live", timeout, "mlserver on %s" % self.url)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
