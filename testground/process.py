"""One local server process of the test ground: its argv, log file, session and stop.

Every process the test ground starts (etcd, the Kubernetes components, kwok, the admission
webhook, MLServer, Prometheus, the AWS emulator) is one ``Process``: started in a session of its
own so a stop reaches it and whatever it started, and nothing else; optionally with a
parent-death signal, so a killed test run takes it along; its output in one log file.
"""

import ctypes
import fcntl
import os
import random
import signal
import socket
import subprocess
import tempfile
import time

_PR_SET_PDEATHSIG = 1


# Ports are taken below the kernel's ephemeral range: the range bind(0) draws from is the one
# every outgoing connection draws from too, so a port picked there and bound seconds later (kwok
# starts after the apiserver is up) can meanwhile be the local end of some client's connection.
_PORT_FLOOR = 10000
_PORT_DIR = os.path.join(tempfile.gettempdir(), "modelops-testground-ports")
_held = {}  # port -> open lock file of this process


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(v) for v in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _allocation_range():
    low, high = _ephemeral_range()
    if low - _PORT_FLOOR >= 2000:
        return _PORT_FLOOR, low - 1
    if 65535 - high >= 2000:
        return high + 1, 65535
    return None


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _reserve(port):
    """Hold an exclusive lock on the port's file, so other test-ground processes pass it by.

    The lock lives as long as this process (or until ``release_port``); the kernel drops it when
    the process dies, so a killed run leaves nothing stale behind.
    """
    try:
        os.makedirs(_PORT_DIR, mode=0o1777, exist_ok=True)
        f = open(os.path.join(_PORT_DIR, str(port)), "a")  # pylint: disable=consider-using-with
    except OSError:
        return None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def _kernel_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on, reserved for this process until it binds it.

    Reserved means: outside the ephemeral range and locked against every other caller of
    ``free_port`` on this machine (other test runs included) while this process lives.
    """
    span = _allocation_range()
    if span is None:  # an ephemeral range covering nearly everything leaves only the old way
        return _kernel_port()
    for _attempt in range(500):
        port = random.randint(*span)
        if port in _held:
            continue
        lock = _reserve(port)
        if lock is None:
            continue
        if _bindable(port):
            _held[port] = lock
            return port
        lock.close()
    return _kernel_port()


def release_port(port):
    """Give back a port ``free_port`` reserved, once what listened on it has stopped."""
    lock = _held.pop(port, None)
    if lock is not None:
        lock.close()


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
        self._log_offset = 0

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def start(self):
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
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

    def output_of_this_start(self):
        """What the process wrote since its latest start (the log file keeps every start)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

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
