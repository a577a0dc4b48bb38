# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every ``reason`` model_rollout may report, what it means, and what it allows afterwards.

``against_template`` says whether the reason is evidence against the new template: only then
does ``on_failure`` act (roll back, pause). Every other failure is about the world (a person
paused the Deployment, the controller stopped, the Lease was lost, the API failed), and the run
writes nothing more to the Deployment after it. The RETURN documentation of model_rollout lists
exactly these reasons; a unit test holds the two together.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

VERDICTS = ("complete", "unchanged", "pending", "failed", "rolled_back", "paused")

Reason = collections.namedtuple("Reason", ["verdicts", "against_template", "text"])

# A failure of the new template ends as one of these, depending on on_failure and the rollback.
_TEMPLATE_VERDICTS = ("failed", "rolled_back", "paused")


def _template(text):
    return Reason(_TEMPLATE_VERDICTS, True, text)


def _world(text, verdicts=("failed",)):
    return Reason(verdicts, False, text)


REASONS = collections.OrderedDict([
    ("complete", Reason(("complete",), False, "the new template rolled out (and passed its gates)")),
    ("up_to_date", Reason(("unchanged",), False, "the Deployment already runs the requested template")),
    ("check_mode", Reason(("pending",), False, "check mode, the change a run would make")),
    ("image_pull", _template("a new pod cannot pull its image")),
    ("config", _template("a new container cannot be created (missing Secret or ConfigMap, bad command)")),
    ("crash_loop", _template("a new container keeps crashing")),
    ("unschedulable", _template("a new pod found no node for unschedulable_seconds")),
    ("create_refused", _template("the API refused to create the new pods (ResourceQuota, LimitRange, an admission "
                                 "webhook, Pod Security); the message is the API's")),
    ("ready_flapping", _template("a new pod kept dropping out of Ready")),
    ("not_ready", _template("a new pod stayed Running but not Ready for not_ready_seconds")),
    ("progress_deadline_exceeded", _template("the controller's own verdict, no progress for progressDeadlineSeconds")),
    ("timeout", _template("the overall cap set with the timeout option passed first")),
    ("model_not_ready", _template("gate, the server or the model did not report ready")),
    ("smoke_failed", _template("gate, the smoke inference did not get the expected answer")),
    ("gate_check_failed", _template("gate, the custom check did not get the expected answer")),
    ("gate_unreachable", _template("gate, a new pod could not be reached through the port-forward")),
    ("gate_no_pods", _template("gate, no Ready pod of the new ReplicaSet to ask")),
    ("prometheus_threshold", _template("gate, a Prometheus sample crossed its threshold")),
    ("prometheus_error", _template("gate, Prometheus did not answer the query")),
    ("prometheus_no_data", _template("gate, the query returned no data and fail_on_empty is set")),
    ("cloudwatch_alarm", _template("gate, a CloudWatch alarm is in ALARM")),
    ("cloudwatch_error", _template("gate, the CloudWatch alarms could not be read, or one does not exist")),
    ("bake_restart", _template("hold or bake, a new pod restarted")),
    ("bake_not_ready", _template("hold or bake, a new pod lost Ready or was deleted")),
    ("bake_unavailable", _template("hold or bake, the Deployment lost availability")),
    ("rollback_failed", _world("the rollback itself did not complete; look at once")),
    ("paused", _world("the Deployment is paused (by a person, or before this run); nothing more was written",
                      verdicts=("paused",))),
    ("superseded", _world("another hand (kubectl, a GitOps controller, a person) changed the pod template during "
                          "the run; its template stands and nothing more was written")),
    ("controller_stalled", _world("kube-controller-manager did not act on the Deployment; nothing more was written")),
    ("lock_lost", _world("this run lost its Lease; its canary or green was removed, nothing more was written")),
    ("lock_held", _world("another run holds the rollout Lease; nothing was written")),
    ("deployment_deleted", _world("the Deployment was deleted during the run")),
    ("invalid_input", _world("the request or the connection options are invalid; nothing was written")),
    ("api_error", _world("the Kubernetes API failed or refused a request")),
    ("internal_error", _world("an unexpected error in model_rollout; the message says what was left")),
])


def against_template(reason):
    """True when ``reason`` judges the new template, so on_failure applies."""
    entry = REASONS.get(reason)
    return bool(entry and entry.against_template)


def check(verdict, reason):
    """``(verdict, reason)`` when they are registered and belong together, else ValueError."""
    if verdict not in VERDICTS:
        raise ValueError("verdict %r is not one of %s" % (verdict, ", ".join(VERDICTS)))
    entry = REASONS.get(reason)
    if entry is None:
        raise ValueError("reason %r is not registered in reasons.REASONS" % (reason,))
    if verdict not in entry.verdicts:
        raise ValueError("reason %r does not go with verdict %r (only %s)" % (reason, verdict, ", ".join(entry.verdicts)))
    return verdict, reason
