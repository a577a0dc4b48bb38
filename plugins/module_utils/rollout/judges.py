# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The judges the wait loop takes: objects and the time in, ``None`` or an ``Outcome`` out. No I/O.

``RolloutJudge`` ends a rollout (or a rollback, a canary step, green coming up), in this order:

1. the cache has not caught up with our own write yet (an older generation): keep waiting;
2. another hand changed the pod template this wait is for: ``superseded`` (before any verdict on
   it: a `kubectl rollout undo` completes too, but it is not the rollout asked for);
3. a paused Deployment that is not complete: ``paused``, naming who paused it (managedFields);
4. kubectl's rollout-status rules (status.py): complete, or the controller's own
   ProgressDeadlineExceeded (unless it predates our write), with the new pods' likeliest cause.
   Complete waits while the pod watch still shows a new pod not Ready (for at most
   ``CONTROLLER_GRACE``): the Deployment and its pods come from two watches, and under load the
   pods' can lag. What follows a rollout (gates, a hold) then starts from pods as the controller
   saw them, not from a pod before the kubelet marked it Ready;
5. a generation the controller has not observed for ``CONTROLLER_GRACE``: ``controller_stalled``;
6. pods the API refuses to create (quota, LimitRange, webhooks, Pod Security): ``create_refused``
   (refusals.py);
7. the fail-fast causes on the new ReplicaSet's pods (diagnose.py).

``HoldJudge`` holds the new pods to how they were when the hold began (hold.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose, hold, refusals, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import CONTROLLER_GRACE, Outcome

# For naming a cause at the progress deadline: every finding counts, whatever the user's thresholds.
_ANY_FINDING = diagnose.Thresholds(crash_restarts=0, image_pull_failures=1, unschedulable_seconds=0,
                                   flap_transitions=None, not_ready_seconds=0)


def _meta(obj):
    return (obj or {}).get("metadata") or {}


def _name(deployment):
    meta = _meta(deployment)
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


def paused_by(deployment):
    """(manager, time) of the latest write that owns spec.paused, from managedFields; (None, None) if unknown."""
    best = (None, None)
    for entry in _meta(deployment).get("managedFields") or []:
        fields = ((entry.get("fieldsV1") or {}).get("f:spec") or {})
        if "f:paused" in fields and (best[1] is None or (entry.get("time") or "") > best[1]):
            best = (entry.get("manager"), entry.get("time"))
    return best


def paused_message(deployment):
    meta = _meta(deployment)
    st = deployment.get("status") or {}
    manager, when = paused_by(deployment)
    who = " by %s at %s" % (manager, when) if manager else ""
    return ("Deployment %s was paused%s and will not progress until it is resumed; nothing more was written "
            "(%d of %d replicas run the new template). Inspect it, then `kubectl rollout resume deployment/%s -n %s` "
            "to let it continue (or `kubectl rollout undo`), and run this task again"
            % (_name(deployment), who, st.get("updatedReplicas") or 0, (deployment.get("spec") or {}).get("replicas", 1),
               meta.get("name"), meta.get("namespace")))


def template_of(deployment):
    return ((deployment or {}).get("spec") or {}).get("template")


def superseded(deployment, template):
    """An Outcome when ``deployment`` no longer holds ``template`` (another hand wrote its own), else None."""
    if template is None or template_of(deployment) == template:
        return None
    meta = _meta(deployment)
    images = ", ".join(c.get("image") or "?" for c in (template_of(deployment) or {}).get("spec", {}).get("containers") or [])
    message = ("the pod template of Deployment %s was changed by another hand during this run (now generation %s, "
               "image %s); that template stands: nothing more was written and nothing was rolled back over it. "
               "Find who changed it (kubectl get deployment %s -n %s --show-managed-fields), then run this task "
               "again if the change is still wanted")
    return Outcome(False, "superseded", message % (_name(deployment), meta.get("generation"), images or "?",
                                                   meta.get("name"), meta.get("namespace")))


def replica_failure(deployment):
    """The message of a ReplicaFailure condition (quota, admission), or None."""
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return "%s: %s" % (cond.get("reason") or "ReplicaFailure", cond.get("message") or "")
    return None


def stall_cause(view):
    """The likeliest reason the new pods make no progress, for a message; '' when nothing is seen."""
    failure = replica_failure(view.deployment)
    if failure:
        return failure
    found = diagnose.decide_failure(view.new_pods, None, _ANY_FINDING, view.wall)
    if found:
        return found["message"]
    if not view.new_pods:
        return "no pod of the new template exists"
    return ""


class RolloutJudge:
    """Judges a Deployment rolling to its template; stateful only in what it has watched (flaps, stalls)."""

    def __init__(self, thresholds, min_generation=0, written_at=None, grace=CONTROLLER_GRACE, template=None):
        self.thresholds = thresholds
        self.template = template
        self.min_generation = min_generation or 0
        self.written_at = written_at
        self.grace = grace
        self.flaps = diagnose.FlapTracker(thresholds)
        self.refusals = refusals.RefusalTracker()
        self.unobserved_since = None
        self.behind_since = None
        # The last wall time this Deployment's own pods were seen terminating (they hold the room new pods wait for).
        self.terminating_seen = None

    def judge(self, view):
        deployment = view.deployment
        if (_meta(deployment).get("generation") or 0) < self.min_generation:
            return None
        replaced = superseded(deployment, self.template)
        if replaced is not None:
            return replaced
        verdict = status.rollout_status(deployment)
        if verdict.done:
            if self._pods_behind(view):
                return None
            return Outcome(True, "complete", verdict.message)
        self.behind_since = None
        if (deployment.get("spec") or {}).get("paused"):
            return Outcome(False, "paused", paused_message(deployment))
        if verdict.reason == "progress_deadline_exceeded" and not self._stale_deadline(deployment):
            cause = stall_cause(view)
            return Outcome(False, "progress_deadline_exceeded", "%s (%ss without progress)%s" % (
                verdict.message, (deployment.get("spec") or {}).get("progressDeadlineSeconds"),
                (": " + cause) if cause else ""))
        stalled = self._controller_stalled(view, verdict)
        if stalled is not None:
            return stalled
        mine = own_pods(view)
        refused = self.refusals.judge(view, mine)
        if refused:
            return Outcome(False, "create_refused", refused)
        if refusals.terminating(mine):
            self.terminating_seen = view.wall
        for pod in view.new_pods:
            self.flaps.observe(pod)
        failure = diagnose.decide_failure(view.new_pods, None, self.thresholds, view.wall,
                                          flapping=self.flaps.findings(), waited_until=self.terminating_seen)
        if failure:
            return Outcome(False, failure["reason"], failure["message"], failure.get("evidence"))
        return None

    def _pods_behind(self, view):
        """The Deployment is complete, but a new pod in the view is not Ready yet: the pod watch lags."""
        if all(hold.is_ready(p) for p in view.new_pods if diagnose.is_pod_active(p)):
            self.behind_since = None
            return False
        if self.behind_since is None:
            self.behind_since = view.mono
        return view.mono - self.behind_since < self.grace

    def _controller_stalled(self, view, verdict):
        if verdict.reason != "waiting_generation":
            self.unobserved_since = None
            return None
        if self.unobserved_since is None:
            self.unobserved_since = view.mono
        waited = view.mono - self.unobserved_since
        if waited < self.grace:
            return None
        deployment = view.deployment
        return Outcome(False, "controller_stalled", (
            "kube-controller-manager has not observed generation %s of Deployment %s for %.0fs (it has seen %s). "
            "That is no verdict on the new template: nothing more was written. Check kube-controller-manager; "
            "running the same task again resumes the wait"
            % (_meta(deployment).get("generation"), _name(deployment), waited,
               (deployment.get("status") or {}).get("observedGeneration"))))

    def _stale_deadline(self, deployment):
        """A ProgressDeadlineExceeded written before this run's write: about an earlier rollout.

        kubectl would report it (and fail a `rollout undo` of a timed-out Deployment at once); the
        controller replaces it as soon as the new template makes progress.
        """
        # Either time unknown (parse_time gives None for none): the condition is taken as this rollout's.
        then = diagnose.parse_time(status.deadline_exceeded_at(deployment))
        written = diagnose.parse_time(self.written_at)
        return then is not None and written is not None and then <= written

    def wake(self, view):
        """When a judgement may change with no event: an unschedulable or not-ready grace, a stall or lag grace."""
        wakes = []
        if self.unobserved_since is not None:
            wakes.append(self.unobserved_since + self.grace)
        if self.behind_since is not None:
            wakes.append(self.behind_since + self.grace)
        if self.refusals.wake() is not None:
            wakes.append(self.refusals.wake())
        for limit, since in _pending_graces(view.new_pods, self.thresholds, self.terminating_seen):
            wakes.append(view.mono + max(limit - (view.wall - since).total_seconds(), 0) + 0.05)
        return min(wakes) if wakes else None


def own_pods(view):
    """Pods of the ReplicaSets this Deployment controls (not a canary's or a green's that match its selector)."""
    owned = [rs for rs in view.replicasets if diagnose.controlled_by(rs, view.deployment)]
    return [p for p in view.pods if any(diagnose.controlled_by(p, rs) for rs in owned)]


def _pending_graces(pods, thresholds, terminating_seen=None):
    """(limit seconds, since datetime) for each pod condition that becomes a failure with time alone."""
    out = []
    for pod in pods:
        for cond in (pod.get("status") or {}).get("conditions") or []:
            since = diagnose.parse_time(cond.get("lastTransitionTime"))
            if since is None or cond.get("status") != "False":
                continue
            if cond.get("type") == "PodScheduled" and thresholds.unschedulable_seconds is not None:
                out.append((thresholds.unschedulable_seconds, max(since, terminating_seen or since)))
            elif cond.get("type") == "Ready" and thresholds.not_ready_seconds is not None:
                out.append((thresholds.not_ready_seconds, since))
    return out


class HoldJudge:
    """A hold breaks at the first restart, readiness loss, deletion or availability loss (hold.py)."""

    def __init__(self, phase, baseline, template=None):
        self.phase = phase
        self.baseline = baseline
        self.template = template

    def judge(self, view):
        replaced = superseded(view.deployment, self.template)
        if replaced is not None:
            return replaced
        problem = hold.verdict(self.baseline, view.deployment, view.new_pods)
        if problem is None:
            return None
        return Outcome(False, problem[0], "%s: %s" % (self.phase, problem[1]))

    def wake(self, view):
        return None
