"""Test-ground clusters for the benchmark: the shared ones plus an audit log of every request.

kube-apiserver's request metrics have no user-agent label, so they cannot tell kubectl's
requests from the controller-manager's. The audit log can: every request is logged once, when
it arrives, with its user agent, and the benchmark counts each contender's own requests from it.
The apiserver_request_total delta over the same window (every client) is recorded beside it.
"""

import json
import os
import re

from testground import cluster as tgcluster

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["ResponseStarted", "ResponseComplete", "Panic"]
rules:
  # kwok's node heartbeats: constant background, nobody's rollout.
  - level: None
    resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
    namespaces: ["kube-node-lease"]
  - level: None
    resources: [{group: "", resources: ["nodes", "nodes/status"]}]
  - level: Metadata
"""

# Components of the cluster itself; every other user agent belongs to a client under test.
SYSTEM_AGENTS = ("kube-controller-manager", "kube-scheduler", "kube-apiserver", "kwok")
# The bench reads /metrics with urllib (Cluster.metrics()); that is the bench, not a contender.
BENCH_AGENTS = ("modelops-bench", "Python-urllib")
BENCH_AGENT = BENCH_AGENTS[0]
REQUEST_TOTAL = re.compile(r"^apiserver_request_total\{[^}]*\} ([0-9.e+]+)$", re.M)


class BenchCluster(tgcluster.Cluster):
    """A test-ground cluster whose kube-apiserver writes an audit log."""

    def __init__(self, name, **kwargs):
        super().__init__(name, **kwargs)
        self.audit_log = os.path.join(self.workdir, "audit.log")
        self.audit_policy = os.path.join(self.workdir, "audit-policy.yaml")
        with open(self.audit_policy, "w") as f:
            f.write(AUDIT_POLICY)
        self._audit_offset = 0

    def _start(self, name, argv, env=None):
        if name == "kube-apiserver":
            argv = argv + ["--audit-policy-file=" + self.audit_policy, "--audit-log-path=" + self.audit_log,
                           "--audit-log-format=json", "--audit-log-maxsize=0"]
        super()._start(name, argv, env=env)

    def bench_api(self):
        """An API client of its own, with a user agent the request counts leave out."""
        from kubernetes import config

        api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
        api.user_agent = BENCH_AGENT
        return api

    def audit_mark(self):
        """Skip everything logged so far; the next ``audit_since_mark`` counts from here."""
        self._audit_offset = os.path.getsize(self.audit_log) if os.path.exists(self.audit_log) else 0

    def audit_since_mark(self):
        """Requests by clients under test since the mark: {user agent family: count}."""
        counts = {}
        if not os.path.exists(self.audit_log):
            return counts
        with open(self.audit_log, "rb") as f:
            f.seek(self._audit_offset)
            data = f.read()
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            family = agent_family(event.get("userAgent") or "")
            if family is None:
                continue
            counts[family] = counts.get(family, 0) + 1
        return counts

    def request_total(self):
        """Sum of apiserver_request_total over all its series (every client)."""
        text = self.metrics()
        if not isinstance(text, str):
            return None
        return sum(float(v) for v in REQUEST_TOTAL.findall(text))


def agent_family(agent):
    """'kubectl', 'python-client' or the agent's first word; None for the cluster and the bench.

    model_rollout's gate requests (its own WebSocket to ``pods/portforward``) carry no user agent;
    no other client of the test ground was seen without one, so they count as 'no-user-agent'.
    """
    if not agent:
        return "no-user-agent"
    if agent.startswith(BENCH_AGENTS) or agent.startswith(SYSTEM_AGENTS):
        return None
    if agent.startswith("kubectl-argo-rollouts"):
        return "kubectl-argo-rollouts"
    if agent.startswith("kubectl"):
        return "kubectl"
    if agent.startswith("OpenAPI-Generator") or "python" in agent.lower():
        return "python-client"
    return agent.split("/")[0]


def start(clusters):
    """Start clusters together (slow parts overlap), as the test ground's Fleet does."""
    tgcluster.Fleet.start_clusters(clusters)
    return clusters


def write_kubeconfig(path, clusters):
    tgcluster.write_kubeconfig(path, clusters)
