# -*- coding: utf-8 -*-
# Copyright: (c) 2026, modelops.serving contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fail-fast diagnosis of a Deployment rollout from its new pods and their events.

The progress deadline (default 600s) is the only failure Kubernetes itself
reports, and it is slow. The pods of the new ReplicaSet usually say much
earlier that the rollout cannot succeed: an image that cannot be pulled, a
container that keeps crashing, a missing Secret, no node with room. This
module turns pod and event dicts (JSON shapes of v1 Pod and v1 Event, camelCase,
zero values omitted) into findings and one verdict. Pure: no I/O, no clock
except as a default for ``now``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import datetime
import re

KIND_IMAGE_PULL = "image_pull"
KIND_CRASH_LOOP = "crash_loop"
KIND_CONFIG = "config"
KIND_UNSCHEDULABLE = "unschedulable"
KIND_NOT_READY = "not_ready"
KIND_READY_FLAPPING = "ready_flapping"

# Retried by the kubelet with back-off; a registry hiccup can clear them.
IMAGE_PULL_RETRYING = ("ErrImagePull", "ImagePullBackOff", "RegistryUnavailable")
# No retry can fix these: the spec or the node's policy must change.
IMAGE_PULL_PERMANENT = ("InvalidImageName", "ErrImageNeverPull", "SignatureValidationFailed")
CONFIG_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
CRASH_LOOP_REASON = "CrashLoopBackOff"
READY_FLAPPING_REASON = "ReadyFlapping"

# When pods disagree, the earlier kind is the likelier root cause: a pod
# that cannot pull or configure its container never gets far enough to
# crash, and an unschedulable surge pod says nothing about the template
# if its scheduled siblings already crash.
KIND_PRECEDENCE = (KIND_IMAGE_PULL, KIND_CONFIG, KIND_CRASH_LOOP, KIND_UNSCHEDULABLE, KIND_READY_FLAPPING,
                   KIND_NOT_READY)

MAX_EVENTS = 5
MAX_MESSAGE = 1024
_ELISION = " ... "

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class Thresholds(collections.namedtuple(
        "Thresholds", ["crash_restarts", "image_pull_failures", "unschedulable_seconds", "flap_transitions",
                       "not_ready_seconds"])):
    """When a finding becomes a rollout failure. None disables that check.

    crash_restarts: a crash-looping container fails the rollout once its
        restartCount reaches this.
    image_pull_failures: ErrImagePull/ImagePullBackOff/RegistryUnavailable on
        this many new pods fails the rollout; InvalidImageName,
        ErrImageNeverPull and SignatureValidationFailed fail it at once.
    unschedulable_seconds: a pod Unschedulable for this long (from the
        PodScheduled condition's lastTransitionTime) fails the rollout; 0 is
        immediate. The grace covers surge pods waiting for old pods to go.
    flap_transitions: a pod whose Ready went True->False this many times
        while watched fails the rollout.
    not_ready_seconds: a Running pod not Ready for this long fails the
        rollout. Off (None) by default: model loads vary so much that only
        the user can size it; the progress deadline is the safety net.
    """

    __slots__ = ()

    def __new__(cls, crash_restarts=2, image_pull_failures=1, unschedulable_seconds=30, flap_transitions=3,
                not_ready_seconds=None):
        self = super(Thresholds, cls).__new__(
            cls, crash_restarts, image_pull_failures, unschedulable_seconds, flap_transitions, not_ready_seconds)
        for field, minimum in (("crash_restarts", 0), ("image_pull_failures", 1),
                               ("unschedulable_seconds", 0), ("flap_transitions", 1), ("not_ready_seconds", 0)):
            _check_threshold(field, getattr(self, field), minimum)
        return self


def _check_threshold(field, value, minimum):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValueError("%s must be a number >= %s or None, got %r" % (field, minimum, value))


def parse_time(value):
    """RFC3339 string (as the API writes timestamps) to an aware UTC datetime; None if absent or unparsable."""
    if not value:
        return None
    match = _RFC3339.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if zone in ("Z", "z"):
        offset = datetime.timedelta(0)
    else:
        sign = -1 if zone[0] == "-" else 1
        offset = sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        parsed = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                                   tzinfo=datetime.timezone(offset))
    except ValueError:
        return None
    return parsed.astimezone(datetime.timezone.utc)


def _as_utc(now):
    """``now`` as an aware UTC datetime; the clock only when the caller gave none."""
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if now.tzinfo is None:
        # A naive value can only sensibly be UTC: API timestamps all are.
        return now.replace(tzinfo=datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc)


def _one_line(text, limit=MAX_MESSAGE):
    """Collapse whitespace so a kubelet or termination message cannot break a log line.

    Over the limit the middle goes: error chains put the operation first and
    the root cause ("not found", "unauthorized") last.
    """
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    keep = limit - len(_ELISION)
    return flat[:keep - keep // 2] + _ELISION + flat[len(flat) - keep // 2:]


def _meta(obj):
    return obj.get("metadata") or {}


def _name(obj):
    return _meta(obj).get("name", "")


def _condition(pod, kind):
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _seconds_since(timestamp, now):
    since = parse_time(timestamp)
    if since is None:
        return None
    return max((now - since).total_seconds(), 0.0)


def _finding(pod, container, kind, reason, message, restarts=0, seconds=None, init=False):
    return {
        "pod": _name(pod),
        "container": container,
        "init": init,
        "kind": kind,
        "reason": reason,
        "message": _one_line(message),
        "restarts": restarts,
        "seconds": seconds,
    }


def _termination_text(terminated):
    """Why the container last stopped, e.g. "OOMKilled (exit code 137)"."""
    text = "%s (exit code %d)" % (terminated.get("reason") or "Terminated", terminated.get("exitCode") or 0)
    if terminated.get("message"):
        text += ": " + terminated["message"]
    return text


def _waiting_problem(pod, status, init):
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    restarts = status.get("restartCount") or 0
    name = status.get("name")
    if reason in IMAGE_PULL_RETRYING or reason in IMAGE_PULL_PERMANENT:
        return _finding(pod, name, KIND_IMAGE_PULL, reason, waiting.get("message"), restarts, init=init)
    if reason in CONFIG_REASONS:
        return _finding(pod, name, KIND_CONFIG, reason, waiting.get("message"), restarts, init=init)
    if reason == CRASH_LOOP_REASON:
        last = (status.get("lastState") or {}).get("terminated")
        message = "last terminated: " + _termination_text(last) if last else waiting.get("message")
        return _finding(pod, name, KIND_CRASH_LOOP, reason, message, restarts, init=init)
    return None


def _terminated_problem(pod, status, init):
    """A container that stopped and should not have.

    Regular containers of a Deployment run under restartPolicy Always, so any
    termination is a crash in progress; an init container is only in trouble
    when it exited non-zero.
    """
    state = status.get("state") or {}
    restarts = status.get("restartCount") or 0
    name = status.get("name")
    terminated = state.get("terminated")
    if terminated is not None:
        if init and not terminated.get("exitCode"):
            return None
        return _finding(pod, name, KIND_CRASH_LOOP, terminated.get("reason") or "Terminated",
                        "terminated: " + _termination_text(terminated), restarts, init=init)
    last = (status.get("lastState") or {}).get("terminated")
    if last is not None and restarts > 0 and not status.get("ready"):
        # Restarted and not (yet) ready again: the last exit is the evidence.
        return _finding(pod, name, KIND_CRASH_LOOP, last.get("reason") or "Terminated",
                        "last terminated: " + _termination_text(last), restarts, init=init)
    return None


def _container_problem(pod, status, init):
    return _waiting_problem(pod, status, init) or _terminated_problem(pod, status, init)


def _unschedulable_problem(pod, now, waited_until=None):
    condition = _condition(pod, "PodScheduled")
    if not condition or condition.get("status") != "False" or condition.get("reason") != "Unschedulable":
        return None
    seconds = _seconds_since(condition.get("lastTransitionTime"), now)
    if seconds is None:
        seconds = _seconds_since(_meta(pod).get("creationTimestamp"), now) or 0.0
    if waited_until is not None:
        # Time spent while pods of the same Deployment were terminating is waiting for their room, not failure.
        seconds = min(seconds, max((now - waited_until).total_seconds(), 0.0))
    return _finding(pod, None, KIND_UNSCHEDULABLE, "Unschedulable", condition.get("message"), 0, seconds)


def _not_ready_problems(pod, statuses, explained, now):
    """Running but not Ready; never a failure alone, the progress deadline owns that case."""
    status = pod.get("status") or {}
    ready = _condition(pod, "Ready")
    if status.get("phase") != "Running" or not ready or ready.get("status") == "True":
        return []
    reason = ready.get("reason") or "NotReady"
    seconds = _seconds_since(ready.get("lastTransitionTime"), now)
    findings = [
        _finding(pod, cs.get("name"), KIND_NOT_READY, reason, ready.get("message"), cs.get("restartCount") or 0, seconds)
        for cs in statuses
        if "running" in (cs.get("state") or {}) and not cs.get("ready") and cs.get("name") not in explained
    ]
    if not findings and not explained:
        # Every container is ready yet the pod is not: a readiness gate holds it.
        findings.append(_finding(pod, None, KIND_NOT_READY, reason, ready.get("message"), 0, seconds))
    return findings


def pod_problems(pod, now=None, waited_until=None):
    """Everything wrong with one pod snapshot, as findings.

    A finding is {pod, container, init, kind, reason, message, restarts,
    seconds}: kind is image_pull, crash_loop, config, unschedulable or
    not_ready; reason is the Kubernetes reason (waiting reason, termination
    reason, or condition reason); container is None for pod-level findings;
    seconds is how long an unschedulable/not_ready condition has held
    relative to ``now`` (None for container findings). Order: unschedulable,
    init containers, regular containers (each in status order), not_ready.
    """
    now = _as_utc(now)
    status = pod.get("status") or {}
    findings = []
    unschedulable = _unschedulable_problem(pod, now, waited_until)
    if unschedulable:
        findings.append(unschedulable)
    for cs in status.get("initContainerStatuses") or []:
        problem = _container_problem(pod, cs, True)
        if problem:
            findings.append(problem)
    statuses = status.get("containerStatuses") or []
    explained = set()
    for cs in statuses:
        problem = _container_problem(pod, cs, False)
        if problem:
            findings.append(problem)
            explained.add(cs.get("name"))
    findings.extend(_not_ready_problems(pod, statuses, explained, now))
    return findings


def is_pod_active(pod):
    """controller.IsPodActive: the ReplicaSet still counts this pod."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not _meta(pod).get("deletionTimestamp")


class FlapTracker:
    """Counts Ready True->False transitions per pod across snapshots from a watch.

    Comparing only the Ready status of consecutive snapshots would miss a
    drop and recovery that happened between two of them, so the condition's
    lastTransitionTime is compared too: it moves on every status change.
    Each observation adds the fewest drops consistent with what changed.
    """

    def __init__(self, thresholds=None):
        self._threshold = (thresholds or Thresholds()).flap_transitions
        self._last = {}
        self._drops = {}
        self._pods = {}

    @staticmethod
    def _key(pod):
        meta = _meta(pod)
        return meta.get("uid") or (meta.get("namespace"), meta.get("name"))

    @staticmethod
    def _ready_state(pod):
        """(True/False, lastTransitionTime), or (None, None) before the kubelet reports Ready at all."""
        condition = _condition(pod, "Ready")
        if not condition:
            return None, None
        # Unknown (node lost) counts as not ready, as Service endpoints treat it.
        return condition.get("status") == "True", condition.get("lastTransitionTime")

    def observe(self, pod):
        """Record a snapshot; return this pod's ready_flapping findings (empty below threshold)."""
        key = self._key(pod)
        current = self._ready_state(pod)
        previous = self._last.get(key)
        if previous is not None:
            self._drops[key] = self._drops.get(key, 0) + self._implied_drops(previous, current)
        self._last[key] = current
        self._pods[key] = pod
        return self._findings_for(key)

    @staticmethod
    def _implied_drops(previous, current):
        was_ready, was_changed_at = previous
        is_ready, changed_at = current
        if was_ready is None or is_ready is None:
            return 0
        if was_ready and not is_ready:
            return 1
        if was_ready == is_ready and None not in (changed_at, was_changed_at) and changed_at != was_changed_at:
            # Same status, new transition time: it flipped and flipped back,
            # which (starting from True or ending at False) includes one drop.
            return 1
        return 0

    def drops(self, pod):
        """Ready True->False transitions seen so far for this pod."""
        return self._drops.get(self._key(pod), 0)

    def _findings_for(self, key):
        count = self._drops.get(key, 0)
        if self._threshold is None or count < self._threshold:
            return []
        pod = self._pods[key]
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        unready = [cs for cs in statuses if not cs.get("ready")]
        culprit = unready[0] if unready else {}
        return [_finding(
            pod, culprit.get("name"), KIND_READY_FLAPPING, READY_FLAPPING_REASON,
            "Ready went from True to False %d times" % count, culprit.get("restartCount") or 0,
        )]

    def findings(self):
        """ready_flapping findings for every pod at or over the threshold, by pod name."""
        result = []
        for key in self._pods:
            result.extend(self._findings_for(key))
        return sorted(result, key=_finding_order)


def _reason_rank(finding):
    # Among image pull failures the permanent ones name the defect exactly.
    return 0 if finding["reason"] in IMAGE_PULL_PERMANENT else 1


def _finding_order(finding):
    return (_reason_rank(finding), finding["pod"], not finding.get("init"), finding["container"] or "")


def _crash_is_failure(finding, thresholds):
    return thresholds.crash_restarts is not None and finding["restarts"] >= thresholds.crash_restarts


def _unschedulable_is_failure(finding, thresholds):
    limit = thresholds.unschedulable_seconds
    return limit is not None and (finding["seconds"] or 0) >= limit


def _image_pull_failures(findings, thresholds):
    pulls = [f for f in findings if f["kind"] == KIND_IMAGE_PULL]
    permanent = [f for f in pulls if f["reason"] in IMAGE_PULL_PERMANENT]
    if permanent:
        return permanent
    limit = thresholds.image_pull_failures
    if limit is not None and len(set(f["pod"] for f in pulls)) >= limit:
        return pulls
    return []


def _failures_of_kind(kind, findings, thresholds):
    """The findings of one kind that, under the thresholds, fail the rollout."""
    if kind == KIND_IMAGE_PULL:
        return _image_pull_failures(findings, thresholds)
    of_kind = [f for f in findings if f["kind"] == kind]
    if kind == KIND_CRASH_LOOP:
        return [f for f in of_kind if _crash_is_failure(f, thresholds)]
    if kind == KIND_UNSCHEDULABLE:
        return [f for f in of_kind if _unschedulable_is_failure(f, thresholds)]
    if kind == KIND_NOT_READY:
        limit = thresholds.not_ready_seconds
        return [f for f in of_kind if limit is not None and (f["seconds"] or 0) >= limit]
    # config errors need no grace; ready_flapping findings arrive already over threshold.
    return of_kind


def _events_for(pod, events):
    meta = _meta(pod)
    matched = []
    for event in events or []:
        involved = event.get("involvedObject") or {}
        if involved.get("kind", "Pod") != "Pod" or involved.get("name") != meta.get("name"):
            continue
        if involved.get("uid") and meta.get("uid") and involved["uid"] != meta["uid"]:
            # A same-named pod from before a delete/recreate.
            continue
        matched.append(event)
    return sorted(matched, key=_event_order)


def _event_time(event):
    series = event.get("series") or {}
    for value in (event.get("lastTimestamp"), series.get("lastObservedTime"), event.get("eventTime"),
                  event.get("firstTimestamp"), _meta(event).get("creationTimestamp")):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return _EPOCH


def _event_order(event):
    return (_event_time(event), _name(event))


_PULL_FAILED = re.compile(r'^Failed to pull image "[^"]*": (.*)$', re.S)


def _pull_error_detail(finding, pod, events):
    """The registry's own words from the kubelet's latest "Failed to pull image" event, if not already shown."""
    for event in reversed(_events_for(pod, events)):
        match = _PULL_FAILED.match(event.get("message") or "")
        if event.get("reason") == "Failed" and match and _concerns_container(event, finding["container"], finding["init"]):
            detail = _one_line(match.group(1))
            if detail and detail not in finding["message"]:
                return "; last pull error: " + detail
            return ""
    return ""


def _verdict_message(finding, affected, total, extra):
    where = "pod %s" % finding["pod"]
    if finding["container"]:
        where += " %s %s" % ("init container" if finding.get("init") else "container", finding["container"])
    detail = " (%s)" % finding["message"] if finding["message"] else ""
    qualifier = ""
    if finding["kind"] == KIND_CRASH_LOOP:
        qualifier = " after %d restarts" % finding["restarts"]
    elif finding["kind"] in (KIND_UNSCHEDULABLE, KIND_NOT_READY):
        qualifier = " for %ds" % int(finding["seconds"] or 0)
    return "%s: %s%s%s on %d of %d new pods%s" % (
        where, finding["reason"], detail, qualifier, affected, total, extra)


def decide_failure(pods, events=None, thresholds=None, now=None, flapping=None, waited_until=None):
    """Whether the new pods already prove the rollout will fail.

    pods: the pods of the new ReplicaSet; terminal and deleting pods are
    ignored as the ReplicaSet ignores them. events: v1 Events, used to add
    the registry's error to an image pull verdict. flapping: findings from
    FlapTracker.findings(), since flapping is only visible across snapshots.
    waited_until: the last (wall) time pods of the same Deployment were seen terminating; an
    unschedulable pod's time counts only from then (they hold the room it waits for).

    Returns None, or {reason, message, evidence}: reason is the finding kind
    (image_pull, config, crash_loop, unschedulable, ready_flapping) chosen by
    KIND_PRECEDENCE; message is one line naming a representative pod,
    container and Kubernetes reason and how many new pods show that kind;
    evidence is every finding of that kind, in deterministic order.
    """
    thresholds = thresholds or Thresholds()
    now = _as_utc(now)
    active = sorted((p for p in pods or [] if is_pod_active(p)), key=_name)
    findings = [f for pod in active for f in pod_problems(pod, now, waited_until)]
    findings.extend(flapping or [])
    for kind in KIND_PRECEDENCE:
        failing = _failures_of_kind(kind, findings, thresholds)
        if failing:
            return _verdict(kind, failing, findings, active, events)
    return None


def _verdict(kind, failing, findings, active, events):
    representative = sorted(failing, key=_finding_order)[0]
    evidence = sorted((f for f in findings if f["kind"] == kind), key=_finding_order)
    affected = len(set(f["pod"] for f in evidence))
    extra = ""
    if kind == KIND_IMAGE_PULL:
        pod = next(p for p in active if _name(p) == representative["pod"])
        extra = _pull_error_detail(representative, pod, events)
    return {
        "reason": kind,
        "message": _verdict_message(representative, affected, max(len(active), affected), extra),
        "evidence": evidence,
    }


def format_event(event):
    count = event.get("count") or (event.get("series") or {}).get("count") or 1
    text = "%s %s: %s" % (event.get("type") or "Normal", event.get("reason") or "", _one_line(event.get("message")))
    if count > 1:
        text += " (x%d)" % count
    return text


def _concerns_container(event, container, init):
    field_path = (event.get("involvedObject") or {}).get("fieldPath")
    if not field_path:
        return True
    return field_path == "spec.%s{%s}" % ("initContainers" if init else "containers", container)


def _log_tail(log_tails, pod_name, container):
    tail = (log_tails or {}).get((pod_name, container))
    if tail is None:
        return []
    if isinstance(tail, str):
        return tail.splitlines()
    return list(tail)


def _containers_to_report(pod):
    """(name, status, init) for init containers that have not succeeded, then every regular container."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    init_statuses = dict((cs.get("name"), cs) for cs in status.get("initContainerStatuses") or [])
    statuses = dict((cs.get("name"), cs) for cs in status.get("containerStatuses") or [])
    rows = []
    for container in spec.get("initContainers") or []:
        cs = init_statuses.get(container.get("name"), {})
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated is not None and not terminated.get("exitCode"):
            continue
        rows.append((container.get("name"), cs, True))
    # Without a spec (a trimmed object) the statuses still name the containers.
    names = [c.get("name") for c in spec.get("containers") or []] or list(statuses)
    for name in names:
        rows.append((name, statuses.get(name, {}), False))
    return rows


def summarize_pods(pods, events=None, log_tails=None):
    """Per-container diagnostics of the new pods for the module result.

    Each entry: {pod, container, phase, ready, waiting_reason, waiting_message,
    last_terminated, restarts, last_events, log_tail}. last_events are the
    pod's events that concern the pod as a whole or this container, formatted
    "Type Reason: message (xN)", at most 5, newest last. log_tails maps
    (pod name, container name) to a list of lines or one string. A pod not
    yet scheduled has no container status; its PodScheduled reason and
    message stand in for the waiting ones.
    """
    rows = []
    for pod in sorted(pods or [], key=_name):
        pod_events = _events_for(pod, events)
        scheduled = _condition(pod, "PodScheduled") or {}
        for name, cs, init in _containers_to_report(pod):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            last = (cs.get("lastState") or {}).get("terminated")
            waiting_reason, waiting_message = waiting.get("reason"), waiting.get("message")
            if not cs and scheduled.get("status") == "False":
                waiting_reason, waiting_message = scheduled.get("reason"), scheduled.get("message")
            concerning = [e for e in pod_events if _concerns_container(e, name, init)]
            rows.append({
                "pod": _name(pod),
                "container": name,
                "phase": (pod.get("status") or {}).get("phase"),
                "ready": bool(cs.get("ready")),
                "waiting_reason": waiting_reason,
                "waiting_message": waiting_message,
                "last_terminated": _termination_text(last) if last else None,
                "restarts": cs.get("restartCount") or 0,
                "last_events": [format_event(e) for e in concerning[-MAX_EVENTS:]],
                "log_tail": _log_tail(log_tails, _name(pod), name),
            })
    return rows


def _without_empty(value):
    """Drop None/{}/[] members: Semantic.DeepEqual treats nil and empty alike."""
    if isinstance(value, dict):
        cleaned = dict((k, _without_empty(v)) for k, v in value.items())
        return dict((k, v) for k, v in cleaned.items() if v not in (None, {}, []))
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def _template_without_hash(template):
    # Both sides of a comparison pass through here, so an empty labels map on both is still equal.
    template = _without_empty(template or {})
    metadata = dict(template.get("metadata") or {})
    labels = dict(metadata.get("labels") or {})
    labels.pop("pod-template-hash", None)
    metadata["labels"] = labels
    template["metadata"] = metadata
    return template


def controlled_by(obj, owner):
    uid = _meta(owner).get("uid")
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == uid:
            return True
    return False


def find_new_replicaset(deployment, replicasets):
    """FindNewReplicaSet: the oldest ReplicaSet the Deployment controls whose template equals its own.

    Templates are compared ignoring the pod-template-hash label, as
    EqualIgnoreHash does. None when the controller has not created it yet.
    """
    wanted = _template_without_hash((deployment.get("spec") or {}).get("template"))
    owned = [rs for rs in replicasets or [] if controlled_by(rs, deployment)]
    for rs in sorted(owned, key=lambda rs: (parse_time(_meta(rs).get("creationTimestamp")) or _EPOCH, _name(rs))):
        if _template_without_hash((rs.get("spec") or {}).get("template")) == wanted:
            return rs
    return None


def pods_of_replicaset(replicaset, pods):
    """Pods whose controller ownerReference is this ReplicaSet, by name."""
    return sorted((p for p in pods or [] if controlled_by(p, replicaset)), key=_name)
