"""DeploymentConfig from the deployment option: the API's rules, checked before any call."""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import deployment as dep
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.spec import InputError

FOUR = [{"VariantName": "AllTraffic", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 4}]


def option(**over):
    d = dict((k, v.get("default")) for k, v in dep.DEPLOYMENT_SPEC.items())
    d.update(over)
    return d


def test_no_deployment_option_sends_no_deployment_config():
    assert dep.build(None, FOUR) is None
    assert dep.summary(None).startswith("blue/green, all at once")


def test_canary_with_alarms():
    config = dep.build(option(traffic="canary", canary_size=1, wait_interval_seconds=600, termination_wait_seconds=300,
                              maximum_execution_timeout_seconds=3600, rollback_alarms=["p99", "5xx"]), FOUR)
    assert config == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                                            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
            "TerminationWaitInSeconds": 300, "MaximumExecutionTimeoutInSeconds": 3600},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "p99"}, {"AlarmName": "5xx"}]},
    }
    assert dep.alarm_names(config) == ["p99", "5xx"]
    assert dep.summary(config) == "blue/green canary 1, 600s bake, rollback alarms p99, 5xx"


def test_linear_and_rolling():
    linear = dep.build(option(traffic="linear", linear_step_size="25%", wait_interval_seconds=60), FOUR)
    assert linear["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["LinearStepSize"] == {
        "Type": "CAPACITY_PERCENT", "Value": 25}
    rolling = dep.build(option(strategy="rolling", maximum_batch_size=1, wait_interval_seconds=120,
                               rollback_maximum_batch_size="100%"), FOUR)
    assert rolling == {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                                               "WaitIntervalInSeconds": 120,
                                               "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 100}}}
    assert dep.planned_waits(rolling, FOUR) == 4 * 120


@pytest.mark.parametrize("over, message", [
    (dict(traffic="canary", canary_size=1), "traffic canary needs wait_interval_seconds"),
    (dict(traffic="linear", linear_step_size=1), "traffic linear needs wait_interval_seconds"),
    (dict(traffic="canary", wait_interval_seconds=60), "canary needs canary_size"),
    (dict(traffic="canary", canary_size=3, wait_interval_seconds=60), r"canary_size is 3 of 4 instance\(s\) \(75%\)"),
    (dict(traffic="linear", linear_step_size="60%", wait_interval_seconds=60), "needs 10% to 50%"),
    (dict(canary_size=1), "canary_size needs traffic canary"),
    (dict(strategy="rolling", wait_interval_seconds=60), "rolling needs maximum_batch_size"),
    (dict(strategy="rolling", maximum_batch_size=1), "rolling needs wait_interval_seconds"),
    (dict(strategy="rolling", maximum_batch_size=3, wait_interval_seconds=60), "needs 5% to 50%"),
    (dict(strategy="rolling", traffic="canary", maximum_batch_size=1, wait_interval_seconds=60),
     "deployment.traffic does not apply to strategy rolling"),
    (dict(maximum_batch_size=1), "maximum_batch_size does not apply to strategy blue_green"),
    (dict(wait_interval_seconds=4000), "wait_interval_seconds must be between 0 and 3600"),
    (dict(maximum_execution_timeout_seconds=60), "between 600 and 28800"),
    (dict(traffic="canary", canary_size=1, wait_interval_seconds=600, maximum_execution_timeout_seconds=1000),
     r"must be larger than the waits .* \(1200 s"),
    (dict(rollback_alarms=["a"] * 2), "1 to 10 distinct"),
    (dict(rollback_alarms=["a%d" % i for i in range(11)]), "1 to 10 distinct"),
])
def test_bad_deployment_options_say_what_to_fix(over, message):
    with pytest.raises(InputError, match=message):
        dep.build(option(**over), FOUR)


def test_rolling_refuses_serverless_and_multi_variant():
    serverless = [{"VariantName": "AllTraffic", "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}]
    two = FOUR + [{"VariantName": "B", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 4}]
    for variants in (serverless, two):
        with pytest.raises(InputError, match="supports neither serverless nor multi-variant"):
            dep.build(option(strategy="rolling", maximum_batch_size=1, wait_interval_seconds=60), variants)


def test_guardrails_keep_the_live_variant_names():
    config = dep.build(option(traffic="all_at_once"), FOUR)
    dep.check_variant_names(config, ["AllTraffic"], ["AllTraffic"])
    dep.check_variant_names(None, ["Old"], ["AllTraffic"])  # no guardrails, no constraint
    with pytest.raises(InputError, match="keep the live endpoint's variant names"):
        dep.check_variant_names(config, ["Old"], ["AllTraffic"])
