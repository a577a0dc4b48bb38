# -*- coding: utf-8 -*-
# Copyright: (c) 2026, modelops.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout verdict for an apps/v1 Deployment, computed from the API object alone.

Everything here is pure: inputs are Deployment dicts exactly as the API
returns them in JSON (camelCase keys, zero values omitted), outputs are plain
values. No I/O and no kubernetes client, so the logic is unit-testable and
identical whichever transport fetched the object.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"

# What the API server fills in when a manifest leaves these out
# (k8s.io/kubernetes pkg/apis/apps/v1/defaults.go).
DEFAULT_REPLICAS = 1
DEFAULT_MAX_SURGE = "25%"
DEFAULT_MAX_UNAVAILABLE = "25%"

_PERCENT = re.compile(r"^([0-9]+)%$")

RolloutStatus = collections.namedtuple("RolloutStatus", ["done", "failed", "reason", "message"])
RolloutStatus.__doc__ = """Verdict of one look at a Deployment.

done: the rollout finished (kubectl would exit 0).
failed: the rollout cannot finish without intervention (kubectl would exit non-zero).
reason: a short machine word, see rollout_status().
message: human text; kubectl's wording wherever kubectl prints one.
"""


def _int_or_percent(value, field):
    """Split an IntOrString into (number, is_percent), rejecting what the API rejects."""
    if isinstance(value, bool):
        # bool is an int subclass; True must not silently mean 1.
        raise ValueError("%s must be an integer or a percentage like '25%%', got %r" % (field, value))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("%s must be greater than or equal to 0, got %d" % (field, value))
        return value, False
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            return int(match.group(1)), True
    raise ValueError("%s must be an integer or a percentage like '25%%', got %r" % (field, value))


def _scaled(value, total, round_up, field):
    """intstr.GetScaledValueFromIntOrPercent, in integer arithmetic."""
    number, is_percent = _int_or_percent(value, field)
    if not is_percent:
        return number
    if round_up:
        return -(-number * total // 100)
    return number * total // 100


def resolve_fenceposts(max_surge, max_unavailable, desired):
    """Resolve maxSurge/maxUnavailable against the desired replica count.

    Mirrors ResolveFenceposts in k8s.io/kubernetes
    pkg/controller/deployment/util/deployment_util.go: None counts as 0,
    a surge percentage rounds up, an unavailable percentage rounds down, and
    when both resolve to 0 unavailable becomes 1 so the rollout can still move
    when quota forbids surging.

    Returns (surge, unavailable) as ints. Raises ValueError for values the API
    server's validation would refuse: negative ints, strings that are not
    "<digits>%", and a maxUnavailable percentage above 100%.
    """
    if desired is None:
        desired = 0
    if isinstance(desired, bool) or not isinstance(desired, int) or desired < 0:
        raise ValueError("desired replicas must be a non-negative integer, got %r" % (desired,))
    if max_unavailable is not None:
        number, is_percent = _int_or_percent(max_unavailable, "maxUnavailable")
        if is_percent and number > 100:
            raise ValueError("maxUnavailable must not be greater than 100%%, got %r" % (max_unavailable,))
    surge = _scaled(0 if max_surge is None else max_surge, desired, True, "maxSurge")
    unavailable = _scaled(0 if max_unavailable is None else max_unavailable, desired, False, "maxUnavailable")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _spec(deployment):
    return deployment.get("spec") or {}


def _status(deployment):
    return deployment.get("status") or {}


def _name(deployment):
    return (deployment.get("metadata") or {}).get("name", "")


def _count(mapping, key):
    # The API omits int fields whose value is 0.
    return mapping.get(key) or 0


def capacity_floor(deployment):
    """Fewest available pods the controller allows while rolling: replicas - maxUnavailable.

    Recreate deletes every old pod before creating new ones, so its floor is 0.
    Fields a not-yet-defaulted manifest omits take the API server's defaults
    (RollingUpdate, 1 replica, 25%/25%) because that is what the controller
    will act on.
    """
    spec = _spec(deployment)
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    replicas = spec.get("replicas")
    if replicas is None:
        replicas = DEFAULT_REPLICAS
    rolling = strategy.get("rollingUpdate") or {}
    _surge, unavailable = resolve_fenceposts(
        rolling.get("maxSurge", DEFAULT_MAX_SURGE),
        rolling.get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE),
        replicas,
    )
    return max(replicas - unavailable, 0)


def _progressing_condition(status):
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing":
            return condition
    return None


def deadline_exceeded_at(deployment):
    """When the controller last wrote ProgressDeadlineExceeded (RFC3339), or None."""
    condition = _progressing_condition(_status(deployment))
    if condition and condition.get("reason") == TIMED_OUT_REASON:
        return condition.get("lastUpdateTime") or condition.get("lastTransitionTime")
    return None


def _revision_check(deployment, revision):
    """kubectl's --revision guard: None when it passes, else a failed RolloutStatus."""
    name = _name(deployment)
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(REVISION_ANNOTATION)
    if raw is None:
        running = 0
    else:
        try:
            running = int(raw)
        except (TypeError, ValueError):
            return RolloutStatus(
                False, True, "revision_invalid",
                'cannot get the revision of deployment "%s": strconv.ParseInt: parsing "%s": invalid syntax' % (name, raw),
            )
    if running != int(revision):
        return RolloutStatus(
            False, True, "revision_mismatch",
            "desired revision (%d) is different from the running revision (%d)" % (int(revision), running),
        )
    return None


def _kubectl_verdict(deployment):
    """DeploymentStatusViewer.Status (k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go)."""
    name = _name(deployment)
    spec = _spec(deployment)
    status = _status(deployment)
    generation = _count(deployment.get("metadata") or {}, "generation")
    if generation > _count(status, "observedGeneration"):
        return RolloutStatus(False, False, "waiting_generation", "Waiting for deployment spec update to be observed...")
    condition = _progressing_condition(status)
    if condition is not None and condition.get("reason") == TIMED_OUT_REASON:
        return RolloutStatus(False, True, "progress_deadline_exceeded", 'deployment "%s" exceeded its progress deadline' % name)
    replicas = spec.get("replicas")
    updated = _count(status, "updatedReplicas")
    if replicas is not None and updated < replicas:
        return RolloutStatus(
            False, False, "updating",
            'Waiting for deployment "%s" rollout to finish: %d out of %d new replicas have been updated...' % (name, updated, replicas),
        )
    total = _count(status, "replicas")
    if total > updated:
        return RolloutStatus(
            False, False, "old_replicas_terminating",
            'Waiting for deployment "%s" rollout to finish: %d old replicas are pending termination...' % (name, total - updated),
        )
    available = _count(status, "availableReplicas")
    if available < updated:
        return RolloutStatus(
            False, False, "waiting_available",
            'Waiting for deployment "%s" rollout to finish: %d of %d updated replicas are available...' % (name, available, updated),
        )
    return RolloutStatus(True, False, "complete", 'deployment "%s" successfully rolled out' % name)


def rollout_status(deployment, revision=None):
    """Judge a Deployment the way `kubectl rollout status` does, plus a paused verdict.

    Order of checks is kubectl's: the --revision guard (only when revision is
    a positive int; a mismatch is a failure, as kubectl exits with an error,
    even when the controller has merely not yet stamped the new revision),
    then nothing is trusted until metadata.generation <= status.observedGeneration
    ("waiting_generation"); a Progressing condition with reason
    ProgressDeadlineExceeded is a failure ("progress_deadline_exceeded");
    fewer updated replicas than spec.replicas ("updating"); more total than
    updated replicas ("old_replicas_terminating"); fewer available than updated
    ("waiting_available"); otherwise "complete". spec.replicas 0 with the
    generation observed is therefore complete.

    kubectl ignores spec.paused: on a paused Deployment whose template changed
    it prints "0 out of N new replicas have been updated" and waits until its
    own timeout, because the controller neither rolls a paused Deployment nor
    times out its progress deadline. Here such a not-complete, not-failed
    verdict becomes reason "paused" (done False, failed False) so a caller can
    stop waiting. A generation not yet observed stays "waiting_generation": the
    status it would be judged on is stale. A paused Deployment that kubectl
    calls complete stays complete.

    Returns RolloutStatus(done, failed, reason, message); messages are
    kubectl's without the trailing newline.
    """
    if revision is not None and int(revision) > 0:
        mismatch = _revision_check(deployment, revision)
        if mismatch is not None:
            return mismatch
    verdict = _kubectl_verdict(deployment)
    if _spec(deployment).get("paused") and _is_stalled_by_pause(verdict):
        return RolloutStatus(
            False, False, "paused",
            'deployment "%s" is paused and will not progress until resumed (%s)' % (_name(deployment), verdict.message),
        )
    return verdict


def _is_stalled_by_pause(verdict):
    return not verdict.done and not verdict.failed and verdict.reason != "waiting_generation"


def progress(deployment):
    """Replica counts for a timeline entry; fields the API omitted are 0."""
    spec = _spec(deployment)
    status = _status(deployment)
    return {
        "desired": _count(spec, "replicas"),
        "updated": _count(status, "updatedReplicas"),
        "ready": _count(status, "readyReplicas"),
        "available": _count(status, "availableReplicas"),
        "unavailable": _count(status, "unavailableReplicas"),
        "total": _count(status, "replicas"),
    }
