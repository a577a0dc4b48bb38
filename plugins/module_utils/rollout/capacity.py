# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is there room for the pods a rollout is about to add? Asked before anything is written.

Two kinds of room: the namespace's ResourceQuotas (``pods``, ``count/pods`` and
``requests.nvidia.com/gpu``, from the quota's own status.used; quotas with scopes are not
modelled), and GPU room on the nodes.

A pod needs all its GPUs on one node, so room is counted per node: how many
such pods fit in what each schedulable node has left (allocatable
nvidia.com/gpu minus what its unfinished pods request). Node selectors, taints
and other resources are not modelled; the unschedulable check during the wait
still catches what this misses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.modelops.serving.plugins.module_utils.rollout import spec
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError

GPU = "nvidia.com/gpu"


class NoRoom(Exception):
    """The cluster cannot hold the pods; the message has the numbers and what to change."""


def gpu_per_pod(template):
    total = 0
    for c in spec.containers(template):
        resources = c.get("resources") or {}
        total += int((resources.get("limits") or {}).get(GPU) or (resources.get("requests") or {}).get(GPU) or 0)
    return total


def free_by_node(nodes, pods):
    free = {}
    for node in nodes:
        if (node.get("spec") or {}).get("unschedulable"):
            continue
        alloc = int(((node.get("status") or {}).get("allocatable") or {}).get(GPU) or 0)
        if alloc:
            free[(node.get("metadata") or {}).get("name")] = alloc
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") or node not in free:
            continue
        free[node] -= gpu_per_pod({"spec": pod.get("spec") or {}})
    return dict((name, max(left, 0)) for name, left in free.items())


def pods_that_fit(free, per_pod):
    return sum(left // per_pod for left in free.values())


def check_gpu_room(api, template, pods_needed, what, progress):
    """Raise NoRoom when fewer than ``pods_needed`` pods of ``template`` fit; quiet for CPU pods."""
    per_pod = gpu_per_pod(template)
    if not per_pod or pods_needed < 1:
        return
    try:
        nodes = api.get(api.path("v1", "nodes")).get("items") or []
        pods = api.get(api.path("v1", "pods"), {"fieldSelector": "status.phase!=Succeeded"}).get("items") or []
    except KubeError as exc:
        if exc.status != 403:
            raise
        progress("cannot check GPU room (no permission to list nodes and pods, see docs/rbac.md); "
                 "the unschedulable check will still stop a rollout that does not fit")
        return
    free = free_by_node(nodes, pods)
    fit = pods_that_fit(free, per_pod)
    if fit < pods_needed:
        raise NoRoom(
            "%s needs %d more pod(s) with %d %s each, but free GPUs (%s) hold %d: nothing was changed"
            % (what, pods_needed, per_pod, GPU,
               ", ".join("%s: %d" % item for item in sorted(free.items())) or "no GPU nodes", fit))


QUOTA_KEYS = ("pods", "count/pods", "requests." + GPU)


def _whole(value):
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None  # a quantity such as "1k": not modelled, the wait still catches a refusal


def quota_shortfalls(quotas, per_pod_gpu, pods_needed):
    """(quota name, key, left, needed) for each unscoped quota that cannot admit the pods."""
    out = []
    for quota in quotas:
        qspec = quota.get("spec") or {}
        if qspec.get("scopes") or qspec.get("scopeSelector"):
            continue
        st = quota.get("status") or {}
        hard = st.get("hard") or qspec.get("hard") or {}
        used = st.get("used") or {}
        for key in QUOTA_KEYS:
            need = pods_needed * (per_pod_gpu if key.endswith(GPU) else 1)
            limit = _whole(hard.get(key))
            if not need or limit is None:
                continue
            left = limit - (_whole(used.get(key)) or 0)
            if left < need:
                out.append(((quota.get("metadata") or {}).get("name"), key, max(left, 0), need))
    return out


def check_quota_room(api, namespace, template, pods_needed, what, progress):
    """Raise NoRoom when a ResourceQuota of ``namespace`` cannot admit ``pods_needed`` more pods of ``template``."""
    if pods_needed < 1:
        return
    try:
        quotas = api.get(api.path("v1", "resourcequotas", namespace)).get("items") or []
    except KubeError as exc:
        if exc.status != 403:
            raise
        progress("cannot check ResourceQuotas (no permission to list them, see docs/rbac.md); a refused pod "
                 "still fails the rollout within seconds")
        return
    short = quota_shortfalls(quotas, gpu_per_pod(template), pods_needed)
    if short:
        raise NoRoom("%s needs %s, but %s: nothing was changed" % (
            what, " and ".join(sorted(set("%d %s" % (need, key) for _n, key, _l, need in short))),
            "; ".join("ResourceQuota %s allows %d more %s" % (name, left, key) for name, key, left, _need in short)))
