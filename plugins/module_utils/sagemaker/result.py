# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One result shape for every exit of sagemaker_endpoint_rollout: model_rollout's contract.

Keys always present: ``changed``, ``verdict``, ``reason``, ``message``, ``previous`` and
``current`` ({revision, image}; the revision of an endpoint is its EndpointConfig name),
``rolled_back_to``, ``diagnostics``, ``timeline``, ``durations`` {change, rollout, gate,
rollback, total}; and beside them ``endpoint``, ``resumed``, ``deployment``, ``alarms``,
``cleanup``, ``api``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

VERDICTS = ("complete", "rolled_back", "failed", "unchanged", "pending")

# Every reason a result can carry (the module's RETURN documents the same list).
REASONS = (
    "complete", "up_to_date", "check_mode",
    "rollback_alarm", "deployment_failed", "rolled_back",
    "endpoint_failed", "rollback_failed", "out_of_service", "endpoint_deleted", "superseded", "unknown_status",
    "in_progress", "timeout", "invalid_input", "api_error", "internal_error",
)

DURATION_KEYS = ("change", "rollout", "gate", "rollback", "total")


def empty_version():
    return {"revision": None, "image": None}


def base(name, region=None):
    return {
        "changed": False,
        "verdict": "failed",
        "reason": None,
        "message": "",
        "endpoint": {"name": name, "region": region, "arn": None, "status": None},
        "previous": empty_version(),
        "current": empty_version(),
        "rolled_back_to": None,
        "diagnostics": [],
        "timeline": [],
        "durations": dict((k, 0.0) for k in DURATION_KEYS),
        "resumed": False,
        "deployment": None,
        "alarms": [],
        "cleanup": {"deleted_endpoint_configs": [], "deleted_models": []},
        "api": {"requests": 0, "writes": 0},
    }


def finish(result, durations, requests, writes):
    """Rounded durations and the request counts; the reason must be one of REASONS."""
    if result["reason"] not in REASONS:
        raise ValueError("unregistered reason %r" % result["reason"])
    result["durations"] = dict((k, round(durations.get(k, 0.0), 3)) for k in DURATION_KEYS)
    result["api"] = {"requests": requests, "writes": writes}
    return result


def is_failure(result):
    """A rollback means the new version did not ship: the task fails, so a fleet stops there."""
    return result["verdict"] in ("failed", "rolled_back")
