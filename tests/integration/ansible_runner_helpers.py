"""Run the collection's modules the way users do: ansible-playbook against a test-ground cluster."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import yaml

from testground.collection import ansible_env


class PlaybookRun:
    """One ansible-playbook process running a single module task; its result is read back as JSON."""

    def __init__(self, cluster, module, args, extra_env=None, check=False, diff=False, verbosity=0):
        self.workdir = tempfile.mkdtemp(prefix="play-")
        self.result_path = os.path.join(self.workdir, "result.json")
        self.progress_path = os.path.join(self.workdir, "progress.log")
        task_args = dict(args)
        if module == "modelops.serving.model_rollout":
            task_args.setdefault("progress_file", self.progress_path)
        if cluster is not None:
            task_args.setdefault("kubeconfig", cluster.kubeconfig)
            task_args.setdefault("context", cluster.context)
        play = [{
            "name": "run one module",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "module under test", module: task_args, "register": "out", "ignore_errors": True},
                {"name": "keep the result", "check_mode": False, "ansible.builtin.copy": {
                    "content": "{{ out | to_json }}", "dest": self.result_path, "mode": "0600"}},
            ],
        }]
        self.playbook = os.path.join(self.workdir, "play.yml")
        with open(self.playbook, "w") as f:
            yaml.safe_dump(play, f)
        cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", self.playbook]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        env = ansible_env()
        # Modules run by the interpreter that has the kubernetes client, as users set it up.
        env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
        env.update(extra_env or {})
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        self.output = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        self.output = self.proc.stdout.read()

    def wait(self, timeout=300):
        self.proc.wait(timeout)
        self._reader.join(10)
        if not os.path.exists(self.result_path):
            raise AssertionError("the playbook left no result (exit %s):\n%s" % (self.proc.returncode, self.output))
        with open(self.result_path) as f:
            return json.load(f)

    def kill(self):
        """SIGKILL the whole run: ansible-playbook, its workers (which start sessions of their own) and the module."""
        for pid in [self.proc.pid] + _descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def progress_lines(self):
        try:
            with open(self.progress_path) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def wait_for_progress(self, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(line) for line in self.progress_lines()):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False


def _descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def run_module(cluster, module, args, **kwargs):
    return PlaybookRun(cluster, module, args, **kwargs).wait()


def rollout(cluster, **args):
    return run_module(cluster, "modelops.serving.model_rollout", args)
