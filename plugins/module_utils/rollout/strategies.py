# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Three strategies as peers: rolling, canary and blue/green, with plain Kubernetes objects.

Each implements ``leftover()`` (objects an interrupted run left), ``drive(deployment, change,
decision)`` (the run, ending in a verdict on ``ctx.result``) and ``abort()`` (after an error that
ended the run: remove what this strategy created, and say what is left). They share the phases
of phases.py and nothing else; each reaches the cluster only through its Context.

rolling: the Kubernetes rolling update of the Deployment itself, waited for, gated, and on a
failure of the new template ``on_failure``.

canary: a second Deployment ``<name>-canary`` runs the new template beside the stable one, behind
the same Service (its pods carry the stable labels plus a track label). It grows in steps given as
percentages of the stable replica count; the stable Deployment keeps all its replicas meanwhile,
so ready capacity never drops below what it was. Each step waits with the rollout rules, runs the
gates, and holds for a pause watching the canary pods. Then the stable Deployment rolls to the new
template with the rolling rules, and the canary goes away. Traffic share is replica share.

blue_green: a full ``<name>-green`` Deployment with the new template comes up and is gated while
the Service still selects only the current pods (its selector is pinned to their
pod-template-hash). The switch is one write of the Service selector. During the rollback window
a failure switches back with one write. Then the original Deployment rolls to the new template
(the Service still on green), the selector moves back to it, green is deleted and the selector
unpinned: one Deployment, its name unchanged for HPAs, PDBs and dashboards.

Both record their step on the objects (annotations), so a rerun after an interrupted run
continues or cleans up, and never makes a second canary. A failure of the new template removes
the canary or green and leaves the stable Deployment untouched; so does a lost Lease (removing
what this run made, by uid, is the one write allowed without the Lease). A verdict that forbids
writes (paused, a stalled controller) leaves everything as it is, and says so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import math

from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose, phases, reasons, spec
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError, RolloutError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError

TRACK_LABEL = "modelops.serving/track"
STEP = spec.ANNOTATION + "step"
ORIGINAL_SELECTOR = spec.ANNOTATION + "original-selector"
HASH = "pod-template-hash"

# Failures after which this run may still remove its own canary or green.
_CLEANUP_ALLOWED = ("lock_lost", "deployment_deleted", "api_error", "superseded")


def _meta(obj):
    return obj.get("metadata") or {}


def _annotation(obj, key, default=None):
    return (_meta(obj).get("annotations") or {}).get(key, default)


def sibling_manifest(stable, suffix, track, container_patch, replicas, target, step):
    """A Deployment beside ``stable`` running the new template, owned by it (garbage-collected with it)."""
    meta = _meta(stable)
    sspec = stable.get("spec") or {}
    template = spec.apply_container(sspec.get("template") or {}, container_patch)
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


def _untouched(before):
    return {"revision": before.get("revision"), "original_revision": before.get("revision"),
            "image": before.get("image")}


class Strategy:
    """The interface every strategy implements over its Context."""

    def __init__(self, ctx):
        self.ctx = ctx

    def leftover(self):
        """True when an interrupted run left objects of this strategy behind."""
        return False

    def drive(self, deployment, change, decision):
        raise NotImplementedError

    def abort(self):
        """After an error ended the run: remove what this strategy made; return what is left, for the message."""
        return None


class Rolling(Strategy):
    def drive(self, deployment, change, decision):
        outcome, previous = phases.roll(self.ctx, deployment, change)
        phases.conclude(self.ctx, outcome, previous)

    def abort(self):
        if self.ctx.result.changed:
            return ("Deployment %s/%s keeps the template this run wrote and rolls on by itself; running the same "
                    "task again resumes the wait (and can roll back)" % (self.ctx.namespace, self.ctx.name))
        return None


class _Sibling(Strategy):
    """What canary and blue/green share: a second Deployment of this run, found, created and removed by uid."""

    SUFFIX = None

    def __init__(self, ctx):
        super(_Sibling, self).__init__(ctx)
        self.sibling_name = ctx.name + self.SUFFIX
        # The sibling this run created or resumed (its uid makes removal safe against a namesake).
        self.sibling = None

    def leftover(self):
        return phases.find_deployment(self.ctx, self.sibling_name) is not None

    def _target(self):
        s = self.ctx.settings
        return spec.target_record(self.ctx.container, s.image, s.env, s.args)

    def _create(self, body):
        ctx = self.ctx
        self.sibling = ctx.write("POST", ctx.deployment_path(), body)
        return self.sibling

    def _set_step(self, step, replicas=None):
        body = {"metadata": {"annotations": {STEP: str(step)}}}
        if replicas is not None:
            body["spec"] = {"replicas": replicas}
        self.sibling = phases.patch_deployment(self.ctx, self.sibling_name, body)
        return self.sibling

    def remove(self, obj=None, own_object=False):
        """Scale to zero, then delete, only the object of this uid: pods leave through their normal termination."""
        ctx = self.ctx
        obj = obj or self.sibling
        if obj is None:
            return True
        uid = _meta(obj).get("uid")
        name = _meta(obj)["name"]
        path = ctx.deployment_path(name)
        for attempt in range(phases.CONFLICT_ATTEMPTS):
            try:
                ctx.write("PATCH", path, {"metadata": {"uid": uid}, "spec": {"replicas": 0}}, own_object=own_object)
                ctx.write("DELETE", path, preconditions={"uid": uid} if uid else None, own_object=own_object)
                break
            except KubeError as exc:
                if exc.not_found:
                    break
                if not (exc.conflict or exc.status == 422) or attempt == phases.CONFLICT_ATTEMPTS - 1:
                    raise
            current = phases.find_deployment(ctx, name)
            if current is None or _meta(current).get("uid") != uid:
                break  # gone, or a namesake someone else made: not ours to remove
        # Say so if it is still there: a leftover canary or green must never go unmentioned.
        current = phases.find_deployment(ctx, name)
        if current is not None and _meta(current).get("uid") == uid and not _meta(current).get("deletionTimestamp"):
            raise RolloutError("Deployment %s/%s could not be removed" % (ctx.namespace, name))
        ctx.loop.forget(obj)
        if obj is self.sibling:
            self.sibling = None
        ctx.progress("deleted Deployment %s/%s" % (ctx.namespace, _meta(obj)["name"]))
        return True

    def remove_quietly(self):
        """Remove the sibling after a failure; '' when done, else what a person must delete."""
        if self.sibling is None:
            return ""
        try:
            self.remove(own_object=True)
        except Exception as exc:  # the verdict must survive a failed cleanup
            return "; could not remove Deployment %s/%s (%s): delete it" % (self.ctx.namespace, self.sibling_name, exc)
        return ""

    def _stable_fallback(self, stable, change, decision):
        """Nothing for a sibling to do: the stable Deployment already runs the target."""
        if decision == spec.WRITE and not change.changes:
            decision = spec.decide(stable, change)
        if decision == spec.UNCHANGED:
            self.ctx.result.end("unchanged", "up_to_date", "Deployment %s/%s already runs the requested template"
                                % (self.ctx.namespace, self.ctx.name))
            return
        Rolling(self.ctx).drive(stable, change, decision)

    def _sibling_failed(self, outcome, what):
        """A failure before promotion: remove the sibling unless the verdict forbids writes; stable untouched."""
        ctx, result = self.ctx, self.ctx.result
        view = outcome.view
        if reasons.against_template(outcome.reason):
            result.diagnostics = phases.diagnostics(ctx, view.new_pods if view is not None else [], view=view)
            left = self.remove_quietly()
            result.rolled_back_to = _untouched(ctx.result.previous)
            result.end("rolled_back", outcome.reason, "%s: %s; %s removed, %s untouched on %s%s" % (
                what, outcome.message, self.sibling_name, ctx.name, ctx.result.previous.get("image"), left))
            return
        if outcome.reason in _CLEANUP_ALLOWED:
            left = self.remove_quietly()
            ctx.freeze(outcome.reason)
            result.end(reasons.REASONS[outcome.reason].verdicts[0], outcome.reason, "%s: %s; %s removed, %s untouched%s"
                       % (what, outcome.message, self.sibling_name, ctx.name, left))
            return
        ctx.freeze(outcome.reason)
        result.end(reasons.REASONS[outcome.reason].verdicts[0], outcome.reason, "%s: %s; %s left as it is, %s untouched"
                   % (what, outcome.message, self.sibling_name, ctx.name))

    def abort(self):
        if self.sibling is None:
            return None
        left = self.remove_quietly()
        return "%s removed%s" % (self.sibling_name, left) if not left else left.lstrip("; ")


class Canary(_Sibling):
    SUFFIX = "-canary"

    def drive(self, deployment, change, decision):
        ctx, result = self.ctx, self.ctx.result
        stable = deployment
        # The stable template the canary was judged against; another one at promotion time is not ours to replace.
        self.stable_template = (stable.get("spec") or {}).get("template")
        target = self._target()
        existing = phases.find_deployment(ctx, self.sibling_name)
        if existing is not None and _annotation(existing, spec.TARGET) != target:
            ctx.progress("a canary for another target exists; removing it first")
            self.remove(existing)
            existing = None
        if not change.container_patch:
            # Stable already runs the target: a canary left by a run that died after promotion goes.
            if existing is not None:
                self.remove(existing)
            return self._stable_fallback(stable, change, decision)
        steps = ctx.settings.canary_steps
        total = (stable.get("spec") or {}).get("replicas", 1)
        first = 0
        if existing is not None:
            self.sibling = existing
            first = min(int(_annotation(existing, STEP, "0") or 0), len(steps))
            result.resumed = True
            ctx.progress("resuming the canary at step %d of %d" % (first + 1, len(steps)))
        else:
            ctx.enter("preflight")
            template = spec.apply_container((stable.get("spec") or {}).get("template") or {}, change.container_patch)
            phases.gpu_room(ctx, template, canary_replicas(total, steps[0]), "the first canary step",
                            "Add GPU nodes, or start with a smaller canary step")
            ctx.enter("canary")
            self._create(sibling_manifest(stable, self.SUFFIX, "canary", change.container_patch, 0, target, 0))
        report = result.extra.setdefault("canary", {"steps": []})
        for index in range(first, len(steps)):
            if not self._step(index, steps, total, report):
                return
        ctx.enter("canary")
        self._set_step(len(steps))
        ctx.progress("canary healthy at every step; promoting: rolling %s to the new template" % ctx.name)
        self._promote(change, steps)

    def _step(self, index, steps, total, report):
        ctx = self.ctx
        phase = "canary step %d" % (index + 1)
        replicas = canary_replicas(total, steps[index])
        ctx.enter("canary")
        canary = self._set_step(index, replicas)
        ctx.progress("canary step %d/%d: %d%% -> %d canary pods beside %d stable"
                     % (index + 1, len(steps), steps[index], replicas, total))
        t = ctx.clock.monotonic()
        outcome = phases.wait_rollout(ctx, phase, canary)
        outcome = phases.run_gates(ctx, phase, outcome)
        pause = ctx.settings.canary_pause_seconds
        if outcome.ok and pause:
            outcome = phases.hold(ctx, phase, outcome.view, pause, "the canary pods")
        report["steps"].append({"percent": steps[index], "canary_replicas": replicas, "stable_replicas": total,
                                "ok": outcome.ok, "seconds": round(ctx.clock.monotonic() - t, 3)})
        if outcome.ok:
            return True
        self._sibling_failed(outcome, "canary step %d (%d%%) failed" % (index + 1, steps[index]))
        return False

    def _promote(self, change, steps):
        ctx = self.ctx
        stable = phases.read_deployment(ctx)
        replaced = phases.superseded(stable, self.stable_template)
        if replaced is not None:
            ctx.result.set_current(stable)
            self._sibling_failed(replaced, "before the promotion")
            return
        outcome, previous = phases.roll(ctx, stable, change)
        # The canary runs the same template: it goes before a rollback, and after a good promotion.
        left = ""
        if outcome.ok or reasons.against_template(outcome.reason) or outcome.reason in _CLEANUP_ALLOWED:
            # Removing the canary before a rollback is part of that rollback.
            ctx.enter("cleanup" if outcome.ok else "rollback")
            if not outcome.ok and outcome.reason == "lock_lost":
                left = self.remove_quietly()
            else:
                self.remove()
        else:
            left = "; %s left as it is" % self.sibling_name
        phases.conclude(ctx, outcome, previous)
        if ctx.result.verdict == "complete":
            ctx.result.message = "canary steps %s passed; %s" % (steps, ctx.result.message)
        else:
            ctx.result.message += left


class BlueGreen(_Sibling):
    SUFFIX = "-green"

    def __init__(self, ctx):
        super(BlueGreen, self).__init__(ctx)
        # The Service as this run last wrote it, when this run changed its selector.
        self.service = None
        self.original = None
        # From the promotion on, green serves and stays whatever happens; a rerun finishes the job.
        self.promoting = False

    def _read_service(self):
        ctx = self.ctx
        name = ctx.settings.service
        try:
            return ctx.api.get(ctx.service_path(name))
        except KubeError as exc:
            if exc.not_found:
                raise InputError("Service %r not found in namespace %r" % (name, ctx.namespace))
            raise

    def _select(self, service, selector, own_object=False):
        """One write of the Service selector; returns (service, seconds the write took)."""
        ctx = self.ctx
        t = ctx.clock.monotonic()
        body = {"spec": {"selector": dict(selector)}}
        # A merge patch replaces the selector map key by key: removing the pin must drop the key.
        for key in (service.get("spec") or {}).get("selector") or {}:
            body["spec"]["selector"].setdefault(key, None)
        self.service = ctx.write("PATCH", ctx.service_path(_meta(service)["name"]), body, patch_type="merge",
                                 own_object=own_object)
        return self.service, ctx.clock.monotonic() - t

    def _active_hash(self, deployment):
        rs = diagnose.find_new_replicaset(deployment, phases.replicasets_of(self.ctx, deployment))
        return (_meta(rs).get("labels") or {}).get(HASH) if rs else None

    def _restore(self, own_object=False):
        """Put the Service back on blue alone, remove green, unpin: the state before this run.

        Returns the seconds the switch back (one selector write) took.
        """
        ctx = self.ctx
        took = 0.0
        blue = phases.find_deployment(ctx, ctx.name)
        if self.service is not None and blue is not None:
            blue_hash = self._active_hash(blue)
            if blue_hash:
                _service, took = self._select(self.service, dict(self.original, **{HASH: blue_hash}),
                                              own_object=own_object)
        self.remove(own_object=own_object)
        if self.service is not None:
            self._select(self.service, self.original, own_object=own_object)
            self._forget_original(own_object)
        return took

    def _forget_original(self, own_object=False):
        ctx = self.ctx
        self.service = ctx.write("PATCH", ctx.service_path(_meta(self.service)["name"]),
                                 {"metadata": {"annotations": {ORIGINAL_SELECTOR: None}}}, patch_type="merge",
                                 own_object=own_object)

    def drive(self, deployment, change, decision):
        ctx, result = self.ctx, self.ctx.result
        blue = deployment
        service = self._read_service()
        self.original = json.loads(_annotation(service, ORIGINAL_SELECTOR)
                                   or json.dumps((service.get("spec") or {}).get("selector") or {}))
        green = phases.find_deployment(ctx, self.sibling_name)
        if green is not None:
            self.sibling, self.service = green, service
        if green is not None and _annotation(green, spec.TARGET) != self._target():
            self._restore()
            green = None
        if not change.container_patch:
            if green is not None:
                self._restore()
            return self._stable_fallback(blue, change, decision)
        total = (blue.get("spec") or {}).get("replicas", 1)
        report = result.extra.setdefault("blue_green", {})
        if green is None:
            green = self._bring_up_green(blue, change, service, total)
        else:
            result.resumed = True
        if int(_annotation(green, STEP, "0") or 0) < 1:
            if not self._switch(green, report):
                return
        self._promote(change)

    def _bring_up_green(self, blue, change, service, total):
        ctx = self.ctx
        ctx.enter("preflight")
        template = spec.apply_container((blue.get("spec") or {}).get("template") or {}, change.container_patch)
        phases.gpu_room(ctx, template, total, "blue/green (a full second colour)",
                        "Add GPU nodes, or use strategy rolling with max_surge 0 to replace pods one at a time")
        blue_hash = self._active_hash(blue)
        if not blue_hash:
            raise InputError("Deployment %s/%s has no complete ReplicaSet to pin the Service to; "
                             "let its current rollout finish first" % (ctx.namespace, ctx.name))
        ctx.enter("green")
        self.service = ctx.write("PATCH", ctx.service_path(_meta(service)["name"]), {
            "metadata": {"annotations": {ORIGINAL_SELECTOR: json.dumps(self.original)}},
            "spec": {"selector": dict(self.original, **{HASH: blue_hash})}}, patch_type="merge")
        green = self._create(sibling_manifest(blue, self.SUFFIX, "green", change.container_patch, total,
                                              self._target(), 0))
        ctx.progress("green Deployment %s created with %d replicas; Service stays on blue" % (self.sibling_name, total))
        return green

    def _switch(self, green, report):
        """Wait for green, gate it, switch the Service in one write, hold the window. False when it ended the run."""
        ctx = self.ctx
        if self.service is None:
            self.service = self._read_service()
        outcome = phases.wait_rollout(ctx, "green", green)
        outcome = phases.run_gates(ctx, "green", outcome)
        if not outcome.ok:
            self._green_failed(outcome, "green failed before the switch", "Service never left blue")
            return False
        ctx.enter("switch")
        green_hash = self._active_hash(outcome.view.deployment)
        service, took = self._select(self.service, dict(self.original, **{HASH: green_hash}))
        report["switch_seconds"] = round(took, 3)
        self._set_step(1)
        ctx.progress("switched Service %s to green in one write (%.3fs)" % (_meta(service)["name"], took))
        window = ctx.settings.rollback_window_seconds
        if not window:
            return True
        held = phases.hold(ctx, "rollback window", outcome.view, window, "green")
        if held.ok:
            return True
        self._green_failed(held, "green failed in the rollback window", None, report=report)
        return False

    def _green_failed(self, outcome, what, where, report=None):
        ctx, result = self.ctx, self.ctx.result
        view = outcome.view
        cleanup = reasons.against_template(outcome.reason) or outcome.reason in _CLEANUP_ALLOWED
        if not cleanup:
            ctx.freeze(outcome.reason)
            result.end(reasons.REASONS[outcome.reason].verdicts[0], outcome.reason,
                       "%s: %s; %s and the Service left as they are, %s untouched"
                       % (what, outcome.message, self.sibling_name, ctx.name))
            return
        own = not reasons.against_template(outcome.reason)
        if not own:
            result.diagnostics = phases.diagnostics(ctx, view.new_pods if view is not None else [], view=view)
        # Switching back to blue after green failed is this strategy's rollback.
        ctx.enter("cleanup" if own else "rollback")
        left = ""
        took = 0.0
        try:
            took = self._restore(own_object=own)
        except Exception as exc:  # the verdict must survive a failed cleanup
            left = "; could not restore the Service and remove %s (%s): fix them by hand" % (self.sibling_name, exc)
        if report is not None:
            report["switch_back_seconds"] = round(took, 3)
        if where is None:
            where = "switched back to blue in one write (%.3fs)" % report["switch_back_seconds"]
        if own:
            ctx.freeze(outcome.reason)
            result.end(reasons.REASONS[outcome.reason].verdicts[0], outcome.reason, "%s: %s; %s, %s removed, %s "
                       "untouched%s" % (what, outcome.message, where, self.sibling_name, ctx.name, left))
            return
        result.rolled_back_to = _untouched(result.previous)
        result.end("rolled_back", outcome.reason, "%s: %s; %s, %s removed%s" % (
            what, outcome.message, where, self.sibling_name, left))

    def _promote(self, change):
        """The original Deployment takes the new template while green serves."""
        ctx, result = self.ctx, self.ctx.result
        self.promoting = True
        stable = phases.read_deployment(ctx)
        outcome, previous = phases.roll(ctx, stable, change)
        phases.conclude(ctx, outcome, previous)
        if result.verdict != "complete":
            result.message += "; green keeps serving (Service still on %s)" % self.sibling_name
            return
        ctx.enter("cleanup")
        blue = phases.read_deployment(ctx)
        self._select(self._read_service(), dict(self.original, **{HASH: self._active_hash(blue)}))
        self.remove()
        self._select(self.service, self.original)
        self._forget_original()
        result.message = "green served after a one-write switch; %s now runs it; %s" % (ctx.name, result.message)

    def abort(self):
        if self.sibling is None:
            return None
        if self.promoting:
            return ("%s keeps serving (Service %s on it); running the same task again finishes the promotion"
                    % (self.sibling_name, self.ctx.settings.service))
        try:
            self._restore(own_object=True)
        except Exception as exc:  # the verdict must survive a failed cleanup
            return "could not restore Service %s and remove %s (%s): fix them by hand" % (
                self.ctx.settings.service, self.sibling_name, exc)
        return "Service %s back on %s, %s removed" % (self.ctx.settings.service, self.ctx.name, self.sibling_name)


STRATEGIES = {"rolling": Rolling, "canary": Canary, "blue_green": BlueGreen}
