# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary steps and blue/green switches with plain Kubernetes objects (no mesh, no controller).

canary: a second Deployment ``<name>-canary`` runs the new template beside the
stable one, behind the same Service (its pods carry the stable labels plus a
track label). It grows in steps given as percentages of the stable replica
count; the stable Deployment keeps all its replicas meanwhile, so ready
capacity never drops below what it was. Each step waits with the rollout
rules, runs the gates, and holds for a pause watching the canary pods. Then
the stable Deployment rolls to the new template with the rolling rules, and
the canary goes away. Traffic share is replica share.

blue_green: a full ``<name>-green`` Deployment with the new template comes up
and is gated while the Service still selects only the current pods (its
selector is pinned to their pod-template-hash). The switch is one write of
the Service selector. During the rollback window a failure switches back with
one write. Then the original Deployment rolls to the new template (the
Service still on green), the selector moves back to it, green is deleted and
the selector unpinned: one Deployment, its name unchanged for HPAs, PDBs and
dashboards.

Both record their step on the objects (annotations), so a rerun after an
interrupted run continues or cleans up, and never makes a second canary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import math

from ansible_collections.modelops.serving.plugins.module_utils.rollout import capacity, diagnose, spec
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError

TRACK_LABEL = "modelops.serving/track"
STEP = spec.ANNOTATION + "step"
HASH = "pod-template-hash"


class StrategyError(Exception):
    """Refused before any change (e.g. no GPU room for two colours); the message says why."""


def _meta(obj):
    return obj.get("metadata") or {}


def apply_container(template, container_patch):
    """The template with the container patch merged the way the API merges it (by name)."""
    out = copy.deepcopy(template)
    for c in spec.containers(out):
        if c.get("name") != container_patch["name"]:
            continue
        if "image" in container_patch:
            c["image"] = container_patch["image"]
        if "args" in container_patch:
            c["args"] = list(container_patch["args"])
        for entry in container_patch.get("env") or []:
            env = c.setdefault("env", [])
            for item in env:
                if item.get("name") == entry["name"]:
                    item.pop("valueFrom", None)
                    item["value"] = entry["value"]
                    break
            else:
                env.append({"name": entry["name"], "value": entry["value"]})
    return out


def sibling_manifest(stable, suffix, track, container_patch, replicas, target, step):
    """A Deployment beside ``stable`` running the new template, owned by it (garbage-collected with it)."""
    meta = _meta(stable)
    sspec = stable.get("spec") or {}
    template = apply_container(sspec.get("template") or {}, container_patch)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[TRACK_LABEL] = track
    template.setdefault("metadata", {})["labels"] = labels
    selector = copy.deepcopy(sspec.get("selector") or {})
    selector.setdefault("matchLabels", {})[TRACK_LABEL] = track
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": meta["name"] + suffix,
            "namespace": meta.get("namespace"),
            "labels": dict(meta.get("labels") or {}, **{TRACK_LABEL: track}),
            "annotations": {spec.TARGET: target, STEP: str(step)},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                 "uid": meta.get("uid"), "controller": False, "blockOwnerDeletion": False}],
        },
        "spec": {
            "replicas": replicas,
            "selector": selector,
            "template": template,
            "strategy": copy.deepcopy(sspec.get("strategy") or {"type": "RollingUpdate"}),
            "minReadySeconds": sspec.get("minReadySeconds", 0),
            "progressDeadlineSeconds": sspec.get("progressDeadlineSeconds", 600),
            "revisionHistoryLimit": 1,
        },
    }


def canary_replicas(total, percent):
    return max(1, int(math.ceil(total * percent / 100.0)))


class _Strategy:
    def __init__(self, rollout):
        self.r = rollout
        self.api = rollout.api
        self.ns = rollout.namespace

    def _path(self, name):
        return self.api.deployment_path(self.ns, name)

    def _get(self, name):
        try:
            return self.api.get(self._path(name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def _remove(self, name):
        """Scale to zero, then delete: pods leave through their normal termination."""
        if self._get(name) is None:
            return
        try:
            self.api.patch(self._path(name), {"spec": {"replicas": 0}})
            self.api.delete(self._path(name))
        except KubeError as exc:
            if not exc.not_found:
                raise
        self.r.progress("deleted Deployment %s/%s" % (self.ns, name))

    def _set_step(self, name, step, replicas=None):
        body = {"metadata": {"annotations": {STEP: str(step)}}}
        if replicas is not None:
            body["spec"] = {"replicas": replicas}
        return self.api.patch(self._path(name), body)

    def _target(self):
        p = self.r.p
        return spec.target_record(self.r.container, p.get("image"), p.get("env"), p.get("args"))

    def _gpu_room(self, template, pods_needed, what, advice):
        try:
            capacity.check_gpu_room(self.api, template, pods_needed, what, self.r.progress)
        except capacity.NoRoom as exc:
            raise StrategyError("%s. %s" % (exc, advice))

    def _gate_and_hold(self, phase, deployment, pods, pause):
        outcome = None
        if self.r.gates is not None:
            outcome = self.r.gates(self.r, deployment, pods)
            if not outcome.ok:
                return outcome
        if pause:
            return self.r.hold(phase, deployment, pause)
        return outcome


class Canary(_Strategy):
    SUFFIX = "-canary"

    def leftover(self):
        return self._get(self.r.name + self.SUFFIX) is not None

    def drive(self, stable, container_patch, spec_patch, before, result):
        name = self.r.name + self.SUFFIX
        target = self._target()
        existing = self._get(name)
        if existing is not None and (_meta(existing).get("annotations") or {}).get(spec.TARGET) != target:
            self.r.progress("a canary for another target exists; removing it first")
            self._remove(name)
            existing = None
        if not container_patch:
            # Stable already runs the target: a canary left by a run that died after promotion goes.
            self._remove(name)
            return self.r._drive(stable, container_patch, spec_patch, before, result)
        steps = self.r.p.get("canary_steps") or [10, 25, 50]
        total = (stable.get("spec") or {}).get("replicas", 1)
        first = 0
        if existing is not None:
            first = min(int((_meta(existing).get("annotations") or {}).get(STEP, "0") or 0), len(steps))
            result["resumed"] = True
            self.r.progress("resuming the canary at step %d of %d" % (first + 1, len(steps)))
        else:
            template = apply_container((stable.get("spec") or {}).get("template") or {}, container_patch)
            self._gpu_room(template, canary_replicas(total, steps[0]), "the first canary step",
                           "Add GPU nodes, or start with a smaller canary step")
            body = sibling_manifest(stable, self.SUFFIX, "canary", container_patch, 0, target, 0)
            self.api.create(self.api.deployment_path(self.ns), body)
            self.r.changed = True
            result["changed"] = True
        report = result.setdefault("canary", {"steps": []})
        for index in range(first, len(steps)):
            replicas = canary_replicas(total, steps[index])
            canary = self._set_step(name, index, replicas)
            self.r.changed = result["changed"] = True
            self.r.progress("canary step %d/%d: %d%% -> %d canary pods beside %d stable"
                            % (index + 1, len(steps), steps[index], replicas, total))
            t = self.r.clock()
            outcome, canary, pods = self.r.wait("canary step %d" % (index + 1), canary)
            if outcome.ok:
                held = self._gate_and_hold("canary step %d" % (index + 1), canary, pods,
                                           self.r.p.get("canary_pause_seconds") or 0)
                outcome = held or outcome
            report["steps"].append({"percent": steps[index], "canary_replicas": replicas, "stable_replicas": total,
                                    "ok": outcome.ok, "seconds": round(self.r.clock() - t, 3)})
            if not outcome.ok:
                diagnostics = self.r.diagnostics(pods)
                self._remove(name)
                result.update(verdict="rolled_back", reason=outcome.reason, diagnostics=diagnostics,
                              message="canary step %d (%d%%) failed: %s; canary removed, stable untouched on %s"
                                      % (index + 1, steps[index], outcome.message, before.get("image")),
                              rolled_back_to={"revision": before.get("revision"), "original_revision":
                                              before.get("revision"), "image": before.get("image")})
                return result
        self._set_step(name, len(steps))
        self.r.progress("canary healthy at every step; promoting: rolling %s to the new template" % self.r.name)
        result = self.r._drive(self._get(self.r.name), container_patch, spec_patch, before, result)
        self._remove(name)
        if result["verdict"] == "complete":
            result["message"] = "canary steps %s passed; %s" % (steps, result["message"])
        return result


class BlueGreen(_Strategy):
    SUFFIX = "-green"

    def leftover(self):
        return self._get(self.r.name + self.SUFFIX) is not None

    def _service(self):
        name = self.r.p.get("service")
        if not name:
            raise StrategyError("strategy blue_green needs service: the Service whose selector switches colours")
        try:
            return self.api.get(self.api.path("v1", "services", self.ns, name))
        except KubeError as exc:
            if exc.not_found:
                raise StrategyError("Service %r not found in namespace %r" % (name, self.ns))
            raise

    def _select(self, service, selector):
        t = self.r.clock()
        body = {"spec": {"selector": dict(selector)}}
        # A merge patch replaces the selector map as a whole: removing the pin must drop the key.
        current = (service.get("spec") or {}).get("selector") or {}
        for key in current:
            body["spec"]["selector"].setdefault(key, None)
        updated = self.api.patch(self.api.path("v1", "services", self.ns, _meta(service)["name"]), body,
                                 patch_type="merge")
        return updated, self.r.clock() - t

    def _active_hash(self, deployment):
        replicasets = self.api.get(self.r._rs_path(), {"labelSelector": self.r._selector(deployment)}).get("items")
        rs = diagnose.find_new_replicaset(deployment, replicasets or [])
        return (_meta(rs).get("labels") or {}).get(HASH) if rs else None

    def drive(self, blue, container_patch, spec_patch, before, result):
        green_name = self.r.name + self.SUFFIX
        service = self._service()
        original = json.loads((_meta(service).get("annotations") or {}).get(spec.ANNOTATION + "original-selector")
                              or json.dumps((service.get("spec") or {}).get("selector") or {}))
        green = self._get(green_name)
        target = self._target()
        if green is not None and (_meta(green).get("annotations") or {}).get(spec.TARGET) != target:
            self._select(service, original)
            self._remove(green_name)
            green = None
        if not container_patch:
            if green is not None:
                service, _took = self._select(service, original)
                self._remove(green_name)
            return self.r._drive(blue, container_patch, spec_patch, before, result)
        total = (blue.get("spec") or {}).get("replicas", 1)
        report = result.setdefault("blue_green", {})
        if green is None:
            template = apply_container((blue.get("spec") or {}).get("template") or {}, container_patch)
            self._gpu_room(template, total, "blue/green (a full second colour)",
                           "Add GPU nodes, or use strategy rolling with max_surge 0 to replace pods one at a time")
            blue_hash = self._active_hash(blue)
            if not blue_hash:
                raise StrategyError("Deployment %s/%s has no complete ReplicaSet to pin the Service to; "
                                    "let its current rollout finish first" % (self.ns, self.r.name))
            pinned = dict(original, **{HASH: blue_hash})
            self.api.patch(self.api.path("v1", "services", self.ns, _meta(service)["name"]),
                           {"metadata": {"annotations": {spec.ANNOTATION + "original-selector": json.dumps(original)}},
                            "spec": {"selector": pinned}}, patch_type="merge")
            body = sibling_manifest(blue, self.SUFFIX, "green", container_patch, total, target, 0)
            green = self.api.create(self.api.deployment_path(self.ns), body)
            self.r.changed = result["changed"] = True
            self.r.progress("green Deployment %s created with %d replicas; Service stays on blue" % (green_name, total))
        else:
            result["resumed"] = True
        step = int((_meta(green).get("annotations") or {}).get(STEP, "0") or 0)
        service = self._service()
        if step < 1:
            outcome, green, pods = self.r.wait("green", green)
            if outcome.ok:
                outcome = self._gate_and_hold("green", green, pods, 0) or outcome
            if not outcome.ok:
                diagnostics = self.r.diagnostics(pods)
                self._select(service, original)
                self._remove(green_name)
                result.update(verdict="rolled_back", reason=outcome.reason, diagnostics=diagnostics,
                              message="green failed before the switch: %s; green removed, Service never left blue"
                                      % outcome.message,
                              rolled_back_to={"revision": before.get("revision"),
                                              "original_revision": before.get("revision"),
                                              "image": before.get("image")})
                return result
            green_hash = self._active_hash(green)
            service, took = self._select(service, dict(original, **{HASH: green_hash}))
            report["switch_seconds"] = round(took, 3)
            self._set_step(green_name, 1)
            self.r.progress("switched Service %s to green in one write (%.3fs)" % (_meta(service)["name"], took))
            window = self.r.p.get("rollback_window_seconds") or 0
            if window:
                held = self.r.hold("rollback window", green, window)
                if held is not None and not held.ok:
                    blue_hash = self._active_hash(blue)
                    service, back = self._select(service, dict(original, **{HASH: blue_hash}))
                    report["switch_back_seconds"] = round(back, 3)
                    self._remove(green_name)
                    self._select(service, original)
                    result.update(verdict="rolled_back", reason=held.reason,
                                  message="green failed in the rollback window: %s; switched back to blue in one "
                                          "write (%.3fs)" % (held.message, back),
                                  rolled_back_to={"revision": before.get("revision"),
                                                  "original_revision": before.get("revision"),
                                                  "image": before.get("image")})
                    return result
        # Promote: the original Deployment takes the new template while green serves.
        result = self.r._drive(self._get(self.r.name), container_patch, spec_patch, before, result)
        blue = self._get(self.r.name)
        if result["verdict"] != "complete":
            result["message"] += "; green keeps serving (Service still on %s)" % green_name
            return result
        service, _took = self._select(self._service(), dict(original, **{HASH: self._active_hash(blue)}))
        self._remove(green_name)
        self._select(service, original)
        api = self.api
        api.patch(api.path("v1", "services", self.ns, _meta(service)["name"]),
                  {"metadata": {"annotations": {spec.ANNOTATION + "original-selector": None}}}, patch_type="merge")
        result["message"] = "green served after a one-write switch; %s now runs it; %s" % (
            self.r.name, result["message"])
        return result


STRATEGIES = {"canary": Canary, "blue_green": BlueGreen}
