"""The contenders: how each one is started on the same rollout, and what it reported.

Each run is one process (a shell script for kubectl, ansible-playbook for the others), so its
CPU time is the RUSAGE_CHILDREN delta around it and its wall time is the process's. Every line
it prints is stamped on arrival; "done" is the line in which it reports its verdict.
"""

import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time

import yaml

from testground import build
from testground.collection import REPO_ROOT, ansible_env

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROLLOUT_PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "rollout.yml")
RESULT_HEADER = re.compile(r"^(ok|changed|fatal|failed): \[([^\]]+)\](?:: FAILED!)? => (\{.*)$")


class Target:
    """One Deployment on one cluster, and the manifest a user would apply to change it."""

    def __init__(self, cluster, namespace, name, manifest, image, container="server"):
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.manifest = manifest
        self.image = image
        self.container = container


class Process:
    """A started command whose output lines are stamped with time.monotonic()."""

    def __init__(self, argv, env=None, cwd=None):
        self.lines = []
        self.cpu_before = _children_cpu()
        self.wall_start = time.time()
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.end = None
        self.cpu = None
        self.returncode = None

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
        self.end = time.monotonic()
        self.reader.join(5)
        self.cpu = round(_children_cpu() - self.cpu_before, 3)
        return self.returncode

    def text(self):
        return "\n".join(line for _t, line in self.lines)


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kubectl_path():
    return build.binary("kubectl")


# -- kubectl ------------------------------------------------------------------------------------
class Kubectl:
    """`kubectl set image` + `kubectl rollout status`; on failure `rollout undo` + `rollout status`."""

    name = "kubectl"
    label = "kubectl set image + rollout status"

    def __init__(self, workdir, one_at_a_time=False):
        self.workdir = workdir
        # Clusters one after the other (a wave of one each), as a script that waits for each would.
        self.one_at_a_time = one_at_a_time
        if one_at_a_time:
            self.name, self.label = "kubectl (one at a time)", self.label + ", one cluster after the other"

    @staticmethod
    def available():
        return True, ""

    def launch(self, targets, failure_wait=None):
        del failure_wait  # kubectl waits for the Deployment's own progress deadline
        kubectl = kubectl_path()
        lines = ["set -u", "roll() {",
                 '  k="%s --kubeconfig $1 --context $2 -n $3"' % shlex.quote(kubectl),
                 "  $k set image deployment/$4 $5=$6 >/dev/null || return 2",
                 "  $k rollout status deployment/$4 && return 0",
                 "  $k rollout undo deployment/$4",
                 "  $k rollout status deployment/$4",
                 "  return 1", "}"]
        calls = []
        for t in targets:
            calls.append("roll %s" % " ".join(shlex.quote(a) for a in (
                t.cluster.kubeconfig, t.cluster.context, t.namespace, t.name, t.container, t.image)))
        if len(calls) == 1:
            lines.append(calls[0])
        elif self.one_at_a_time:
            lines += ["set -e"] + calls
        else:
            lines += ["rc=0"] + ["%s &" % c for c in calls] + [
                "for p in $(jobs -p); do wait $p || rc=1; done", "exit $rc"]
        script = os.path.join(self.workdir, "kubectl-rollout%s.sh" % ("-serial" if self.one_at_a_time else ""))
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        return Process(["bash", script])

    @staticmethod
    def report(proc):
        """Verdict, its time and its words from kubectl's output (one target)."""
        for t, line in proc.lines:
            if "successfully rolled out" in line:
                return {"verdict": "complete", "t": t, "message": line, "reason": None, "result": None}
            if line.startswith("error:"):
                return {"verdict": "failed", "t": t, "message": line, "reason": None, "result": None}
        return {"verdict": "none", "t": None, "message": proc.text()[-300:], "reason": None, "result": None}


# -- Ansible ------------------------------------------------------------------------------------
class _Playbook:
    """Shared by the Ansible contenders: an inventory with one host per target, one play."""

    name = "?"
    label = "?"

    def __init__(self, workdir, forks=None, one_at_a_time=False):
        self.workdir = workdir
        # None: as many forks as the wave has clusters (at least Ansible's default 5).
        self.forks = forks
        # One cluster after the other: serial 1, one wave per cluster.
        self.one_at_a_time = one_at_a_time
        if forks is not None:
            self.name = "%s (forks %d)" % (type(self).name, forks)
            self.label = "%s, forks %d" % (type(self).label, forks)
        if one_at_a_time:
            self.name = "%s (one at a time)" % type(self).name
            self.label = "%s, one cluster after the other" % type(self).label
        self.rss_file = os.path.join(workdir, "rss.jsonl")
        self.interpreter = os.path.join(workdir, "python-rss")
        with open(self.interpreter, "w") as f:
            wrapper = os.path.join(BENCH_DIR, "rss.py")
            f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (shlex.quote(sys.executable), shlex.quote(wrapper)))
        os.chmod(self.interpreter, 0o755)

    @staticmethod
    def available():
        return True, ""

    def forks_for(self, clusters):
        return self.forks if self.forks is not None else max(5, clusters)

    def inventory(self, targets):
        hosts = {}
        for i, t in enumerate(targets):
            hosts["c%d" % i] = {
                "ansible_connection": "local",
                "ansible_python_interpreter": self.interpreter,
                "bench_kubeconfig": t.cluster.kubeconfig,
                "bench_context": t.cluster.context,
                "bench_namespace": t.namespace,
                "bench_name": t.name,
                "bench_image": t.image,
                "bench_manifest": t.manifest,
            }
        path = os.path.join(self.workdir, "%s-inventory.yml" % self.name)
        with open(path, "w") as f:
            yaml.safe_dump({"all": {"hosts": hosts}}, f)
        return path

    def play(self, tasks):
        path = os.path.join(self.workdir, "%s-play.yml" % self.name)
        with open(path, "w") as f:
            play = {"name": self.label, "hosts": "all", "gather_facts": False, "tasks": tasks}
            if self.one_at_a_time:
                play["serial"] = 1
            yaml.safe_dump([play], f, sort_keys=False)
        return path

    def run_playbook(self, playbook, targets, extra=()):
        env = ansible_env()
        env.update({
            "PYTHONUNBUFFERED": "1",
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORKS": str(self.forks_for(len(targets))),
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "BENCH_RSS_FILE": self.rss_file,
        })
        argv = ["ansible-playbook", "-v", "-i", self.inventory(targets), playbook] + list(extra)
        return Process(argv, env=env, cwd=self.workdir)

    def peak_rss_kb(self, script):
        """Highest peak resident set of ``script`` (e.g. AnsiballZ_model_rollout.py) so far, then forget."""
        peak = None
        try:
            with open(self.rss_file) as f:
                for line in f:
                    rec = json.loads(line)
                    if rec["script"] == script:
                        peak = max(peak or 0, rec["maxrss_kb"])
            os.unlink(self.rss_file)
        except OSError:
            pass
        return peak

    @staticmethod
    def results(proc):
        """Every task result printed (-v, JSON, on one line or indented): [(t, host, status, result, task)]."""
        out = []
        header = None
        body = []
        task = None
        for t, line in proc.lines:
            if header is None:
                if line.startswith("TASK ["):
                    task = line[len("TASK ["):line.rfind("]")]
                m = RESULT_HEADER.match(line)
                if not m:
                    continue
                header = (t, m.group(2), m.group(1))
                body = [m.group(3)]
            else:
                body.append(line)
            if body[-1].rstrip().endswith("}"):
                try:
                    out.append(header + (json.loads("\n".join(body)), task))
                    header = None
                except ValueError:
                    pass
        return out

    @staticmethod
    def verdict_result(results):
        """The task result that carries the rollout's verdict: here the first one."""
        return results[0] if results else None

    def report(self, proc):
        """The verdict as this contender reports it, and when its line appeared."""
        found = self.verdict_result(self.results(proc))
        if not found:
            return {"verdict": "none", "t": None, "message": proc.text()[-300:], "reason": None, "result": None}
        t, state, res = found[0], found[2], found[3]
        verdict = "complete" if state in ("ok", "changed") else "failed"
        return {"verdict": res.get("verdict") or verdict, "t": t, "message": res.get("msg") or res.get("message"),
                "reason": res.get("reason"), "result": res}


class K8sModule(_Playbook):
    """kubernetes.core.k8s with the changed manifest, wait: true; on failure k8s_rollback."""

    name = "k8s"
    label = "kubernetes.core.k8s wait + k8s_rollback"

    def launch(self, targets, failure_wait=None):
        apply_args = {
            "kubeconfig": "{{ bench_kubeconfig }}", "context": "{{ bench_context }}",
            "state": "present", "definition": "{{ bench_manifest }}", "wait": True,
        }
        if failure_wait:
            apply_args["wait_timeout"] = failure_wait
        tasks = [{
            "name": "Roll out",
            "block": [{"name": "Apply the Deployment with the new image and wait", "kubernetes.core.k8s": apply_args}],
            "rescue": [
                {"name": "Roll back", "kubernetes.core.k8s_rollback": {
                    "kubeconfig": "{{ bench_kubeconfig }}", "context": "{{ bench_context }}",
                    "api_version": "apps/v1", "kind": "Deployment",
                    "name": "{{ bench_name }}", "namespace": "{{ bench_namespace }}"}},
                {"name": "Fail the play", "ansible.builtin.fail": {"msg": "rolled back"}},
            ],
        }]
        return self.run_playbook(self.play(tasks), targets)


class ModelRollout(_Playbook):
    """modelops.serving.model_rollout with its defaults, one task."""

    name = "model_rollout"
    label = "modelops.serving.model_rollout (one task)"

    def launch(self, targets, failure_wait=None):
        del failure_wait  # defaults, as users leave them
        tasks = [{"name": "Roll out", "modelops.serving.model_rollout": {
            "kubeconfig": "{{ bench_kubeconfig }}", "context": "{{ bench_context }}",
            "name": "{{ bench_name }}", "namespace": "{{ bench_namespace }}", "image": "{{ bench_image }}"}}]
        return self.run_playbook(self.play(tasks), targets)


class GatedModelRollout(ModelRollout):
    """model_rollout with model gates (not in ALL: only the gate-overhead phase runs it): the same task plus ``gates`` (readiness, model, smoke inference)."""

    name = "model_rollout+gates"
    label = "modelops.serving.model_rollout with gates (one task)"

    def __init__(self, workdir, gates):
        super().__init__(workdir)
        self.gates = gates

    def launch(self, targets, failure_wait=None):
        del failure_wait
        tasks = [{"name": "Roll out", "modelops.serving.model_rollout": {
            "kubeconfig": "{{ bench_kubeconfig }}", "context": "{{ bench_context }}",
            "name": "{{ bench_name }}", "namespace": "{{ bench_namespace }}", "image": "{{ bench_image }}",
            "gates": self.gates}}]
        return self.run_playbook(self.play(tasks), targets)


class RolloutPlaybook(_Playbook):
    """playbooks/rollout.yml, the way the user guide runs it."""

    name = "rollout.yml"
    label = "playbooks/rollout.yml"

    @staticmethod
    def available():
        if os.path.exists(ROLLOUT_PLAYBOOK):
            return True, ""
        return False, "playbooks/rollout.yml does not exist in this checkout"

    def inventory(self, targets):
        hosts = {}
        for i, t in enumerate(targets):
            hosts["c%d" % i] = {
                "ansible_connection": "local",
                "ansible_python_interpreter": self.interpreter,
                "model_server_kubeconfig": t.cluster.kubeconfig,
                "model_server_context": t.cluster.context,
            }
        path = os.path.join(self.workdir, "%s-inventory.yml" % self.name)
        with open(path, "w") as f:
            yaml.safe_dump({"all": {"hosts": hosts}}, f)
        return path

    def launch(self, targets, failure_wait=None):
        del failure_wait
        # One wave over all clusters (or waves of one), no bake window (a deliberate wait the benchmark would only add
        # to every figure); everything else as the playbook defaults it, report picture included.
        # The playbook's vars_files outrank host vars: what every cluster shares goes in as extra vars.
        t0 = targets[0]
        extra = {"model_server_image": t0.image, "model_server_name": t0.name, "model_server_namespace": t0.namespace,
                 "model_server_container_name": t0.container,
                 "rollout_waves": [1] if self.one_at_a_time else ["100%"], "rollout_bake_seconds": 0,
                 "rollout_report_dir": os.path.join(self.workdir, "reports")}
        return self.run_playbook(ROLLOUT_PLAYBOOK, targets, ["-e", json.dumps(extra)])

    @staticmethod
    def verdict_result(results):
        """model_rollout's own task result; a preflight refusal if nothing was changed."""
        for res in results:
            if (res[4] or "").split(" : ")[-1].startswith("Change |"):
                return res
        for res in results:
            if res[2] in ("fatal", "failed"):
                return res
        return None


ALL = (Kubectl, K8sModule, ModelRollout, RolloutPlaybook)


def make(workdir=None):
    workdir = workdir or tempfile.mkdtemp(prefix="bench-")
    return [cls(workdir) for cls in ALL]
