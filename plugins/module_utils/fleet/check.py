# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet check: every cluster of a wave, read once from the controller, judged together.

``run(params)`` is the whole of M(modelops.serving.fleet_check): the controller-side action
plugin calls it with validated task arguments. Checks are ``rollout`` and ``rollback``
(preflight: may this wave change its clusters?), ``bake`` (did the wave's clusters keep serving
their new image for the bake?) and ``read`` (what status.yml shows).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.modelops.serving.plugins.module_utils.fleet import clusters as fleet_clusters

CONNECTION_SPEC = dict(
    kubeconfig=dict(type="raw"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    ca_cert=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    validate_certs=dict(type="bool"),
    eks=dict(type="dict"),
)

ARGUMENT_SPEC = dict(
    check=dict(type="str", required=True, choices=["rollout", "rollback", "bake", "read"]),
    clusters=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        connection=dict(type="dict", default={}, options=CONNECTION_SPEC),
    )),
    name=dict(type="str", required=True),
    namespace=dict(type="str", default="default"),
    container=dict(type="str"),
    image=dict(type="str"),
    images=dict(type="dict", default={}),
    revision=dict(type="str", default=""),
    max_surge=dict(type="raw"),
    max_unavailable=dict(type="raw"),
    lock_wait_seconds=dict(type="int", default=150),
    bake_seconds=dict(type="int", default=0),
)


def _connection(entry):
    return dict((k, v) for k, v in (entry.get("connection") or {}).items() if v not in (None, ""))


def _work(params):
    check = params["check"]
    if check == "read":
        return lambda cluster: cluster.read()
    if check == "bake":
        def bake(cluster):
            out = cluster.bake(cluster.s["expected"], max(params["bake_seconds"], 0))
            problem = out.pop("problem")
            out.pop("deployment", None)
            if problem:
                out.update(ok=False, reason=problem[0], message=problem[1])
            return out
        return bake
    return lambda cluster: cluster.preflight(check)


def run(params, clock=time.time, sleep=time.sleep):
    """{ok, failed_clusters, clusters: {name: outcome}, api_requests} for the check ``params`` asks for."""
    settings = dict((k, params.get(k)) for k in ("name", "namespace", "container", "image", "revision", "max_surge",
                                                 "max_unavailable", "lock_wait_seconds"))
    members = []
    for entry in params["clusters"]:
        own = (params.get("images") or {}).get(entry["name"]) or params.get("image")
        s = dict(settings, image=own, expected=own)
        members.append(fleet_clusters.Cluster(entry["name"], _connection(entry), s, clock=clock, sleep=sleep))
    outcomes = fleet_clusters.check_all(members, _work(params))
    if params["check"] == "rollout":
        for c in members:
            outcomes[c.name].setdefault("target_image", c.s["image"])
    failed = [c.name for c in members if not outcomes[c.name]["ok"]]
    out = {
        "ok": not failed,
        "failed_clusters": failed,
        "clusters": outcomes,
        "api_requests": sum(o.get("api_requests") or 0 for o in outcomes.values()),
        "check": params["check"],
    }
    if params["check"] == "read":
        out["table"] = [status_row(c.name, outcomes[c.name], params) for c in members]
        out["lines"] = ["  ".join(str(row[k]) for k in ("cluster", "image", "revision", "verdict")) for row in out["table"]]
    return out


def status_row(name, outcome, params):
    """One line of status.yml's table (the AWX artifact rollout_status)."""
    d = outcome.get("deployment") or {}
    if not outcome["ok"]:
        verdict, message = outcome["reason"], outcome["message"]
    elif not d:
        verdict, message = "not_found", outcome.get("message") or "Deployment %s/%s not found" % (
            params["namespace"], params["name"])
    else:
        verdict, message = d.get("verdict"), d.get("message")
    return {"cluster": name, "found": bool(d), "image": d.get("image"), "revision": d.get("revision"),
            "complete": bool(d.get("complete")), "verdict": verdict, "message": message,
            "replicas": d.get("replicas") or {}, "lock": d.get("lock")}
