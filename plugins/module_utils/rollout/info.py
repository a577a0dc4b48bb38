# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only views of Deployments: verdict, images, lock, recorded rollback target, history."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.modelops.serving.plugins.module_utils.rollout import lock, record, spec, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, label_selector


def _owned_by(rs, deployment):
    uid = (deployment.get("metadata") or {}).get("uid")
    return any(ref.get("uid") == uid and ref.get("controller") for ref in
               (rs.get("metadata") or {}).get("ownerReferences") or [])


def _images(template):
    return dict((c.get("name"), c.get("image")) for c in spec.containers(template))


def history(deployment, replicasets):
    rows = []
    for rs in replicasets:
        if not _owned_by(rs, deployment):
            continue
        meta = rs.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        st = rs.get("status") or {}
        rows.append({
            "revision": annotations.get(spec.REVISION),
            "replicaset": meta.get("name"),
            "images": _images((rs.get("spec") or {}).get("template")),
            "created": meta.get("creationTimestamp"),
            "replicas": (rs.get("spec") or {}).get("replicas", 0),
            "ready": st.get("readyReplicas", 0),
            "change_cause": annotations.get(spec.CHANGE_CAUSE),
        })
    rows.sort(key=lambda r: int(r["revision"] or 0))
    return rows


def verdict_of(deployment):
    st = status.rollout_status(deployment)
    if st.done:
        word = "complete"
    elif st.failed:
        word = "failed"
    elif st.reason == "paused":
        word = "paused"
    else:
        word = "in_progress"
    return st, word


def describe(deployment, replicasets, lease=None):
    st, word = verdict_of(deployment)
    meta = deployment.get("metadata") or {}
    template = (deployment.get("spec") or {}).get("template")
    images = _images(template)
    recorded = record.recorded(deployment)
    lock_view = None
    # A read-only view can only compare clocks; the Lease's holder may run behind or ahead of ours.
    if lease is not None and lock.looks_live(lease, datetime.datetime.now(datetime.timezone.utc)):
        lspec = lease.get("spec") or {}
        lock_view = {"holder": lspec.get("holderIdentity"), "renewed": lspec.get("renewTime"),
                     "lease": (lease.get("metadata") or {}).get("name")}
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "image": next(iter(c.get("image") for c in spec.containers(template)), None),
        "images": images,
        "revision": spec.revision_of(deployment),
        "complete": st.done,
        "verdict": word,
        "reason": st.reason,
        "message": st.message,
        "replicas": status.progress(deployment),
        "strategy": spec.strategy_summary(deployment),
        "lock": lock_view,
        "recorded_previous": recorded.summary() if recorded else None,
        "history": history(deployment, replicasets),
    }


def describe_deployments(api, namespace, name=None, selectors=None):
    if name:
        try:
            deployments = [api.get(api.deployment_path(namespace, name))]
        except KubeError as exc:
            if exc.not_found:
                return []
            raise
    else:
        query = {"labelSelector": ",".join(selectors)} if selectors else {}
        deployments = api.get(api.deployment_path(namespace), query).get("items") or []
    out = []
    for d in sorted(deployments, key=lambda x: (x.get("metadata") or {}).get("name")):
        sel = (d.get("spec") or {}).get("selector") or {}
        rs = api.get(api.path("apps/v1", "replicasets", namespace),
                     {"labelSelector": label_selector(sel.get("matchLabels"), sel.get("matchExpressions"))})
        try:
            lease = api.get(api.path("coordination.k8s.io/v1", "leases", namespace,
                                     lock.lease_name(d["metadata"]["name"])))
        except KubeError as exc:
            if not (exc.not_found or exc.status == 403):
                raise
            lease = None
        out.append(describe(d, rs.get("items") or [], lease))
    return out
