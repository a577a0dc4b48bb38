"""Run a peer controller against one test-ground cluster: its CRDs from the release, the process on loopback.

Both controllers run out of cluster, as a local process with the cluster's kubeconfig (the
admin identity, so no RBAC to install), leader election off (one instance), every server they
open on a free 127.0.0.1 port. They are resident: started once per cluster, they watch all
namespaces until stopped, and ``cpu_seconds`` reads their CPU time so a caller can take the
difference around one rollout.
"""

import os
import urllib.request

import yaml

from testground.peers import build
from testground.process import Process, free_port

CLK_TCK = os.sysconf("SC_CLK_TCK")


def install_crds(cluster, peer_name, timeout=60):
    """Create the release's CRDs (every document of every file) and wait until they are served."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ext = client.ApiextensionsV1Api(cluster.api())
    names = []
    for path in build.peer(peer_name).crd_files():
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                try:
                    ext.create_custom_resource_definition(doc)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                names.append(doc["metadata"]["name"])

    def established():
        for name in names:
            conds = ext.read_custom_resource_definition(name).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conds):
                return False
        return True

    cluster._wait("%s CRDs" % peer_name, established, timeout)  # pylint: disable=protected-access
    return names


class Controller:
    """One resident peer controller process for one cluster."""

    peer_name = None
    command = None

    def __init__(self, cluster):
        self.cluster = cluster
        self.peer = build.peer(self.peer_name)
        self.ports = {}
        self.process = None

    @property
    def log_path(self):
        return os.path.join(self.cluster.log_dir, "%s.log" % self.command)

    def argv(self):
        raise NotImplementedError

    def health_url(self):
        raise NotImplementedError

    def start(self, timeout=120):
        install_crds(self.cluster, self.peer_name)
        self.process = Process(self.command, self.argv(), self.log_path).start()
        self.process.wait_until(lambda: urllib.request.urlopen(self.health_url(), timeout=2).status == 200,
                                timeout, "%s on %s" % (self.command, self.cluster.name))
        return self

    def stop(self):
        if self.process is not None:
            self.process.stop()

    def alive(self):
        return self.process is not None and self.process.alive()

    def cpu_seconds(self):
        """User + system CPU time of the controller process so far (from /proc, in clock ticks)."""
        with open("/proc/%d/stat" % self.process.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(CLK_TCK)

    def metrics(self):
        with urllib.request.urlopen(self.metrics_url(), timeout=5) as r:
            return r.read().decode()

    def metrics_url(self):
        raise NotImplementedError


class ArgoRollouts(Controller):
    """The Argo Rollouts controller (rollouts-controller), all its controllers, every namespace."""

    peer_name = "argo-rollouts"
    command = "rollouts-controller"

    def argv(self):
        self.ports = {"metrics": free_port(), "healthz": free_port()}
        return [self.peer.binary(self.command), "--kubeconfig", self.cluster.kubeconfig,
                "--leader-elect=false", "--metricsPort", str(self.ports["metrics"]),
                "--healthzPort", str(self.ports["healthz"]), "--loglevel", "info"]

    def health_url(self):
        return "http://127.0.0.1:%d/healthz" % self.ports["healthz"]

    def metrics_url(self):
        return "http://127.0.0.1:%d/metrics" % self.ports["metrics"]

    def plugin(self):
        """The kubectl-argo-rollouts plugin binary (``status`` waits on a Rollout)."""
        return self.peer.binary("kubectl-argo-rollouts")


class Flagger(Controller):
    """Flagger with the Kubernetes provider (no mesh: it switches Services), Prometheus at ``metrics_server``."""

    peer_name = "flagger"
    command = "flagger"

    def __init__(self, cluster, metrics_server, control_loop_interval="1s"):
        super().__init__(cluster)
        self.metrics_server = metrics_server
        self.control_loop_interval = control_loop_interval

    def argv(self):
        self.ports = {"http": free_port()}
        return [self.peer.binary(self.command), "-kubeconfig", self.cluster.kubeconfig,
                "-mesh-provider", "kubernetes", "-metrics-server", self.metrics_server,
                "-port", str(self.ports["http"]), "-control-loop-interval", self.control_loop_interval,
                "-log-level", "info", "-zap-encoding", "console", "-enable-leader-election=false"]

    def health_url(self):
        return "http://127.0.0.1:%d/healthz" % self.ports["http"]

    def metrics_url(self):
        return "http://127.0.0.1:%d/metrics" % self.ports["http"]
