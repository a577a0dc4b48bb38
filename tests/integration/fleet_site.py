"""A model server on every cluster of a test-ground fleet, and the fleet playbooks run against it.

Shared by the fleet tests that run ansible-playbook and those that run ansible-runner.
"""

import glob
import json
import os
import re
import subprocess
import tempfile
import threading
import uuid

import yaml

from tests.helpers.kube import create_namespace, deployment_manifest, wait_for
from testground.cluster import Fleet
from testground.collection import REPO_ROOT, ansible_env, collections_dir

PREFIX = "f8-"
CLUSTERS = ["tg1", "tg2", "tg3"]
INVENTORY = os.path.join(REPO_ROOT, "inventory", "testground.yml")


def start_fleet():
    return Fleet([PREFIX + c for c in CLUSTERS], cpu_nodes=1, gpu_nodes=0).start()


def playbook(name):
    return os.path.join(REPO_ROOT, "playbooks", name)


class Site:
    """One model server, in a fresh namespace, on every cluster of the fleet."""

    def __init__(self, fleet, image="repo/llm:v1", ready_delay=None, clusters=None, prefix=PREFIX):
        from kubernetes import client

        self.fleet = fleet
        self.clusters = list(clusters or CLUSTERS)
        self.namespace = "f-" + uuid.uuid4().hex[:8]
        self.name = "llm"
        self.report_dir = tempfile.mkdtemp(prefix="fleet-report-")
        self.apps = {}
        annotations = {"testground.modelops.serving/ready-delay": ready_delay} if ready_delay else None
        for c in self.clusters:
            api = fleet[prefix + c].api()
            core = client.CoreV1Api(api)
            self.apps[c] = client.AppsV1Api(api)
            create_namespace(core, self.namespace)
            self.apps[c].create_namespaced_deployment(
                self.namespace, deployment_manifest(self.name, image, annotations=annotations))
        for c in self.clusters:
            wait_for(lambda: self.complete(c, image), 300, "%s ready on %s" % (image, c))

    def deployment(self, cluster):
        return self.apps[cluster].read_namespaced_deployment(self.name, self.namespace)

    def image(self, cluster):
        return self.deployment(cluster).spec.template.spec.containers[0].image

    def versions(self):
        """resourceVersion of every cluster's Deployment: unchanged means untouched."""
        return dict((c, self.deployment(c).metadata.resource_version) for c in self.clusters)

    def complete(self, cluster, image):
        d = self.deployment(cluster)
        s = d.status
        return (d.spec.template.spec.containers[0].image == image and (s.observed_generation or 0) >= d.metadata.generation
                and s.updated_replicas == d.spec.replicas == s.available_replicas == (s.replicas or 0))

    def replicasets(self, cluster):
        return self.apps[cluster].list_namespaced_replica_set(self.namespace).items

    def set_image(self, cluster, image):
        """Another hand changes the image (as kubectl set image would)."""
        self.apps[cluster].patch_namespaced_deployment(self.name, self.namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": "server", "image": image}]}}}})

    def extravars(self, **more):
        v = {"model_server_name": self.name, "model_server_namespace": self.namespace,
             "model_server_container_name": "server", "rollout_report_dir": self.report_dir,
             "rollout_bake_seconds": 0, "rollout_waves": [1, 2]}
        v.update(more)
        return v

    def reports(self, kind="rollout"):
        return sorted(glob.glob(os.path.join(self.report_dir, kind + "-*.json")))

    def report(self, kind="rollout"):
        """The only report of ``kind`` this site has, with its clusters by name."""
        [path] = self.reports(kind)
        with open(path) as f:
            report = json.load(f)
        report["by_cluster"] = dict((r["cluster"], r) for r in report["clusters"])
        report["path"] = path
        return report

    def inventory(self, host_vars=None):
        """inventory/testground.yml with extra variables per host, as a file of this site."""
        with open(INVENTORY) as f:
            inv = yaml.safe_load(f)
        for group in inv["all"]["children"].values():
            for host in group["hosts"]:
                group["hosts"][host] = dict((host_vars or {}).get(host) or {})
        path = os.path.join(self.report_dir, "inventory.yml")
        with open(path, "w") as f:
            yaml.safe_dump(inv, f)
        return path


def env_for(fleet, prefix=PREFIX, **extra):
    env = ansible_env()
    env.update({"TESTGROUND_KUBECONFIG": fleet.kubeconfig, "TESTGROUND_CONTEXT_PREFIX": prefix,
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"})
    env.update(extra)
    return env


class PlaybookProcess:
    """ansible-playbook in the background; its output is collected as it comes."""

    def __init__(self, fleet, name, extravars, args=(), env=None, inventory=INVENTORY):
        cmd = ["ansible-playbook", "-i", inventory, playbook(name), "-e", json.dumps(extravars)] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env or env_for(fleet), start_new_session=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self):
        return "".join(self.lines)

    def wait(self, timeout=600):
        self.proc.wait(timeout)
        self.reader.join(10)
        return self.proc.returncode, self.output


def run_playbook(fleet, name, extravars, args=(), env=None, inventory=INVENTORY, timeout=600):
    return PlaybookProcess(fleet, name, extravars, args, env, inventory).wait(timeout)


def recap(out):
    """{host: {ok, changed, unreachable, failed, ...}} from PLAY RECAP."""
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", out, re.M):
        found[host] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", counts))
    return found


def picture_rows(report):
    """What the report's picture shows per cluster (the module's own layout, from the collection)."""
    import sys

    if collections_dir() not in sys.path:
        sys.path.insert(0, collections_dir())
    from ansible_collections.modelops.serving.plugins.module_utils.report import picture

    return dict((r["cluster"], r) for r in picture.rows(report)["rows"])
