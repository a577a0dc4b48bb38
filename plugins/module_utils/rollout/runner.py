# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive one Deployment's rollout to a verdict: change, wait, judge, roll back.

The path: read and validate (nothing is written if anything is wrong), take
the Lease, patch the Deployment (recording the template it replaces on the
Deployment itself), then wait on watches of the Deployment, its ReplicaSets
and its Pods. Every change re-judges with kubectl's rollout-status rules and
the fail-fast classifiers; the first clear evidence ends the wait. On failure,
``on_failure`` decides: put the recorded template back and wait for it
(rollback), pause the Deployment (pause), or just report (fail).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import time

from ansible_collections.modelops.serving.plugins.module_utils.rollout import capacity, diagnose, spec, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, label_selector
from ansible_collections.modelops.serving.plugins.module_utils.rollout.lock import LockHeld, RolloutLock
from ansible_collections.modelops.serving.plugins.module_utils.rollout.strategies import (
    STRATEGIES,
    StrategyError,
    apply_container as strategies_apply_container,
)
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import Change, WatchSet

VERDICTS = ("complete", "failed", "rolled_back", "unchanged", "pending")
# Wait this long past the Deployment's own progress deadline before giving up on the controller.
DEADLINE_MARGIN = 30


class InputError(Exception):
    """Bad input or an unusable cluster; raised before anything is written."""


def failure_result(params, rollout, reason, message):
    """The full result contract for a run that stopped before or outside its wait."""
    empty = {"revision": None, "image": None}
    result = {
        "changed": bool(rollout is not None and rollout.changed),
        "verdict": "failed",
        "reason": reason,
        "message": message,
        "namespace": params.get("namespace"),
        "name": params.get("name"),
        "container": getattr(rollout, "container", None) or params.get("container"),
        "previous": dict(empty),
        "current": dict(empty),
        "rolled_back_to": None,
        "diagnostics": [],
        "timeline": list(getattr(rollout, "timeline", [])),
        "durations": {"change": 0.0, "rollout": 0.0, "gate": 0.0, "rollback": 0.0, "total": 0.0},
        "resumed": False,
        "gates": list(getattr(rollout, "gate_report", [])),
        "api": {"requests": rollout.api.requests if rollout is not None else 0},
    }
    return result


class Outcome:
    def __init__(self, ok, reason, message, evidence=None):
        self.ok = ok
        self.reason = reason
        self.message = message
        self.evidence = evidence or []


def _write_time(obj, manager):
    """The server's time of ``manager``'s latest write, from managedFields."""
    times = [m.get("time") for m in (obj.get("metadata") or {}).get("managedFields") or []
             if m.get("manager") == manager and m.get("time")]
    return max(times) if times else None


def _hold_problem(deployment, pods, baseline):
    """(reason, message) when held pods restart, lose Ready, or the Deployment loses availability."""
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        restarts = sum(cs.get("restartCount") or 0 for cs in (pod.get("status") or {}).get("containerStatuses") or [])
        first = baseline.setdefault(meta.get("uid"), restarts)
        if restarts > first:
            return "bake_restart", "pod %s restarted (%d restarts, %d before)" % (meta.get("name"), restarts, first)
        ready = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        if ready and ready[0].get("status") != "True":
            return "bake_not_ready", "pod %s lost Ready (%s)" % (meta.get("name"), ready[0].get("reason") or "")
    want = (deployment.get("spec") or {}).get("replicas", 1)
    available = (deployment.get("status") or {}).get("availableReplicas", 0)
    if available < want and _observed(deployment):
        return "bake_unavailable", "only %d of %d replicas available" % (available, want)
    return None


def _observed(deployment):
    meta, st = deployment.get("metadata") or {}, deployment.get("status") or {}
    return st.get("observedGeneration", 0) >= meta.get("generation", 0)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Rollout:
    """One run of model_rollout. ``params`` are the module's parameters."""

    def __init__(self, api, params, check_mode=False, progress=None, clock=time.monotonic, gates=None):
        self.api = api
        self.p = params
        self.check_mode = check_mode
        self.progress = progress or (lambda line: None)
        self.clock = clock
        self.gates = gates
        # What the gates checked, with timings; the gate callable fills it (result key ``gates``).
        self.gate_report = []
        self.t0 = clock()
        self.durations = {"change": 0.0, "rollout": 0.0, "gate": 0.0, "rollback": 0.0, "total": 0.0}
        self.timeline = []
        self.lock = None
        self.container = None
        self.thresholds = diagnose.Thresholds(
            crash_restarts=params.get("crash_loop_restarts"),
            image_pull_failures=1 if params.get("fail_on_image_pull", True) else None,
            unschedulable_seconds=params.get("unschedulable_seconds"),
            flap_transitions=params.get("ready_flap_transitions"),
            not_ready_seconds=params.get("not_ready_seconds"),
        )
        self.watch_stats = {}
        self.disconnects = 0
        self.changed = False
        # Server time of this run's last write: older deadline verdicts are about an earlier rollout.
        self.written_at = None

    # -- reading and validating --------------------------------------------------------------
    @property
    def namespace(self):
        return self.p["namespace"]

    @property
    def name(self):
        return self.p["name"]

    def _dpath(self):
        return self.api.deployment_path(self.namespace, self.name)

    def read_deployment(self):
        try:
            return self.api.get(self._dpath())
        except KubeError as exc:
            if exc.not_found:
                raise InputError(self._not_found_message())
            raise

    def _not_found_message(self):
        try:
            self.api.get(self.api.path("v1", "namespaces", name=self.namespace))
        except KubeError as exc:
            if exc.not_found:
                return "namespace %r does not exist (looking for Deployment %r)" % (self.namespace, self.name)
            if exc.status == 403:
                # A namespaced Role cannot read Namespaces; say what is certain.
                return "Deployment %r not found in namespace %r (or the namespace does not exist)" % (
                    self.name, self.namespace)
        return "Deployment %r not found in namespace %r" % (self.name, self.namespace)

    def plan(self, deployment):
        """Validate the request against the live object; return (container_patch, spec_patch)."""
        image = self.p.get("image")
        if image is not None:
            spec.check_image(image)
        spec.check_env(self.p.get("env"))
        container = spec.pick_container(deployment, self.p.get("container"))
        self.container = container["name"]
        container_patch = spec.container_changes(container, image=image, env=self.p.get("env"),
                                                 args=self.p.get("args"))
        spec_patch = spec.strategy_changes(
            deployment,
            max_surge=spec.parse_int_or_percent(self.p.get("max_surge"), "max_surge"),
            max_unavailable=spec.parse_int_or_percent(self.p.get("max_unavailable"), "max_unavailable"),
            min_ready_seconds=self.p.get("min_ready_seconds"),
            progress_deadline_seconds=self.p.get("progress_deadline_seconds"),
        )
        spec.check_strategy(deployment, spec_patch)
        return container_patch, spec_patch

    # -- the run -----------------------------------------------------------------------------
    def run(self):
        deployment = self.read_deployment()
        try:
            container_patch, spec_patch = self.plan(deployment)
        except spec.SpecError as exc:
            raise InputError(str(exc))
        before = self._snapshot(deployment)
        result = self._result(before, before, changed=False, verdict="unchanged", reason="up_to_date",
                              message="Deployment %s/%s already runs the requested template"
                                      % (self.namespace, self.name))
        strategy = self._strategy()
        leftover = strategy is not None and strategy.leftover()
        if not container_patch and not spec_patch and not leftover:
            verdict = status.rollout_status(deployment)
            if verdict.done:
                return self._finish(result)
            result["resumed"] = True
        elif self.check_mode:
            return self._finish(self._preview(deployment, container_patch, spec_patch, before))
        if (deployment.get("spec") or {}).get("paused"):
            raise InputError("Deployment %s/%s is paused (an earlier failed rollout with on_failure=pause, or a "
                             "person, paused it): inspect it, then `kubectl rollout resume deployment/%s -n %s` "
                             "or roll back, and run again" % (self.namespace, self.name, self.name, self.namespace))
        if self.check_mode:
            result["message"] = "a rollout to this template is in progress; check mode does not wait for it"
            return self._finish(result)
        self.lock = RolloutLock(self.api, self.namespace, self.name, identity=self.p.get("lock_identity"),
                                ttl_seconds=self.p.get("lock_ttl_seconds") or 120)
        try:
            self.lock.acquire()
        except LockHeld as exc:
            raise InputError(str(exc))
        try:
            if strategy is None:
                return self._finish(self._drive(deployment, container_patch, spec_patch, before, result))
            try:
                return self._finish(strategy.drive(deployment, container_patch, spec_patch, before, result))
            except StrategyError as exc:
                raise InputError(str(exc))
        finally:
            try:
                self.lock.release()
            except KubeError:
                pass  # an expiring lease is harmless; never mask the verdict

    def _strategy(self):
        name = self.p.get("strategy") or "rolling"
        return None if name == "rolling" else STRATEGIES[name](self)

    def _write_change(self, deployment, container_patch, spec_patch):
        """Patch with the resourceVersion read as precondition; on a conflict, read and decide again."""
        for attempt in range(3):
            body = spec.build_patch(deployment, container_patch, spec_patch, self._change_cause())
            try:
                return self._raw_patch(body)
            except KubeError as exc:
                if not exc.conflict or attempt == 2:
                    raise
            # Status writes by the controller also move the resourceVersion: read, plan again.
            deployment = self.read_deployment()
            container_patch, spec_patch = self.plan(deployment)
            if not container_patch and not spec_patch:
                return deployment
        return deployment

    def _surge_room(self, deployment, container_patch, spec_patch):
        """A surge-only rollout (maxUnavailable 0) of GPU pods hangs without room for one surge pod."""
        merged = copy.deepcopy(deployment)
        merged.setdefault("spec", {}).update(dict((k, v) for k, v in spec_patch.items() if k != "strategy"))
        rolling = dict(((merged["spec"].get("strategy") or {}).get("rollingUpdate")) or {})
        rolling.update(((spec_patch.get("strategy") or {}).get("rollingUpdate")) or {})
        replicas = merged["spec"].get("replicas", 1)
        surge, unavailable = status.resolve_fenceposts(rolling.get("maxSurge", "25%"),
                                                       rolling.get("maxUnavailable", "25%"), replicas)
        if unavailable > 0 or surge == 0 or not replicas:
            return
        template = (merged["spec"].get("template") or {})
        if container_patch:
            template = strategies_apply_container(template, container_patch)
        try:
            capacity.check_gpu_room(self.api, template, 1, "the rollout (maxUnavailable 0: a surge pod must start "
                                    "before any old pod stops)", self.progress)
        except capacity.NoRoom as exc:
            raise InputError("%s. Set max_unavailable to 1 to replace GPU pods one at a time, or add GPU capacity"
                             % exc)

    def _drive(self, deployment, container_patch, spec_patch, before, result):
        previous = spec.recorded_previous(deployment) if result.get("resumed") else None
        if container_patch:
            self._surge_room(deployment, container_patch, spec_patch)
        if container_patch or spec_patch:
            t = self.clock()
            try:
                deployment = self._write_change(deployment, container_patch, spec_patch)
            except KubeError as exc:
                raise self._refusal(exc, "kept changing while this run tried to write") or exc
            self.changed = True
            self.durations["change"] = self.clock() - t
            result["changed"] = True
            previous = spec.recorded_previous(deployment) if container_patch else None
            self.progress("patched Deployment %s/%s: %s"
                          % (self.namespace, self.name, self._describe(container_patch, spec_patch)))
        t = self.clock()
        outcome, deployment, pods = self.wait("rollout", deployment)
        self.durations["rollout"] = self.clock() - t
        if outcome.ok and self.gates is not None:
            t = self.clock()
            outcome = self.gates(self, deployment, pods)
            self.durations["gate"] = self.clock() - t
        after = self._snapshot(deployment)
        result.update(current=after)
        if outcome.ok:
            result.update(verdict="complete", reason="complete", message=outcome.message)
            return result
        result.update(verdict="failed", reason=outcome.reason, message=outcome.message,
                      diagnostics=self.diagnostics(pods))
        return self._on_failure(result, deployment, outcome, previous)

    def _on_failure(self, result, deployment, outcome, previous):
        policy = self.p.get("on_failure", "rollback")
        if policy == "pause":
            self._patch({"spec": {"paused": True}})
            result["message"] += "; Deployment paused for inspection (on_failure=pause)"
            return result
        if policy == "fail":
            return result
        if previous is None:
            replicasets = self.api.get(self._rs_path(), {"labelSelector": self._selector(deployment)}).get("items", [])
            previous = spec.previous_from_replicasets(deployment, replicasets)
        if previous is None:
            result["message"] += "; nothing to roll back to (no earlier revision recorded)"
            return result
        self.progress("rolling back Deployment %s/%s to revision %s (%s)"
                      % (self.namespace, self.name, previous["revision"], previous["image"]))
        t = self.clock()
        failed_revision = spec.revision_of(deployment)
        deployment = self._patch(spec.rollback_patch(previous["template"], failed_revision), patch_type="json")
        back, deployment, _pods = self.wait("rollback", deployment)
        self.durations["rollback"] = self.clock() - t
        result["current"] = self._snapshot(deployment)
        if back.ok:
            result.update(
                verdict="rolled_back",
                rolled_back_to={
                    "revision": spec.revision_of(deployment),
                    "original_revision": previous["revision"],
                    "image": spec.image_of(deployment, self.container),
                },
                message="%s; rolled back to the previous template (revision %s, image %s) and it is complete"
                        % (outcome.message, previous["revision"], previous["image"]),
            )
        else:
            result.update(
                verdict="failed",
                reason="rollback_failed",
                message="ROLLBACK FAILED: %s. The rollout had failed first: %s" % (back.message, outcome.message),
                rollback_failure={"reason": back.reason, "message": back.message},
            )
        return result

    # -- waiting ---------------------------------------------------------------------------------
    def wait(self, phase, deployment):
        """Watch until kubectl's rules say done, the classifiers see failure, or time runs out."""
        ws = self._watches(deployment)
        name = (deployment.get("metadata") or {}).get("name") or self.name
        limit = self.p.get("timeout") or (
            ((deployment.get("spec") or {}).get("progressDeadlineSeconds") or 600) + DEADLINE_MARGIN)
        deadline = self.clock() + limit
        flaps = diagnose.FlapTracker(self.thresholds)
        renew_every = max((self.lock.ttl if self.lock else 120) / 3.0, 1.0)
        next_renew = self.clock() + renew_every
        last_progress = None
        pods = []
        ws.start()
        try:
            while True:
                now = self.clock()
                wake = min(deadline, next_renew, self._next_unschedulable_check(pods, now))
                change = ws.next_change(wake - now)
                ws.drain()
                if change is not None and change.what == Change.LOST:
                    self.disconnects += 1
                    self.progress("%s: lost the watch (%s); resuming" % (phase, change.error))
                now = self.clock()
                if now >= next_renew and self.lock:
                    self.lock.renew()
                    next_renew = now + renew_every
                if ws.all_synced:
                    current = ws.cache.one("deployment")
                    if current is None:
                        return Outcome(False, "deployment_deleted", "Deployment %s/%s was deleted during the %s"
                                       % (self.namespace, name, phase)), deployment, pods
                    deployment = current
                    point = status.progress(deployment)
                    # Until the controller has seen the new spec, status counts describe the old one.
                    if point != last_progress and _observed(deployment):
                        self._record(phase, point)
                        last_progress = point
                    new_rs = diagnose.find_new_replicaset(deployment, ws.cache.items("replicaset"))
                    pods = diagnose.pods_of_replicaset(new_rs, ws.cache.items("pod")) if new_rs else []
                    verdict = self._judge(deployment, pods, flaps)
                    if verdict is not None:
                        return verdict, deployment, pods
                if now >= deadline:
                    return Outcome(False, "timeout", "the %s did not finish within %ss (%s)" % (
                        phase, limit, status.rollout_status(deployment).message)), deployment, pods
        finally:
            ws.stop()
            self.watch_stats[phase] = ws.stats()

    def _watches(self, deployment):
        """Watches of one Deployment, its ReplicaSets and its Pods, sharing one queue."""
        ws = WatchSet(self.api)
        name = (deployment.get("metadata") or {}).get("name") or self.name
        selector = self._selector(deployment)
        ws.add("deployment", self.api.deployment_path(self.namespace), {"fieldSelector": "metadata.name=" + name})
        ws.add("replicaset", self._rs_path(), {"labelSelector": selector})
        ws.add("pod", self.api.path("v1", "pods", self.namespace), {"labelSelector": selector})
        return ws

    def hold(self, phase, deployment, seconds):
        """Watch the new pods for ``seconds``: a restart, a lost Ready or lost availability fails.

        Returns an Outcome; ok when the pods stayed as they were for the whole time.
        """
        ws = self._watches(deployment)
        self.progress("%s: holding %ss, watching the new pods" % (phase, seconds))
        end = self.clock() + seconds
        baseline = {}
        ws.start()
        try:
            while True:
                now = self.clock()
                if now >= end:
                    return Outcome(True, "held", "%s: pods stayed ready for %ss" % (phase, seconds))
                ws.next_change(end - now)
                ws.drain()
                if not ws.all_synced:
                    continue
                current = ws.cache.one("deployment") or deployment
                new_rs = diagnose.find_new_replicaset(current, ws.cache.items("replicaset"))
                pods = diagnose.pods_of_replicaset(new_rs, ws.cache.items("pod")) if new_rs else []
                problem = _hold_problem(current, pods, baseline)
                if problem:
                    return Outcome(False, problem[0], "%s: %s" % (phase, problem[1]))
        finally:
            ws.stop()

    def _judge(self, deployment, pods, flaps):
        verdict = status.rollout_status(deployment)
        if verdict.done:
            return Outcome(True, "complete", verdict.message)
        if verdict.failed and not self._stale_deadline(deployment):
            return Outcome(False, verdict.reason, verdict.message)
        if verdict.reason == "paused":
            return Outcome(False, "paused", verdict.message)
        for pod in pods:
            flaps.observe(pod)
        failure = diagnose.decide_failure(pods, None, self.thresholds, _utcnow(), flapping=flaps.findings())
        if failure:
            return Outcome(False, failure["reason"], failure["message"], failure.get("evidence"))
        return None

    def _stale_deadline(self, deployment):
        """A ProgressDeadlineExceeded left from before this run's write, not yet replaced by the controller.

        kubectl would report it (and fail a `rollout undo` of a timed-out Deployment at once); the
        controller replaces it as soon as the new template makes progress, so it is no verdict on it.
        """
        exceeded = status.deadline_exceeded_at(deployment)
        if not exceeded or not self.written_at:
            return False
        then, written = diagnose.parse_time(exceeded), diagnose.parse_time(self.written_at)
        return then is not None and written is not None and then <= written

    def _next_unschedulable_check(self, pods, now):
        """When an Unschedulable pod will have waited long enough to count as a failure."""
        grace = self.thresholds.unschedulable_seconds
        if grace is None:
            return float("inf")
        soonest = float("inf")
        wall = _utcnow()
        for pod in pods:
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                    since = diagnose.parse_time(cond.get("lastTransitionTime"))
                    if since is not None:
                        left = grace - (wall - since).total_seconds()
                        soonest = min(soonest, now + max(left, 0) + 0.05)
        return soonest

    # -- helpers ----------------------------------------------------------------------------------
    def _rs_path(self):
        return self.api.path("apps/v1", "replicasets", self.namespace)

    @staticmethod
    def _selector(deployment):
        sel = (deployment.get("spec") or {}).get("selector") or {}
        return label_selector(sel.get("matchLabels"), sel.get("matchExpressions"))

    def _raw_patch(self, body, patch_type="strategic"):
        """Patch the Deployment and note the server's time of this write."""
        patched = self.api.patch(self._dpath(), body, patch_type=patch_type)
        self.written_at = _write_time(patched, self.api.field_manager) or self.written_at
        return patched

    def _patch(self, body, patch_type="strategic"):
        try:
            return self._raw_patch(body, patch_type)
        except KubeError as exc:
            raise self._refusal(exc, "changed while this run was preparing its change") or exc

    def _refusal(self, exc, conflict):
        """The InputError a user should see for a refused write, or None for other API errors."""
        if exc.conflict:
            return InputError("Deployment %s/%s %s (%s); run again" % (self.namespace, self.name, conflict, exc))
        if exc.status in (400, 422):
            return InputError("the API server rejected the change to Deployment %s/%s: %s"
                              % (self.namespace, self.name, exc))
        return None

    def _preview(self, deployment, container_patch, spec_patch, before):
        body = spec.build_patch(deployment, container_patch, spec_patch, self._change_cause())
        try:
            would = self.api.patch(self._dpath(), body, dry_run=True)
        except KubeError as exc:
            if exc.status in (400, 422):
                raise InputError("the API server would reject the change to Deployment %s/%s: %s"
                                 % (self.namespace, self.name, exc))
            raise
        after = self._snapshot(would)
        result = self._result(before, after, changed=True, verdict="pending", reason="check_mode",
                              message="would roll Deployment %s/%s: %s" % (self.namespace, self.name,
                                                                           self._describe(container_patch, spec_patch)))
        result["diff"] = {"before": before, "after": after}
        return result

    def _snapshot(self, deployment):
        return {
            "revision": spec.revision_of(deployment),
            "image": spec.image_of(deployment, self.container) if self.container else None,
            "strategy": spec.strategy_summary(deployment),
            "generation": (deployment.get("metadata") or {}).get("generation"),
        }

    def _record(self, phase, point):
        entry = {"t": round(self.clock() - self.t0, 3), "phase": phase}
        entry.update(point)
        self.timeline.append(entry)
        self.progress("%s: %d/%d updated, %d ready, %d available, %d unavailable" % (
            phase, point["updated"], point["desired"], point["ready"], point["available"], point["unavailable"]))

    def _change_cause(self):
        parts = []
        if self.p.get("image"):
            parts.append("image=%s" % self.p["image"])
        for k in sorted(self.p.get("env") or {}):
            parts.append("%s=%s" % (k, self.p["env"][k]))
        return "modelops.serving.model_rollout " + " ".join(parts)

    @staticmethod
    def _describe(container_patch, spec_patch):
        bits = []
        if container_patch:
            for key in ("image", "env", "args"):
                if key in container_patch:
                    value = container_patch[key]
                    if key == "env":
                        value = ", ".join("%s=%s" % (e["name"], e.get("value")) for e in value)
                    bits.append("%s -> %s" % (key, value))
        for key, value in sorted(spec_patch.items()):
            bits.append("%s -> %s" % (key, value))
        return "; ".join(bits)

    def diagnostics(self, pods, limit=5):
        """Pods of the failed ReplicaSet with waiting reasons, restarts, events and a log tail."""
        chosen = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", ""))[:limit]
        if not chosen:
            return []
        names = set((p.get("metadata") or {}).get("name") for p in chosen)
        try:
            events = [e for e in self.api.get(self.api.path("v1", "events", self.namespace),
                                              {"fieldSelector": "involvedObject.kind=Pod"}).get("items", [])
                      if (e.get("involvedObject") or {}).get("name") in names]
        except KubeError:
            events = []
        tails = {}
        lines = self.p.get("log_lines", 20)
        if lines:
            for pod in chosen[:3]:
                pname = pod["metadata"]["name"]
                tails[(pname, self.container)] = self._log_tail(pname, lines)
        return diagnose.summarize_pods(chosen, events, tails)

    def _log_tail(self, pod, lines):
        path = self.api.path("v1", "pods", self.namespace, pod, "log")
        try:
            resp = self.api.call("GET", path, query={"container": self.container, "tailLines": str(lines)},
                                 stream=True, timeout=10)
            text = resp.data.decode("utf-8", "replace")
            resp.release_conn()
            return text.splitlines()[-lines:]
        except KubeError as exc:
            return ["(no log: %s)" % exc]

    def _result(self, before, after, changed, verdict, reason, message):
        return {
            "changed": changed,
            "verdict": verdict,
            "reason": reason,
            "message": message,
            "namespace": self.namespace,
            "name": self.name,
            "container": self.container,
            "previous": {"revision": before.get("revision"), "image": before.get("image")},
            "current": after,
            "rolled_back_to": None,
            "diagnostics": [],
            "timeline": self.timeline,
            "durations": self.durations,
            "resumed": False,
            "gates": self.gate_report,
        }

    def _finish(self, result):
        self.durations["total"] = self.clock() - self.t0
        result["durations"] = dict((k, round(v, 3)) for k, v in self.durations.items())
        result["timeline"] = self.timeline
        result["gates"] = self.gate_report
        cur = result.get("current") or {}
        result["current"] = {"revision": cur.get("revision"), "image": cur.get("image"),
                             "strategy": cur.get("strategy")}
        result["api"] = {"requests": self.api.requests, "watch_disconnects": self.disconnects,
                         "watches": self.watch_stats}
        if self.lock is not None:
            result["lock"] = {"lease": self.lock.name, "holder": self.lock.identity}
        return result
