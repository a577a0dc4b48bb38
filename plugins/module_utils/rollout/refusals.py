# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pods the API refuses to create: quota, LimitRange, admission webhooks, Pod Security. Pure, no I/O.

Such pods never exist, so no pod judge can see them; the ReplicaSet controller says so in the new
ReplicaSet's ``ReplicaFailure`` condition (reason ``FailedCreate``, the API's own message), which
the Deployment controller copies onto the Deployment; a ReplicaSet the Deployment controller
cannot create shows as ``Progressing`` False with reason ``ReplicaSetCreateError``.

How long a refusal may last before it fails the rollout depends on what can end it:

- a LimitRange, a webhook's denial or Pod Security refuse the template itself: no wait;
- an exceeded quota clears when pods of this Deployment finish terminating (a rolling update under
  a tight quota creates its next pod as soon as an old one is gone), so it fails only after
  ``GRACE`` seconds with none of this Deployment's pods terminating;
- anything else (a webhook that could not be called, a ReplicaSet not created): ``GRACE``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Seconds a refusal that may clear by itself is given (a retry of the ReplicaSet controller, a webhook back).
GRACE = 10.0

QUOTA, TEMPLATE, OTHER = "quota", "template", "other"

_QUOTA = re.compile(r"exceeded quota: ([a-z0-9.-]+)")
_TEMPLATE_PATTERNS = (
    re.compile(r"admission webhook \"[^\"]+\" denied the request"),
    re.compile(r"violates PodSecurity"),
    re.compile(r"(?:maximum|minimum) (?:cpu|memory|[\w./-]+) usage per (?:Container|Pod)"),
    re.compile(r"must be less than or equal to (?:cpu|memory|[\w./-]+) limit"),
    re.compile(r"(?:maximum|minimum) [\w./-]+ (?:limit to request ratio|storage usage) per"),
    re.compile(r"denied the request"),
)


def _meta(obj):
    return (obj or {}).get("metadata") or {}


def kind_of(message):
    """QUOTA, TEMPLATE or OTHER for the API's message of a refused create."""
    if _QUOTA.search(message or ""):
        return QUOTA
    if "failed calling webhook" in (message or ""):
        return OTHER
    for pattern in _TEMPLATE_PATTERNS:
        if pattern.search(message or ""):
            return TEMPLATE
    return OTHER


def quota_name(message):
    match = _QUOTA.search(message or "")
    return match.group(1) if match else None


def _condition(obj, kind):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def refusal(deployment, new_rs):
    """(object kind, object name, reason, message) of a refused create for this rollout, or None."""
    if new_rs is not None:
        cond = _condition(new_rs, "ReplicaFailure")
        if cond and cond.get("status") == "True":
            return ("ReplicaSet", _meta(new_rs).get("name"), cond.get("reason") or "FailedCreate",
                    cond.get("message") or "")
        return None
    progressing = _condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == "ReplicaSetCreateError":
        return ("Deployment", _meta(deployment).get("name"), "ReplicaSetCreateError", progressing.get("message") or "")
    return None


def terminating(pods):
    """Pods of this Deployment (any of its ReplicaSets) on their way out: what frees quota."""
    return [p for p in pods or [] if _meta(p).get("deletionTimestamp")]


def message_for(found):
    kind, name, reason, message = found
    what = kind_of(message)
    named = ""
    if what == QUOTA:
        named = " (ResourceQuota %s)" % quota_name(message)
    elif "per Container" in message or "per Pod" in message or "limit to request ratio" in message:
        named = " (a LimitRange of the namespace)"
    return "the API refused to create the new pods: %s %s: %s: %s%s" % (kind, name, reason, message, named)


class RefusalTracker:
    """Watches refusals across views; ``judge(view)`` returns a failure message or None. Stateful only in time."""

    def __init__(self, grace=GRACE):
        self.grace = grace
        self.since = None

    def judge(self, view, own_pods):
        found = refusal(view.deployment, view.new_rs)
        if found is None:
            self.since = None
            return None
        what = kind_of(found[3])
        if what == TEMPLATE:
            return message_for(found)
        if what == QUOTA and terminating(own_pods):
            # Quota frees as our own old pods finish terminating: that wait is the rollout, not a failure.
            self.since = None
            return None
        if self.since is None:
            self.since = view.mono
        if view.mono - self.since >= self.grace:
            return message_for(found)
        return None

    def wake(self):
        return None if self.since is None else self.since + self.grace
