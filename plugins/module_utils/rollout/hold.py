# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one hold verdict: do the new pods still hold, as they did when the hold began?

A hold is any stretch in which nothing may change for the worse: a canary step's pause, the
blue/green rollback window, the gate bake. One rule for all three, from recorded objects alone
(pods and the Deployment as the API returns them), in this order:

1. a pod that was held is gone or being deleted           -> ``bake_not_ready``
2. a container restarted (restartCount above its baseline) -> ``bake_restart``
3. a held pod lost Ready                                   -> ``bake_not_ready``
   (a pod "lost" Ready only after it was seen Ready: at the hold's start or since)
4. the Deployment, its generation observed, has fewer available replicas than it wants
                                                           -> ``bake_unavailable``

Pods that appear during the hold (none should) are held to zero restarts.

Why "seen Ready": the Deployment and the pods come from two watches, and under load the pod
watch can lag the Deployment's. A hold that began when the Deployment said every replica was
available may then see a pod as it was before the kubelet marked it Ready. That pod has lost
nothing; rule 4 still judges the capacity the Deployment reports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _meta(obj):
    return obj.get("metadata") or {}


def _name(pod):
    return _meta(pod).get("name")


def restarts(pod):
    """{container name: restartCount} of one pod."""
    return dict((c.get("name"), c.get("restartCount") or 0)
                for c in (pod.get("status") or {}).get("containerStatuses") or [])


def is_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _ready_condition(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return {}


class Baseline:
    """The held pods as they were when the hold began: names and restart counts.

    ``ready`` holds the names of held pods seen Ready, at the start or since (``verdict`` adds them).
    """

    def __init__(self, pods):
        held = [p for p in pods if not _meta(p).get("deletionTimestamp")]
        self.pods = dict((_name(p), restarts(p)) for p in held)
        self.ready = set(_name(p) for p in held if is_ready(p))

    def __len__(self):
        return len(self.pods)


def _gone(baseline, by_name):
    for name in sorted(baseline.pods):
        pod = by_name.get(name)
        if pod is None or _meta(pod).get("deletionTimestamp"):
            return "bake_not_ready", "pod %s was deleted" % name
    return None


def _restarted(baseline, by_name):
    for name in sorted(by_name):
        pod = by_name[name]
        before = baseline.pods.get(name, {})
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            now = cs.get("restartCount") or 0
            was = before.get(cs.get("name"), 0)
            if now > was:
                last = (cs.get("lastState") or {}).get("terminated") or {}
                why = ""
                if last:
                    why = " (last exit: %s, code %s)" % (last.get("reason") or "terminated", last.get("exitCode"))
                return "bake_restart", "container %s of pod %s restarted (restarts %d -> %d)%s" % (
                    cs.get("name"), name, was, now, why)
    return None


def _unready(baseline, by_name):
    for name in sorted(baseline.pods):
        pod = by_name[name]
        if is_ready(pod):
            baseline.ready.add(name)
        elif name in baseline.ready:
            cond = _ready_condition(pod)
            detail = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
            return "bake_not_ready", "pod %s lost readiness%s" % (name, (" (%s)" % detail) if detail else "")
    return None


def _unavailable(deployment):
    if deployment is None:
        return None
    meta, spec, status = _meta(deployment), deployment.get("spec") or {}, deployment.get("status") or {}
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return None  # counts of an older spec
    want = spec.get("replicas", 1)
    available = status.get("availableReplicas") or 0
    if available < want:
        return "bake_unavailable", "only %d of %d replicas of %s available" % (available, want, meta.get("name"))
    return None


def verdict(baseline, deployment, pods):
    """(reason, message) for the first way the hold broke, or None while it holds."""
    by_name = dict((_name(p), p) for p in pods or [])
    return (_gone(baseline, by_name) or _restarted(baseline, by_name) or _unready(baseline, by_name)
            or _unavailable(deployment))
