# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``deployment`` option as UpdateEndpoint's DeploymentConfig, validated before any call.

Pure. Checks what the API reference and the deployment-guardrails guide document, so a mistake
shows before anything is written instead of as a half-made version or a ValidationException in
the middle of a run:

- blue/green: ALL_AT_ONCE, CANARY (canary size at most 50% of the variant's instances), LINEAR
  (step size 10% to 50%); CANARY and LINEAR need an explicit ``wait_interval_seconds`` (the
  baking period; SageMaker would otherwise shift the rest of the traffic without watching).
- rolling: maximum batch size 5% to 50% of the instances, a wait interval, optional rollback
  batch size; not for serverless or multi-variant endpoints.
- ranges: wait intervals and termination wait 0..3600 s, maximum execution timeout
  600..28800 s and longer than the waits it must contain; 1..10 auto-rollback alarms.
- guardrails keep the variant names of the live endpoint.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.spec import InputError, capacity_size

DEPLOYMENT_SPEC = dict(
    strategy=dict(type="str", choices=["blue_green", "rolling"], default="blue_green"),
    traffic=dict(type="str", choices=["all_at_once", "canary", "linear"], default="all_at_once"),
    canary_size=dict(type="raw"),
    linear_step_size=dict(type="raw"),
    maximum_batch_size=dict(type="raw"),
    rollback_maximum_batch_size=dict(type="raw"),
    wait_interval_seconds=dict(type="int"),
    termination_wait_seconds=dict(type="int"),
    maximum_execution_timeout_seconds=dict(type="int"),
    rollback_alarms=dict(type="list", elements="str", default=[]),
)

BLUE_GREEN_ONLY = ("traffic", "canary_size", "linear_step_size", "termination_wait_seconds")
ROLLING_ONLY = ("maximum_batch_size", "rollback_maximum_batch_size")


def _instances(variants):
    return sum(v.get("InitialInstanceCount") or 0 for v in variants)


def _share(size, total):
    """Instances a CapacitySize stands for, of ``total``."""
    if size["Type"] == "INSTANCE_COUNT":
        return size["Value"]
    return int(math.ceil(total * size["Value"] / 100.0))


def _check_range(option, value, low, high):
    if value is not None and not low <= value <= high:
        raise InputError("deployment.%s must be between %d and %d seconds (got %d)" % (option, low, high, value))


def _check_fraction(option, size, total, low_percent, high_percent):
    """A batch must be between low and high percent of the variant's instances, as the API documents."""
    if size is None or not total:
        return
    if size["Type"] == "CAPACITY_PERCENT":
        percent = size["Value"]
    else:
        percent = 100.0 * size["Value"] / total
    if not low_percent <= percent <= high_percent:
        raise InputError("deployment.%s is %s of %d instance(s) (%.0f%%); SageMaker needs %d%% to %d%% of the "
                         "variant's instances" % (option, _describe(size), total, percent, low_percent, high_percent))


def _describe(size):
    return "%d%%" % size["Value"] if size["Type"] == "CAPACITY_PERCENT" else "%d" % size["Value"]


def _reject_foreign(deployment, strategy, names):
    for option in names:
        value = deployment.get(option)
        if value not in (None, "all_at_once"):
            raise InputError("deployment.%s does not apply to strategy %s" % (option, strategy))


def build(deployment, variants):
    """DeploymentConfig for UpdateEndpoint from the ``deployment`` option; None when not given."""
    if not deployment:
        return None
    strategy = deployment.get("strategy") or "blue_green"
    for option in ("wait_interval_seconds", "termination_wait_seconds"):
        _check_range(option, deployment.get(option), 0, 3600)
    _check_range("maximum_execution_timeout_seconds", deployment.get("maximum_execution_timeout_seconds"), 600, 28800)
    config = {}
    if strategy == "rolling":
        _reject_foreign(deployment, strategy, BLUE_GREEN_ONLY)
        config["RollingUpdatePolicy"] = _rolling(deployment, variants)
    else:
        _reject_foreign(deployment, strategy, ROLLING_ONLY)
        config["BlueGreenUpdatePolicy"] = _blue_green(deployment, variants)
    alarms = list(deployment.get("rollback_alarms") or [])
    if alarms:
        if len(alarms) > 10 or len(set(alarms)) != len(alarms) or any(not a.strip() for a in alarms):
            raise InputError("deployment.rollback_alarms takes 1 to 10 distinct CloudWatch alarm names (got %s)"
                             % alarms)
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    _check_timeout(deployment, config, variants)
    return config


def _blue_green(deployment, variants):
    traffic = (deployment.get("traffic") or "all_at_once").upper()
    total = _instances(variants)
    wait = deployment.get("wait_interval_seconds")
    routing = {"Type": traffic}
    if traffic in ("CANARY", "LINEAR") and wait is None:
        raise InputError("deployment.traffic %s needs wait_interval_seconds: the baking period in which SageMaker "
                         "watches the rollback alarms before it shifts more traffic" % traffic.lower())
    routing["WaitIntervalInSeconds"] = wait or 0
    if traffic == "CANARY":
        size = capacity_size(deployment.get("canary_size"), "deployment.canary_size")
        if size is None:
            raise InputError("deployment.traffic canary needs canary_size: instances (1) or a percentage ('25%')")
        if any(v.get("ServerlessConfig") for v in variants) and size["Type"] == "INSTANCE_COUNT":
            raise InputError("deployment.canary_size of a serverless endpoint must be a percentage")
        _check_fraction("canary_size", size, total, 0, 50)
        routing["CanarySize"] = size
    elif traffic == "LINEAR":
        size = capacity_size(deployment.get("linear_step_size"), "deployment.linear_step_size")
        if size is None:
            raise InputError("deployment.traffic linear needs linear_step_size: instances or a percentage ('20%')")
        _check_fraction("linear_step_size", size, total, 10, 50)
        routing["LinearStepSize"] = size
    else:
        for option in ("canary_size", "linear_step_size"):
            if deployment.get(option) is not None:
                raise InputError("deployment.%s needs traffic %s" % (option, option.split("_", maxsplit=1)[0]))
    policy = {"TrafficRoutingConfiguration": routing}
    if deployment.get("termination_wait_seconds") is not None:
        policy["TerminationWaitInSeconds"] = deployment["termination_wait_seconds"]
    if deployment.get("maximum_execution_timeout_seconds") is not None:
        policy["MaximumExecutionTimeoutInSeconds"] = deployment["maximum_execution_timeout_seconds"]
    return policy


def _rolling(deployment, variants):
    if len(variants) > 1 or any(v.get("ServerlessConfig") for v in variants):
        raise InputError("deployment.strategy rolling supports neither serverless nor multi-variant endpoints "
                         "(SageMaker's deployment guardrails); use blue_green")
    total = _instances(variants)
    batch = capacity_size(deployment.get("maximum_batch_size"), "deployment.maximum_batch_size")
    if batch is None:
        raise InputError("deployment.strategy rolling needs maximum_batch_size: instances (1) or a percentage "
                         "('25%') replaced per step")
    if deployment.get("wait_interval_seconds") is None:
        raise InputError("deployment.strategy rolling needs wait_interval_seconds: the baking period of each batch")
    _check_fraction("maximum_batch_size", batch, total, 5, 50)
    policy = {"MaximumBatchSize": batch, "WaitIntervalInSeconds": deployment["wait_interval_seconds"]}
    rollback = capacity_size(deployment.get("rollback_maximum_batch_size"), "deployment.rollback_maximum_batch_size")
    if rollback is not None:
        if rollback["Type"] == "INSTANCE_COUNT" and rollback["Value"] > total:
            raise InputError("deployment.rollback_maximum_batch_size %d is more than the %d instance(s) of the "
                             "variant" % (rollback["Value"], total))
        policy["RollbackMaximumBatchSize"] = rollback
    if deployment.get("maximum_execution_timeout_seconds") is not None:
        policy["MaximumExecutionTimeoutInSeconds"] = deployment["maximum_execution_timeout_seconds"]
    return policy


def planned_waits(config, variants):
    """Seconds SageMaker is told to wait in this deployment (bakes and termination wait), at least."""
    total = max(_instances(variants), 1)
    if config.get("RollingUpdatePolicy"):
        policy = config["RollingUpdatePolicy"]
        steps = int(math.ceil(total / float(max(_share(policy["MaximumBatchSize"], total), 1))))
        return steps * policy["WaitIntervalInSeconds"]
    policy = config.get("BlueGreenUpdatePolicy") or {}
    routing = policy.get("TrafficRoutingConfiguration") or {}
    wait = routing.get("WaitIntervalInSeconds", 0)
    if routing.get("Type") == "CANARY":
        steps = 2
    elif routing.get("Type") == "LINEAR":
        steps = int(math.ceil(total / float(max(_share(routing["LinearStepSize"], total), 1))))
    else:
        steps = 1
    return steps * wait + policy.get("TerminationWaitInSeconds", 0)


def _check_timeout(deployment, config, variants):
    limit = deployment.get("maximum_execution_timeout_seconds")
    if limit is None:
        return
    waits = planned_waits(config, variants)
    if limit <= waits:
        raise InputError("deployment.maximum_execution_timeout_seconds (%d) must be larger than the waits the "
                         "deployment is told to make (%d s of baking and termination wait); SageMaker would roll "
                         "it back for running out of time" % (limit, waits))


def alarm_names(config):
    return [a["AlarmName"] for a in ((config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or []]


def check_variant_names(config, live_names, wanted_names):
    """Deployment guardrails need the new config to keep the live endpoint's variant names."""
    if not config or not live_names:
        return
    if sorted(live_names) != sorted(wanted_names):
        raise InputError("deployment guardrails need the new endpoint config to keep the live endpoint's variant "
                         "names (live %s, wanted %s); rename the variants, or leave out deployment to let SageMaker "
                         "do a plain blue/green update" % (sorted(live_names), sorted(wanted_names)))


def summary(config):
    """The DeploymentConfig as a person reads it, for results and progress lines."""
    if not config:
        return "blue/green, all at once (SageMaker's default)"
    if config.get("RollingUpdatePolicy"):
        p = config["RollingUpdatePolicy"]
        text = "rolling, batches of %s, %ss bake" % (_describe(p["MaximumBatchSize"]), p["WaitIntervalInSeconds"])
    else:
        p = config["BlueGreenUpdatePolicy"]
        r = p["TrafficRoutingConfiguration"]
        size = r.get("CanarySize") or r.get("LinearStepSize")
        text = "blue/green %s%s, %ss bake" % (r["Type"].lower().replace("_", " "),
                                              " " + _describe(size) if size else "", r["WaitIntervalInSeconds"])
    alarms = alarm_names(config)
    if alarms:
        text += ", rollback alarms %s" % ", ".join(alarms)
    return text
