"""Opt-in: the SageMaker acceptance path against a real AWS account, to check the emulator's fidelity.

Skipped unless MODELOPS_SAGEMAKER_REAL_AWS=1, MODELOPS_SAGEMAKER_ROLE_ARN (an execution role
SageMaker can assume) and MODELOPS_SAGEMAKER_IMAGE (an inference image that answers /ping and
/invocations, in ECR of the same region) are set and boto3 finds credentials; AWS_URL must not be
set. Creates one endpoint of 2 x ml.m5.large, two CloudWatch alarms, and deletes everything it
made at the end. Takes 20-30 minutes. See docs/sagemaker.md.
"""

import os
import uuid

import pytest

from tests.integration.ansible_runner_helpers import PlaybookRun
from tests.integration.conftest import wait_for

MODULE = "modelops.serving.sagemaker_endpoint_rollout"
OPT_IN = os.environ.get("MODELOPS_SAGEMAKER_REAL_AWS") == "1"
ROLE = os.environ.get("MODELOPS_SAGEMAKER_ROLE_ARN")
IMAGE = os.environ.get("MODELOPS_SAGEMAKER_IMAGE")


def _credentials():
    try:
        import boto3

        return boto3.session.Session().get_credentials() is not None
    except Exception:  # pylint: disable=broad-except
        return False


pytestmark = pytest.mark.skipif(
    not (OPT_IN and ROLE and IMAGE and _credentials() and not os.environ.get("AWS_URL")),
    reason="real-AWS fidelity check: set MODELOPS_SAGEMAKER_REAL_AWS=1, MODELOPS_SAGEMAKER_ROLE_ARN, "
           "MODELOPS_SAGEMAKER_IMAGE and AWS credentials (and no AWS_URL)")


@pytest.fixture
def real():
    import boto3

    session = boto3.session.Session()
    name = "modelops-fidelity-" + uuid.uuid4().hex[:8]
    sm, cw = session.client("sagemaker"), session.client("cloudwatch")
    alarms = [name + "-5xx", name + "-latency"]
    for alarm in alarms:
        cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1000,
                            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                            Dimensions=[{"Name": "EndpointName", "Value": name},
                                        {"Name": "VariantName", "Value": "AllTraffic"}])

    class Real:
        pass

    r = Real()
    r.name, r.sm, r.cw, r.alarms, r.region = name, sm, cw, alarms, session.region_name
    try:
        yield r
    finally:
        _delete_everything(r)


def _delete_everything(r):
    try:
        wait_for(lambda: _settled(r), 3600, "the endpoint to settle before deleting it", interval=15)
        r.sm.delete_endpoint(EndpointName=r.name)
    except Exception:  # pylint: disable=broad-except
        pass
    for config in r.sm.list_endpoint_configs(NameContains=r.name)["EndpointConfigs"]:
        r.sm.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
    for model in r.sm.list_models(NameContains=r.name)["Models"]:
        r.sm.delete_model(ModelName=model["ModelName"])
    r.cw.delete_alarms(AlarmNames=r.alarms)


def _settled(r):
    try:
        return r.sm.describe_endpoint(EndpointName=r.name)["EndpointStatus"] not in (
            "Creating", "Updating", "SystemUpdating", "RollingBack")
    except Exception:  # pylint: disable=broad-except
        return True


def _args(r, version, deployment=None):
    a = {"name": r.name, "region": r.region,
         "model": {"image": IMAGE, "execution_role_arn": ROLE, "environment": {"MODEL_VERSION": version}},
         "variants": [{"variant_name": "AllTraffic", "instance_type": "ml.m5.large", "instance_count": 2}],
         "wait_timeout": 3600}
    if deployment:
        a["deployment"] = deployment
    return a


def test_the_acceptance_path_on_real_sagemaker(real, tmp_path):
    created = PlaybookRun(None, MODULE, _args(real, "1")).wait(timeout=3700)
    assert (created["verdict"], created["reason"]) == ("complete", "complete"), created["message"]

    again = PlaybookRun(None, MODULE, _args(real, "1")).wait(timeout=600)
    assert (again["verdict"], again["changed"], again["api"]["writes"]) == ("unchanged", False, 0)

    canary = {"traffic": "canary", "canary_size": 1, "wait_interval_seconds": 600,
              "rollback_alarms": real.alarms}
    run = PlaybookRun(None, MODULE, _args(real, "2", canary))
    wait_for(lambda: "Baking" in str(real.sm.describe_endpoint(EndpointName=real.name)
                                     .get("PendingDeploymentSummary")), 3600, "the canary to bake", interval=15)
    real.cw.set_alarm_state(AlarmName=real.alarms[1], StateValue="ALARM", StateReason="fidelity check")
    rolled = run.wait(timeout=3700)
    assert (rolled["verdict"], rolled["reason"]) == ("rolled_back", "rollback_alarm"), rolled["message"]
    assert real.alarms[1] in rolled["message"]
    assert real.sm.describe_endpoint(EndpointName=real.name)["EndpointConfigName"] == created["current"]["revision"]
    # What AWS showed on the way, to compare with testground/aws/README.md.
    print("statuses seen:", [p["status"] for p in rolled["timeline"]])
    print("diagnostics:", rolled["diagnostics"])

    real.cw.set_alarm_state(AlarmName=real.alarms[1], StateValue="OK", StateReason="fidelity check done")
    shipped = PlaybookRun(None, MODULE, _args(real, "3", dict(canary, wait_interval_seconds=60))).wait(timeout=3700)
    assert (shipped["verdict"], shipped["reason"]) == ("complete", "complete"), shipped["message"]
