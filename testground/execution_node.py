"""An AWX execution node on loopback: receives a job's ``ansible-runner transmit`` stream over TCP,
runs ``ansible-runner worker`` on it in a private data directory and environment of its own, and
streams the worker's events, status and artifacts back over the same connection.

AWX hands a job to an execution node through receptor; what travels is exactly this stream, and
the node knows nothing of the controller's files. Here the node is a server on 127.0.0.1 with its
own work directory, and every job it runs gets a fresh private data directory under it, known in
advance as AWX's ``/runner`` is, so credential files can be named at their place on the node.
Nothing is shared with the controller side but the socket.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

from testground.process import free_port

CHUNK = 65536


class ExecutionNode:
    """A listening execution node. ``job_dir(ident)`` is where job ``ident`` runs on it."""

    def __init__(self, workdir=None, environment=None, runner=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="execution-node-")
        self.port = free_port()
        # The node's own environment, as an execution environment image has it: nothing inherited.
        self.environment = dict(environment or {})
        self.runner = runner or os.path.join(os.path.dirname(sys.executable), "ansible-runner")
        self._server = None
        self._thread = None
        self._workers = []
        self.jobs = {}

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    def job_dir(self, ident):
        return os.path.join(self.workdir, "jobs", str(ident))

    def start(self):
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(self.address)
        self._server.listen(8)
        self._thread = threading.Thread(target=self._accept, name="execution-node", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.close()
            self._server = None
        for proc in list(self._workers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def _accept(self):
        while True:
            try:
                conn, _unused = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="execution-node-job", daemon=True).start()

    def _serve(self, conn):
        """One job: the first line names it, the rest is the transmit stream."""
        with conn:
            ident = _read_line(conn).decode().strip()
            private = self.job_dir(ident)
            shutil.rmtree(private, ignore_errors=True)
            os.makedirs(private)
            log = open(os.path.join(self.workdir, "worker-%s.log" % ident), "wb")
            proc = subprocess.Popen([self.runner, "worker", "--private-data-dir", private], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, env=self.environment, cwd=self.workdir,
                                    start_new_session=True)
            self._workers.append(proc)
            self.jobs[ident] = proc
            feeder = threading.Thread(target=_pump_to_pipe, args=(conn, proc.stdin), daemon=True)
            feeder.start()
            try:
                while True:
                    data = proc.stdout.read1(CHUNK)
                    if not data:
                        break
                    conn.sendall(data)
            finally:
                proc.wait()
                log.close()
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


def _read_line(conn):
    data = b""
    while not data.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            break
        data += byte
    return data


def _pump_to_pipe(conn, pipe):
    try:
        while True:
            data = conn.recv(CHUNK)
            if not data:
                break
            pipe.write(data)
            pipe.flush()
    except (OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def submit(address, ident, transmit_stream, process_input):
    """Controller side: send job ``ident``'s transmit stream to the node, hand what comes back to ``process``.

    ``transmit_stream`` is a readable binary file (ansible-runner transmit's output); ``process_input``
    a writable one (ansible-runner process's input). Returns when the node closes the connection.
    """
    with socket.create_connection(address) as conn:
        conn.sendall(("%s\n" % ident).encode())

        def send():
            while True:
                data = transmit_stream.read(CHUNK)
                if not data:
                    break
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        while True:
            data = conn.recv(CHUNK)
            if not data:
                break
            process_input.write(data)
            process_input.flush()
        sender.join(10)
    process_input.close()
