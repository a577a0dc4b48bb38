"""One local server process of the test ground: its argv, log file, session and stop.

Every process the test ground starts (etcd, the Kubernetes components, kwok, the admission
webhook, MLServer, Prometheus, the AWS emulator) is one ``Process``: started in a session of its
own so a stop reaches it and whatever it started, and nothing else; optionally with a
parent-death signal, so a killed test run takes it along; its output in one log file.
"""

import ctypes
import os
import signal
import socket
import subprocess
import time

_PR_SET_PDEATHSIG = 1


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Runs in the child between fork and exec: its own session, and death when the parent dies."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class ProcessError(RuntimeError):
    """A process exited or did not come up; the message names it and ends with its log."""


class Process:
    """One server process with its own log file, in a session of its own."""

    LOG_LINES = 30

    def __init__(self, name, argv, log_path, env=None, cwd=None, die_with_parent=True):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.die_with_parent = die_with_parent
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def start(self):
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(("\n=== %s start: %s\n" % (time.strftime("%H:%M:%S"), " ".join(self.argv))).encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                cwd=self.cwd, close_fds=True,
                preexec_fn=_die_with_parent if self.die_with_parent else os.setsid,
            )
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10, sig=signal.SIGTERM):
        """Signal the process's session, wait, and SIGKILL it if it lingers."""
        if not self.alive():
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def kill(self):
        self.stop(timeout=5, sig=signal.SIGKILL)

    def freeze(self):
        """SIGSTOP the process: alive, holding its ports and connections, doing nothing (a hung component)."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        """SIGCONT after ``freeze``."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGCONT)

    def tail(self, lines=None):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""
        return "\n".join(text.splitlines()[-(lines or self.LOG_LINES):])

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise ProcessError("%s exited with code %s; log %s ends with:\n%s"
                               % (self.name, self.proc.returncode, self.log_path, self.tail(20)))

    def wait_until(self, predicate, timeout, what=None):
        """Call ``predicate`` until it is true; fail with the log when the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if predicate():
                    return
            except Exception as exc:  # not up yet: connection refused, 503, ...
                last = exc
            time.sleep(0.1)
        raise ProcessError("%s not ready after %ss (last error: %s); log %s ends with:\n%s"
                           % (what or self.name, timeout, last, self.log_path, self.tail(20)))
