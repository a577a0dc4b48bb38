# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The phases every strategy is made of, over an explicit Context.

- ``write_change``: one strategic merge patch with the resourceVersion read as its precondition;
  a conflict reads and plans again (the planner is pure), a refusal becomes a user error;
- ``wait_rollout``: the wait loop with the rollout judge, the progress deadline and the cap;
- ``run_gates``: the model gates (gates.py), whose report lands in the result;
- ``hold``: a pause watched by the one hold verdict;
- ``conclude``: the verdict, and for a failure of the new template ``on_failure`` (rollback and
  its wait, pause, or just report); for a failure about the world, nothing more is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.modelops.serving.plugins.module_utils.rollout import capacity, diagnose, hold as holds
from ansible_collections.modelops.serving.plugins.module_utils.rollout import reasons, record, refusals, spec, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError, Refused, RolloutError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.judges import (
    HoldJudge, RolloutJudge, superseded, template_of)
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import HoldUntil, ProgressDeadline
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import selector_of

CONFLICT_ATTEMPTS = 3
# A rollback replaces all annotations, so it holds the resourceVersion it read; it must not give up on a busy object.
ROLLBACK_ATTEMPTS = 6


# -- reading -------------------------------------------------------------------------------------
def read_deployment(ctx, name=None, first=False):
    """The Deployment (the run's own by default).

    ``first``: the run's first read, where a missing one is bad input (telling a missing namespace
    apart); any later read that finds it gone ends the run as ``deployment_deleted``.
    """
    name = name or ctx.name
    try:
        found = ctx.api.get(ctx.deployment_path(name))
    except KubeError as exc:
        if exc.not_found and first:
            raise InputError(_not_found_message(ctx, name))
        raise deleted(ctx, exc, name) or exc
    if first and (found.get("metadata") or {}).get("deletionTimestamp"):
        raise InputError(_being_deleted_message(ctx, found))
    return found


def _being_deleted_message(ctx, deployment):
    """A Deployment with a deletionTimestamp (held by a finalizer): say whether its namespace goes too."""
    meta = deployment.get("metadata") or {}
    name = meta.get("name")
    try:
        namespace = ctx.api.get(ctx.api.path("v1", "namespaces", name=ctx.namespace))
    except KubeError:
        namespace = {}
    if ((namespace.get("status") or {}).get("phase")) == "Terminating":
        return ("namespace %s is being deleted (it is terminating), and Deployment %s with it: nothing was written. "
                "Run against a namespace that is not being deleted" % (ctx.namespace, name))
    return ("Deployment %s/%s is being deleted (since %s, waiting on its finalizers %s): nothing was written"
            % (ctx.namespace, name, meta.get("deletionTimestamp"), ", ".join(meta.get("finalizers") or []) or "-"))


def deleted(ctx, exc, name=None):
    """The error a 404 for the run's own Deployment means once the run has read it: it was deleted."""
    name = name or ctx.name
    if exc.not_found and name == ctx.name:
        return RolloutError("Deployment %s/%s was deleted during the %s; nothing more was written"
                            % (ctx.namespace, name, ctx.phase), reason="deployment_deleted")
    return None


def find_deployment(ctx, name):
    """A Deployment or None."""
    try:
        return ctx.api.get(ctx.deployment_path(name))
    except KubeError as exc:
        if exc.not_found:
            return None
        raise


def _not_found_message(ctx, name):
    try:
        ctx.api.get(ctx.api.path("v1", "namespaces", name=ctx.namespace))
    except KubeError as exc:
        if exc.not_found:
            return "namespace %r does not exist (looking for Deployment %r)" % (ctx.namespace, name)
        if exc.status == 403:
            # A namespaced Role cannot read Namespaces; say what is certain.
            return "Deployment %r not found in namespace %r (or the namespace does not exist)" % (name, ctx.namespace)
    return "Deployment %r not found in namespace %r" % (name, ctx.namespace)


def plan(ctx, deployment):
    try:
        return spec.plan(deployment, ctx.settings)
    except spec.SpecError as exc:
        raise InputError(str(exc))


def refuse_if_paused(ctx, deployment):
    if (deployment.get("spec") or {}).get("paused"):
        raise Refused("Deployment %s/%s is paused (an earlier failed rollout with on_failure=pause, or a person, "
                      "paused it): inspect it, then `kubectl rollout resume deployment/%s -n %s` or roll back, and "
                      "run again" % (ctx.namespace, ctx.name, ctx.name, ctx.namespace), reason="paused")


def replicasets_of(ctx, deployment):
    query = {"labelSelector": selector_of(deployment)}
    return ctx.api.get(ctx.api.path("apps/v1", "replicasets", ctx.namespace), query).get("items") or []


# -- preflight -----------------------------------------------------------------------------------
def surge_room(ctx, deployment, change):
    """A surge-only rollout (maxUnavailable 0) hangs without room for one surge pod: in the quota, and for GPU pods on a node."""
    merged = copy.deepcopy(deployment)
    spec_patch = change.spec_patch
    merged.setdefault("spec", {}).update(dict((k, v) for k, v in spec_patch.items() if k != "strategy"))
    rolling = dict(((merged["spec"].get("strategy") or {}).get("rollingUpdate")) or {})
    rolling.update(((spec_patch.get("strategy") or {}).get("rollingUpdate")) or {})
    replicas = merged["spec"].get("replicas", 1)
    surge, unavailable = status.resolve_fenceposts(rolling.get("maxSurge", status.DEFAULT_MAX_SURGE),
                                                   rolling.get("maxUnavailable", status.DEFAULT_MAX_UNAVAILABLE),
                                                   replicas)
    if unavailable > 0 or surge == 0 or not replicas or not change.container_patch:
        return
    template = spec.apply_container(merged["spec"].get("template") or {}, change.container_patch)
    what = "the rollout (maxUnavailable 0: a surge pod must start before any old pod stops)"
    try:
        capacity.check_quota_room(ctx.api, ctx.namespace, template, 1, what, ctx.progress)
    except capacity.NoRoom as exc:
        raise InputError("%s. Set max_unavailable to 1 to replace pods one at a time within the quota, or raise "
                         "the quota" % exc)
    try:
        capacity.check_gpu_room(ctx.api, template, 1, what, ctx.progress)
    except capacity.NoRoom as exc:
        raise InputError("%s. Set max_unavailable to 1 to replace GPU pods one at a time, or add GPU capacity" % exc)


def gpu_room(ctx, template, pods_needed, what, advice):
    """Quota and GPU room for pods a canary or green adds beside the stable ones."""
    try:
        capacity.check_quota_room(ctx.api, ctx.namespace, template, pods_needed, what, ctx.progress)
        capacity.check_gpu_room(ctx.api, template, pods_needed, what, ctx.progress)
    except capacity.NoRoom as exc:
        raise InputError("%s. %s" % (exc, advice))


# -- the change ----------------------------------------------------------------------------------
def write_change(ctx, deployment, change):
    """Patch with the resourceVersion read as precondition; on a conflict, read and decide again.

    Returns (deployment as written, change as written, the rollback target recorded with it); the
    change may have shrunk to nothing when someone else wrote the same template meanwhile.
    """
    cause = spec.change_cause(ctx.settings.image, ctx.settings.env, ctx.settings.env_absent)
    previous = None
    for attempt in range(CONFLICT_ATTEMPTS):
        refuse_if_paused(ctx, deployment)
        previous = rollback_target(ctx, deployment)
        body = spec.build_patch(deployment, change.container_patch, change.spec_patch, cause,
                                record.record_annotations(previous, change_digest(ctx, change)))
        try:
            return ctx.write("PATCH", ctx.deployment_path(ctx.name), body), change, previous
        except KubeError as exc:
            if not exc.conflict or attempt == CONFLICT_ATTEMPTS - 1:
                raise refusal(ctx, exc, "kept changing while this run tried to write") or exc
        # Status writes by the controller also move the resourceVersion: read, plan again.
        deployment = read_deployment(ctx)
        change = plan(ctx, deployment)
        if not change.changes:
            return deployment, change, previous
    return deployment, change, previous


def change_digest(ctx, change):
    s = ctx.settings
    return record.change_digest(change.container, s.image, s.env, s.args, s.env_absent)


def rollback_target(ctx, deployment):
    """What a failure of a change made now goes back to (record.py decides), with what the run reports as previous."""
    target = record.rollback_target(deployment, replicasets_of(ctx, deployment), ctx.container)
    if target is not None:
        ctx.result.previous = target.summary()
    return target


def refusal(ctx, exc, conflict):
    """The InputError a user should see for a refused write, or None for other API errors."""
    if exc.conflict:
        return InputError("Deployment %s/%s %s (%s); run again" % (ctx.namespace, ctx.name, conflict, exc))
    if exc.status in (400, 422):
        return InputError("the API server rejected the change to Deployment %s/%s: %s" % (ctx.namespace, ctx.name, exc))
    return deleted(ctx, exc)


def patch_deployment(ctx, name, body, patch_type="strategic", own_object=False):
    try:
        return ctx.write("PATCH", ctx.deployment_path(name), body, patch_type=patch_type, own_object=own_object)
    except KubeError as exc:
        if name != ctx.name and exc.not_found:
            raise
        raise refusal(ctx, exc, "changed while this run was writing") or exc


# -- waiting -------------------------------------------------------------------------------------
def generation(obj):
    return (obj.get("metadata") or {}).get("generation") or 0


def wait_rollout(ctx, phase, deployment, capped=True):
    """Wait for ``deployment`` (as this run last wrote or read it) to roll out; an Outcome with its view."""
    ctx.enter(phase)
    ctx.stands_behind(deployment, template_of(deployment))
    judge = RolloutJudge(ctx.settings.thresholds, min_generation=generation(deployment), written_at=ctx.written_at,
                         template=ctx.standing_template(deployment))
    deadline = ProgressDeadline(deployment, ctx.clock.monotonic())
    return ctx.loop.wait(phase, deployment, judge, deadline=deadline, cap=ctx.cap if capped else None)


def run_gates(ctx, phase, outcome):
    """The model gates on the new pods of a completed rollout; their report goes into the result."""
    if ctx.gates is None or not outcome.ok:
        return outcome
    ctx.enter("gate")
    gated, entries = ctx.gates.run(ctx, phase, outcome.view)
    ctx.result.gates = entries
    return gated


def hold(ctx, phase, view, seconds, what):
    """Watch the new pods of ``view`` for ``seconds``: the one hold verdict decides."""
    ctx.enter("hold")
    baseline = holds.Baseline([p for p in view.new_pods if diagnose.is_pod_active(p)])
    ctx.progress("%s: holding %ss, watching %d new pod(s)" % (phase, seconds, len(baseline)))
    end = ctx.clock.monotonic() + seconds
    return ctx.loop.wait(phase, view.deployment, HoldJudge(phase, baseline, ctx.standing_template(view.deployment)),
                         deadline=HoldUntil(phase, end, seconds, what), cap=ctx.cap)


def diagnostics(ctx, pods, limit=5, view=None):
    """Pods of the failed ReplicaSet with waiting reasons, restarts, events and a log tail.

    With ``view``, a ReplicaSet whose pods the API refused to create comes first, with its events.
    """
    ctx.enter("diagnose")
    refused = replicaset_diagnostics(ctx, view) if view is not None else []
    return refused + pod_diagnostics(ctx, pods, limit)


def replicaset_diagnostics(ctx, view):
    found = refusals.refusal(view.deployment, view.new_rs)
    if found is None:
        return []
    kind, name, reason, message = found
    try:
        selector = "involvedObject.kind=%s,involvedObject.name=%s" % (kind, name)
        events = list(ctx.api.get(ctx.api.path("v1", "events", ctx.namespace),
                                  {"fieldSelector": selector}).get("items", []))
    except KubeError:
        events = []
    events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [{"kind": kind, "name": name, "reason": reason, "message": message,
             "last_events": [diagnose.format_event(e) for e in events[-diagnose.MAX_EVENTS:]]}]


def pod_diagnostics(ctx, pods, limit=5):
    chosen = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", ""))[:limit]
    if not chosen:
        return []
    names = set((p.get("metadata") or {}).get("name") for p in chosen)
    try:
        events = [e for e in ctx.api.get(ctx.api.path("v1", "events", ctx.namespace),
                                         {"fieldSelector": "involvedObject.kind=Pod"}).get("items", [])
                  if (e.get("involvedObject") or {}).get("name") in names]
    except KubeError:
        events = []
    tails = {}
    if ctx.settings.log_lines:
        for pod in chosen[:3]:
            ctx.loop.keep_lock()
            name = pod["metadata"]["name"]
            tails[(name, ctx.container)] = _log_tail(ctx, name, ctx.settings.log_lines)
    return diagnose.summarize_pods(chosen, events, tails)


def _log_tail(ctx, pod, lines):
    path = ctx.api.path("v1", "pods", ctx.namespace, pod, "log")
    try:
        resp = ctx.api.call("GET", path, query={"container": ctx.container, "tailLines": str(lines)},
                            stream=True, timeout=10)
        text = resp.data.decode("utf-8", "replace")
        resp.release_conn()
        return text.splitlines()[-lines:]
    except KubeError as exc:
        return ["(no log: %s)" % exc]


# -- the verdict ---------------------------------------------------------------------------------
def conclude(ctx, outcome, previous):
    """End the run on the rollout's outcome: complete, a failure about the world, or on_failure."""
    result = ctx.result
    view = outcome.view
    if view is not None and view.deployment is not None:
        result.set_current(view.deployment)
    if outcome.ok:
        result.end("complete", "complete", outcome.message)
        return
    if not reasons.against_template(outcome.reason):
        ctx.freeze(outcome.reason)
        result.end(reasons.REASONS[outcome.reason].verdicts[0], outcome.reason, outcome.message)
        return
    result.diagnostics = diagnostics(ctx, view.new_pods if view is not None else [], view=view)
    policy = ctx.settings.on_failure
    if policy == "pause":
        ctx.enter("pause")
        patch_deployment(ctx, ctx.name, {"spec": {"paused": True}})
        ctx.freeze("paused")
        result.end("paused", outcome.reason, "%s; Deployment paused for inspection (on_failure=pause)" % outcome.message)
        return
    if policy == "fail":
        result.end("failed", outcome.reason, outcome.message)
        return
    rollback(ctx, view.deployment if view is not None else read_deployment(ctx), outcome, previous)


def rollback(ctx, deployment, outcome, previous):
    result = ctx.result
    ctx.enter("rollback")
    replicasets = replicasets_of(ctx, deployment)
    target = record.resolve(previous or record.last_complete(deployment, replicasets, ctx.container), deployment,
                            replicasets, ctx.container)
    if target is None:
        what = ("ReplicaSet %s of revision %s no longer exists" % (previous.hash, previous.revision)
                if previous is not None else "no earlier revision recorded")
        result.end("failed", outcome.reason, "%s; nothing to roll back to (%s)" % (outcome.message, what))
        return
    ctx.progress("rolling back Deployment %s/%s to revision %s (%s)"
                 % (ctx.namespace, ctx.name, target.revision, target.image))
    written, replaced = write_rollback(ctx, deployment, target)
    if replaced is not None:
        # Another hand wrote its own template after the failure: it stands, no rollback over it.
        ctx.freeze("superseded")
        result.set_current(written)
        result.end("failed", "superseded", "%s. The rollout had failed first: %s" % (replaced.message, outcome.message))
        return
    back = wait_rollout(ctx, "rollback", written, capped=False)
    previous = target
    if back.view is not None and back.view.deployment is not None:
        result.set_current(back.view.deployment)
    if back.ok:
        now = back.view.deployment
        result.rolled_back_to = {"revision": spec.revision_of(now), "original_revision": previous.revision,
                                 "image": spec.image_of(now, ctx.container)}
        result.end("rolled_back", outcome.reason,
                   "%s; rolled back to the previous template (revision %s, image %s) and it is complete"
                   % (outcome.message, previous.revision, previous.image))
        return
    if not reasons.against_template(back.reason):
        # Paused, stalled, Lease lost during the rollback: say so, first.
        ctx.freeze(back.reason)
        result.end(reasons.REASONS[back.reason].verdicts[0], back.reason,
                   "%s. This happened during the rollback after: %s" % (back.message, outcome.message))
        return
    result.extra["rollback_failure"] = {"reason": back.reason, "message": back.message}
    result.end("failed", "rollback_failed",
               "ROLLBACK FAILED: %s. The rollout had failed first: %s" % (back.message, outcome.message))


def write_rollback(ctx, deployment, target):
    """The template and annotations of ``target`` back, as `kubectl rollout undo` puts them; conflicts read again.

    Returns (the Deployment as written, None), or (as read, the ``superseded`` Outcome) when another
    hand changed its template after this run's wait: then nothing is written over it.
    """
    failed_revision = spec.revision_of(deployment)
    for attempt in range(ROLLBACK_ATTEMPTS):
        replaced = superseded(deployment, ctx.template)
        if replaced is not None:
            return deployment, replaced
        try:
            return patch_deployment(ctx, ctx.name, record.rollback_patch(deployment, target, failed_revision),
                                    patch_type="json"), None
        except InputError:
            if attempt == ROLLBACK_ATTEMPTS - 1:
                raise
        # The controller's status writes move the resourceVersion too: read it again, put the same back.
        deployment = read_deployment(ctx)
    raise RolloutError("the rollback of Deployment %s/%s was not written" % (ctx.namespace, ctx.name))


# -- a rolling update: what every strategy ends with ---------------------------------------------
def roll(ctx, deployment, change):
    """Write ``change`` (when there is one) and wait for the rolling update and its gates.

    Returns (Outcome, previous): previous is the template to go back to, as recorded on the
    Deployment by the write (or by the earlier run this one resumes), or None.
    """
    previous = None
    if change.changes:
        ctx.enter("preflight")
        surge_room(ctx, deployment, change)
        ctx.enter("change")
        deployment, change, previous = write_change(ctx, deployment, change)
        if change.changes:
            ctx.progress("patched Deployment %s/%s: %s" % (ctx.namespace, ctx.name,
                                                           spec.describe_change(change.container_patch,
                                                                                change.spec_patch)))
    if not change.container_patch:
        # Nothing of the template written by this run: a rollout under way is resumed, or someone else's followed.
        previous = resumed_target(ctx, deployment, change)
    outcome = wait_rollout(ctx, "rollout", deployment)
    return run_gates(ctx, "rollout", outcome), previous


def resumed_target(ctx, deployment, change):
    """The rollback target of a rollout this run did not write; says whose rollout it waits for."""
    if record.serving(deployment):
        return rollback_target(ctx, deployment)
    if record.ours(deployment, change_digest(ctx, change)):
        ctx.result.resumed = True
        target = record.recorded(deployment)
        if target is not None:
            ctx.result.previous = target.summary()
        ctx.progress("resuming this module's unfinished rollout of Deployment %s/%s (revision %s)"
                     % (ctx.namespace, ctx.name, spec.revision_of(deployment)))
        return target
    target = record.last_complete(deployment, replicasets_of(ctx, deployment), ctx.container)
    if target is not None:
        ctx.result.previous = target.summary()
    back = ("revision %s (%s) as the template to go back to" % (target.revision, target.image) if target is not None
            else "no earlier template to go back to")
    ctx.progress("Deployment %s/%s is rolling to the requested template, written by another hand (revision %s); "
                 "waiting for it, with %s" % (ctx.namespace, ctx.name, spec.revision_of(deployment), back))
    return target
