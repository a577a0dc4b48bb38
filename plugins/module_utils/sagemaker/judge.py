# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict on a SageMaker deployment, judged from DescribeEndpoint answers. Pure.

``InService`` alone proves nothing: after an auto-rollback (an alarm in ALARM during a bake) or
a failed update of a live endpoint, SageMaker puts the endpoint back ``InService`` on the *old*
config. So the judge asks which config serves:

- ``InService`` on the config this run deployed: ``complete``.
- ``InService`` on the config it replaced, once the deployment has visibly run (an
  ``Updating`` or ``RollingBack`` answer was seen, SageMaker set a ``FailureReason``, or a
  grace period for the update to show has passed): ``rolled_back``, naming the alarm that fired
  when one did, else SageMaker's ``FailureReason``.
- ``Failed``, ``UpdateRollbackFailed``, ``OutOfService``, ``Deleting`` or gone: ``failed``.
- ``InService`` on a third config: ``failed`` (``superseded``: someone else updated it).
- ``Creating``, ``Updating``, ``SystemUpdating``, ``RollingBack``: not yet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack")
SERVING = ("InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")
READY_VARIANT_STATUS = ("ActivatingTraffic", "Baking")


class Judgement:
    def __init__(self, verdict, reason, message):
        self.verdict = verdict
        self.reason = reason
        self.message = message

    @property
    def ok(self):
        return self.verdict == "complete"

    def __repr__(self):
        return "Judgement(%r, %r, %r)" % (self.verdict, self.reason, self.message)


class Memory:
    """What a wait has seen so far; the judge's only state."""

    def __init__(self, kind, endpoint, target, previous=None, failure_reason_before=None):
        self.kind = kind            # "create" or "update"
        self.endpoint = endpoint
        self.target = target        # config name this run deploys
        self.previous = previous    # config name it replaces (update)
        self.failure_reason_before = failure_reason_before
        self.statuses = []          # each distinct status, in order
        self.rolling_back = False
        self.saw_update = False

    def observe(self, described):
        status = (described or {}).get("EndpointStatus")
        if status and (not self.statuses or self.statuses[-1] != status):
            self.statuses.append(status)
        if status == "RollingBack":
            self.rolling_back = True
        if status in ("Updating", "RollingBack"):
            self.saw_update = True
        pending = (described or {}).get("PendingDeploymentSummary") or {}
        if pending.get("EndpointConfigName") == self.target:
            self.saw_update = True


def _failure(described):
    return ((described or {}).get("FailureReason") or "").strip()


def judge(described, memory, fired_alarms=(), grace_over=False):
    """A Judgement when the deployment has ended, else None. ``described`` None: the endpoint is gone."""
    name = memory.endpoint
    if described is None:
        return Judgement("failed", "endpoint_deleted", "endpoint %s was deleted while this run waited for it" % name)
    status = described.get("EndpointStatus")
    config = described.get("EndpointConfigName")
    reason_text = _failure(described)
    if status in TRANSITIONAL:
        return None
    if status == "Failed":
        return Judgement("failed", "endpoint_failed", "endpoint %s is Failed: %s" % (
            name, reason_text or "SageMaker gave no FailureReason"))
    if status == "UpdateRollbackFailed":
        mix = (name, memory.previous, memory.target, reason_text or "no FailureReason given")
        return Judgement("failed", "rollback_failed", "ROLLBACK FAILED: SageMaker could not roll endpoint %s back; it "
                         "serves a mix of %s and %s: %s" % mix)
    if status == "Deleting":
        return Judgement("failed", "endpoint_deleted", "endpoint %s is being deleted" % name)
    if status == "OutOfService":
        return Judgement("failed", "out_of_service", "endpoint %s is OutOfService: %s" % (
            name, reason_text or "it takes no requests"))
    if status != "InService":
        return Judgement("failed", "unknown_status", "endpoint %s has a status this collection does not know: %s"
                         % (name, status))
    if config == memory.target:
        return Judgement("complete", "complete", "endpoint %s is InService on %s" % (name, config))
    if memory.kind == "update" and config == memory.previous:
        return _rolled_back(described, memory, fired_alarms, grace_over)
    return Judgement("failed", "superseded", "endpoint %s is InService on %s, which is neither the config this run "
                     "deployed (%s) nor the one it replaced (%s): someone else updated it" % (
                         name, config, memory.target, memory.previous))


def _rolled_back(described, memory, fired_alarms, grace_over):
    reason_text = _failure(described)
    new_failure = reason_text and reason_text != (memory.failure_reason_before or "")
    if not (memory.saw_update or new_failure or grace_over):
        return None  # the update has not shown yet (DescribeEndpoint may lag UpdateEndpoint)
    head = "SageMaker rolled endpoint %s back to %s; %s did not ship" % (memory.endpoint, memory.previous, memory.target)
    if fired_alarms:
        return Judgement("rolled_back", "rollback_alarm", "%s: auto-rollback alarm %s went to ALARM during the "
                         "deployment" % (head, ", ".join(fired_alarms)))
    if new_failure:
        return Judgement("rolled_back", "deployment_failed", "%s: %s" % (head, reason_text))
    return Judgement("rolled_back", "rolled_back", "%s (no rollback alarm was seen in ALARM and SageMaker gave no "
                     "FailureReason)" % head)


def progress(described, target, desired_instances):
    """One timeline point: instance counts of the new fleet and of the fleet that serves."""
    described = described or {}
    status = described.get("EndpointStatus")
    serving_variants = described.get("ProductionVariants") or []
    serving = sum(v.get("CurrentInstanceCount") or 0 for v in serving_variants)
    pending = described.get("PendingDeploymentSummary") or {}
    variant_status = []
    messages = []
    if pending.get("EndpointConfigName") == target:
        variants = pending.get("ProductionVariants") or []
        desired = sum(v.get("DesiredInstanceCount") or 0 for v in variants) or desired_instances
        updated = sum(v.get("CurrentInstanceCount") or 0 for v in variants)
        for v in variants:
            variant_status.extend(s.get("Status") for s in v.get("VariantStatus") or [])
            messages.extend(s.get("StatusMessage") for s in v.get("VariantStatus") or [] if s.get("StatusMessage"))
        ready = updated if variant_status and all(s in READY_VARIANT_STATUS for s in variant_status) else 0
    elif described.get("EndpointConfigName") == target and status == "InService":
        desired = sum(v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount") or 0
                      for v in serving_variants) or desired_instances
        updated = ready = serving
    else:
        desired, updated, ready = desired_instances, 0, 0
    available = serving if status in SERVING else 0
    return {"status": status, "desired": desired, "updated": updated, "ready": ready, "available": available,
            "variant_status": sorted(set(s for s in variant_status if s)),
            "message": messages[0] if messages else None}


def progress_line(point, target):
    parts = []
    if point["status"] in ("Updating", "RollingBack", "Creating"):
        parts.append("new fleet (%s) %d/%d instances" % (target, point["updated"], point["desired"]))
        if point["variant_status"]:
            parts.append(", ".join(point["variant_status"]) + (" (%s)" % point["message"] if point["message"] else ""))
    parts.append("%d instance(s) serving" % point["available"])
    return "%s: %s" % (point["status"], "; ".join(parts))


class Backoff:
    """Poll intervals: quick after a change, then slower, never slower than ``cap`` seconds.

    A deployment moves in steps minutes apart, but the step that matters (back in service) should
    be seen within seconds, not at the next 30 s tick of boto3's waiter. DescribeEndpoint at one
    call every few seconds stays far inside SageMaker's request rates; throttling is retried
    with jittered backoff by the client wrapper.
    """

    def __init__(self, first=1.0, factor=1.5, cap=5.0):
        self.first = first
        self.factor = factor
        self.cap = max(cap, first)
        self.current = first

    def next(self, changed):
        if changed:
            self.current = self.first
        else:
            self.current = min(self.cap, self.current * self.factor)
        return self.current
