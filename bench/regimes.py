"""The regimes phase: a ResourceQuota that refuses the surge pod, and a slow load of many pods.

    python -m bench --phases regimes            # docs/benchmarks.md, "Regimes"
    python -m bench --phases regimes --smoke    # one tiny run of each scenario, no timing asserted

Both run every contender of the single-cluster phase on one test-ground cluster, with the same
figures (run.py's success_run and failure_run, from the bench's own watches):

- **failure-quota**: a Deployment whose pods carry a PriorityClass that a scoped ResourceQuota
  limits to exactly its replicas, rolled with ``maxUnavailable: 0``: the surge pod is refused
  ("exceeded quota") for ever, the Deployment carries ``ReplicaFailure``/``FailedCreate`` at once.
  The figure is the time from the change to the contender's failure verdict and whether the
  verdict names the quota. The quota is scoped so that it limits only this Deployment, and a scoped
  quota is what model_rollout's preflight does not model: the refusal is caught in the wait.
- **rollout-slowload-N**: N replicas whose pods take several seconds each to get Ready, rolled 25%
  at a time: the verdict latency after the rollout completes, and no false failure.
"""

import time

from bench import ground
from bench import run as benchrun

PRIORITY_CLASS = "bench-quota"
QUOTA = "bench-surge"


class Sizes:
    """The phase's sizes; ``smoke`` keeps it to seconds."""

    def __init__(self, settings):
        self.quota_replicas = 3
        self.slow_replicas = 6 if settings.smoke else 20
        self.slow_ready_delay = "1s" if settings.smoke else "5s"
        self.reps = 1 if settings.smoke else (settings.reps or 1)


class QuotaSubject(benchrun.Subject):
    """A Deployment the scoped quota admits exactly: no room for a surge pod."""

    def manifest(self, image):
        out = super().manifest(image)
        out["spec"]["template"]["spec"]["priorityClassName"] = PRIORITY_CLASS
        return out


class SlowSubject(benchrun.Subject):
    """A Deployment whose pods load slowly."""

    ready_delay = "5s"

    def manifest(self, image):
        out = super().manifest(image)
        out["spec"]["template"]["metadata"]["annotations"]["testground.modelops.serving/ready-delay"] = self.ready_delay
        # The progress deadline covers one pod's load with room to spare, as a user would size it.
        out["spec"]["progressDeadlineSeconds"] = max(out["spec"]["progressDeadlineSeconds"], 120)
        return out


def install_quota(cluster, pods):
    from kubernetes import client

    client.SchedulingV1Api(cluster.bench_api()).create_priority_class({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": PRIORITY_CLASS},
        "value": 1000, "globalDefault": False, "description": "pods the bench's scoped quota counts"})
    client.CoreV1Api(cluster.bench_api()).create_namespaced_resource_quota(benchrun.NAMESPACE, {
        "metadata": {"name": QUOTA},
        "spec": {"hard": {"pods": str(pods)},
                 "scopeSelector": {"matchExpressions": [
                     {"scopeName": "PriorityClass", "operator": "In", "values": [PRIORITY_CLASS]}]}}})


def regimes(settings, runners, records, notes):
    sizes = Sizes(settings)
    cluster = ground.BenchCluster("regimes", cpu_nodes=2, gpu_nodes=0)
    subjects = []
    try:
        t = time.monotonic()
        ground.start([cluster])
        benchrun.log("cluster up in %.1fs" % (time.monotonic() - t))
        benchrun.create_namespace(cluster)
        install_quota(cluster, sizes.quota_replicas)
        quota = QuotaSubject(cluster, "quota-srv", sizes.quota_replicas, 1, 0, settings).create()
        slow = SlowSubject(cluster, "slow-srv", sizes.slow_replicas, "25%", "25%", settings)
        slow.ready_delay = sizes.slow_ready_delay
        slow.create()
        subjects = [quota, slow]
        for s in subjects:
            if not s.settle(300):
                raise RuntimeError("Deployment %s never became ready" % s.name)
        for rep in range(sizes.reps):
            for c in benchrun.rotated(runners, rep):
                slow.settle(300)
                rec = benchrun.success_run(c, slow, "rollout-slowload-%d" % slow.replicas, rep)
                records.append(rec)
                benchrun.log("%-14s slow load of %d rep %d: %s/%s, verdict latency %s s, wall %.1f s" % (
                    c.name, slow.replicas, rep, rec.get("verdict"), rec.get("reason"), rec.get("verdict_latency_s"),
                    rec["wall_s"]))
            for c in benchrun.rotated(runners, rep):
                quota.settle()
                rec = benchrun.failure_run(c, quota, "quota", rep, settings)
                records.append(rec)
                benchrun.log("%-14s failure-quota rep %d: %s/%s after %s s, named=%s: %s" % (
                    c.name, rep, rec.get("verdict"), rec.get("reason"), rec.get("failure_latency_s"),
                    rec["reason_named"], (rec.get("message") or "")[:160]))
    finally:
        for s in subjects:
            if s.observer:
                s.observer.stop()
        cluster.stop()
        notes.append("regimes work directory: %s" % cluster.workdir)
