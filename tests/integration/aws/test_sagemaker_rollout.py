"""sagemaker_endpoint_rollout against the test ground's AWS emulator, as a user runs it.

Every test drives the module through ansible-playbook with real boto3 clients pointed at the
emulator (AWS_URL), and asserts what the emulator holds afterwards (the endpoint's config and
status, the models and configs) and what its request log shows the run did. "During a
deployment" is held open by the deployment itself (a long bake), never by a sleep.
"""

import os

import pytest

from tests.integration.ansible_runner_helpers import PlaybookRun
from tests.integration.conftest import wait_for

MODULE = "modelops.serving.sagemaker_endpoint_rollout"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
ENDPOINT = "llm-prod"
# Seconds, not minutes: the emulator's own steps; the API's bake intervals are given per test.
FAST = dict(create_seconds=0.3, provision_seconds=0.3, shift_seconds=0.1, rollback_seconds=0.3)


def args(image, **over):
    a = {
        "name": ENDPOINT,
        "model": {"image": image, "execution_role_arn": ROLE, "model_data_url": "s3://models/llm/model.tar.gz",
                  "environment": {"MODEL_VERSION": image.rsplit(":", 1)[-1]}},
        "variants": [{"variant_name": "AllTraffic", "instance_type": "ml.g5.xlarge", "instance_count": 4}],
        "poll_max_interval_seconds": 1,
    }
    a.update(over)
    return a


def canary(wait=1, alarms=("llm-prod-5xx",)):
    return {"traffic": "canary", "canary_size": 1, "wait_interval_seconds": wait, "rollback_alarms": list(alarms)}


def start(tmp_path, module_args, **kwargs):
    """ansible-playbook running the module in the background; its progress lines readable as they come."""
    path = str(tmp_path / ("progress-%d.log" % len(os.listdir(tmp_path))))
    run = PlaybookRun(None, MODULE, dict(module_args, progress_file=path), **kwargs)
    run.progress_path = path
    return run


def play(tmp_path, module_args, **kwargs):
    return start(tmp_path, module_args, **kwargs).wait()


@pytest.fixture
def sm(aws):
    aws.emulator.settings(**FAST)
    for name in ("llm-prod-5xx", "llm-prod-latency"):
        aws.client("cloudwatch").put_metric_alarm(
            AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
            Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}])
    return aws.client("sagemaker")


@pytest.fixture
def serving_v1(aws, sm, tmp_path):
    """The endpoint created by the module and InService on v1."""
    r = play(tmp_path, args("repo/llm:v1"))
    assert (r["verdict"], r["reason"]) == ("complete", "complete"), r
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    return r


def endpoint(sm):
    return sm.describe_endpoint(EndpointName=ENDPOINT)


def image_serving(sm):
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint(sm)["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    return model["PrimaryContainer"]["Image"]


def module_writes(aws, mark):
    """Writes the module made after ``mark`` (its requests carry the collection's user agent; the test's do not)."""
    return [e for e in aws.emulator.writes(mark) if "modelops.serving" in e["agent"]]


def contract(r):
    for key in ("changed", "verdict", "reason", "message", "previous", "current", "rolled_back_to", "diagnostics",
                "timeline", "durations"):
        assert key in r, key
    assert set(r["durations"]) == {"change", "rollout", "gate", "rollback", "total"}


def test_canary_with_an_alarm_completes_on_the_new_config(aws, sm, serving_v1, tmp_path):
    run = start(tmp_path, args("repo/llm:v2", deployment=canary()))
    r = run.wait()
    contract(r)
    # The action plugin showed the progress lines live, prefixed with host and endpoint.
    assert "  [localhost sagemaker llm-prod] " in run.output and "Baking" in run.output
    assert (r["verdict"], r["reason"], r["changed"]) == ("complete", "complete", True), r["message"]
    live = endpoint(sm)
    assert (live["EndpointStatus"], live["EndpointConfigName"]) == ("InService", r["current"]["revision"])
    assert image_serving(sm) == "repo/llm:v2" == r["current"]["image"]
    assert r["previous"] == serving_v1["current"] and r["previous"]["image"] == "repo/llm:v1"
    # SageMaker was told to canary with the alarm, and the run saw the new fleet bake.
    assert live["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert live["LastDeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": "llm-prod-5xx"}]
    assert any("Baking" in p["variant_status"] for p in r["timeline"])
    assert all(p["available"] == 4 for p in r["timeline"])  # the old fleet served all along
    assert r["alarms"] == [{"name": "llm-prod-5xx", "state": "OK"}]


def test_second_identical_run_writes_nothing(aws, sm, serving_v1, tmp_path):
    before = endpoint(sm)
    mark = aws.emulator.mark()
    r = play(tmp_path, args("repo/llm:v1"))
    contract(r)
    assert (r["verdict"], r["reason"], r["changed"]) == ("unchanged", "up_to_date", False)
    entries = aws.emulator.requests(mark)[0]
    assert entries, "the run made no request at all"
    assert [e["action"] for e in entries if e["write"]] == []
    assert {e["action"] for e in entries} <= {"DescribeEndpoint", "DescribeEndpointConfig", "DescribeModel"}
    assert endpoint(sm)["LastModifiedTime"] == before["LastModifiedTime"]


def test_alarm_in_alarm_mid_deployment_rolls_back_naming_it_and_fails_the_task(aws, sm, serving_v1, tmp_path):
    cw = aws.client("cloudwatch")
    # A bake of 10 minutes holds the deployment open until the alarm fires.
    run = start(tmp_path, args("repo/llm:v2", deployment=canary(wait=600, alarms=["llm-prod-5xx", "llm-prod-latency"])))
    wait_for(lambda: "Baking" in str(endpoint(sm).get("PendingDeploymentSummary")), 60, "the canary to bake")
    cw.set_alarm_state(AlarmName="llm-prod-latency", StateValue="ALARM", StateReason="p99 above 2 s")
    r = run.wait()
    contract(r)
    assert r["failed"] is True  # the task fails: the new version did not ship
    assert (r["verdict"], r["reason"]) == ("rolled_back", "rollback_alarm")
    assert "llm-prod-latency" in r["message"] and "llm-prod-5xx" not in r["message"]
    live = endpoint(sm)
    assert (live["EndpointStatus"], live["EndpointConfigName"]) == ("InService", serving_v1["current"]["revision"])
    assert image_serving(sm) == "repo/llm:v1"
    assert r["rolled_back_to"] == serving_v1["current"] == r["current"]
    assert r["timeline"][-1]["status"] == "InService"
    assert any("rollback alarm llm-prod-latency is ALARM" in line for line in run.progress_lines())


def test_a_model_that_cannot_start_is_rolled_back_with_sagemakers_reason(aws, sm, serving_v1, tmp_path):
    r = play(tmp_path, args("repo/llm:broken"))
    assert (r["verdict"], r["reason"]) == ("rolled_back", "deployment_failed")
    assert "did not pass the ping health check" in r["message"]
    assert r["diagnostics"][0]["failure_reason"].startswith("The primary container for production variant AllTraffic")
    assert endpoint(sm)["EndpointConfigName"] == serving_v1["current"]["revision"]


def test_an_update_that_leaves_the_endpoint_failed_is_failed(aws, sm, serving_v1, tmp_path):
    aws.emulator.settings(update_failure="failed")
    r = play(tmp_path, args("repo/llm:broken"))
    assert (r["verdict"], r["reason"]) == ("failed", "endpoint_failed")
    assert "is Failed: The primary container" in r["message"]
    assert endpoint(sm)["EndpointStatus"] == "Failed"
    # A re-run does not touch a Failed endpoint: SageMaker allows only DeleteEndpoint on it.
    mark = aws.emulator.mark()
    again = play(tmp_path, args("repo/llm:v2"))
    assert (again["verdict"], again["reason"]) == ("failed", "endpoint_failed")
    assert "only DeleteEndpoint" in again["message"] and module_writes(aws, mark) == []


def test_a_rolling_deployment_whose_rollback_fails_is_update_rollback_failed(aws, sm, serving_v1, tmp_path):
    aws.emulator.settings(rollback_failure=True)
    deployment = {"strategy": "rolling", "maximum_batch_size": 1, "wait_interval_seconds": 600,
                  "rollback_alarms": ["llm-prod-5xx"]}
    run = start(tmp_path, args("repo/llm:v2", deployment=deployment))
    wait_for(lambda: "Baking" in str(endpoint(sm).get("PendingDeploymentSummary")), 60, "the first batch to bake")
    aws.client("cloudwatch").set_alarm_state(AlarmName="llm-prod-5xx", StateValue="ALARM", StateReason="errors")
    r = run.wait()
    assert (r["verdict"], r["reason"]) == ("failed", "rollback_failed")
    assert r["message"].startswith("ROLLBACK FAILED")
    assert endpoint(sm)["EndpointStatus"] == "UpdateRollbackFailed"


def test_check_mode_and_diff_show_the_change_and_write_nothing(aws, sm, serving_v1, tmp_path):
    mark = aws.emulator.mark()
    r = play(tmp_path, args("repo/llm:v2", deployment=canary()), check=True, diff=True)
    assert (r["verdict"], r["reason"], r["changed"]) == ("pending", "check_mode", True)
    assert r["diff"]["before"]["image"] == "repo/llm:v1" and r["diff"]["after"]["image"] == "repo/llm:v2"
    assert r["diff"]["before"]["endpoint_config"] == serving_v1["current"]["revision"]
    assert module_writes(aws, mark) == []
    assert endpoint(sm)["EndpointConfigName"] == serving_v1["current"]["revision"]


@pytest.mark.parametrize("change, message", [
    (lambda a: a["model"].pop("execution_role_arn"), "model.execution_role_arn is required"),
    (lambda a: a["variants"][0].update(instance_type="g5.xlarge"), "is not a SageMaker instance type"),
    (lambda a: a.update(deployment={"traffic": "canary", "canary_size": 1}),
     "traffic canary needs wait_interval_seconds"),
    (lambda a: a.update(deployment=canary(alarms=["no-such-alarm"])), "no CloudWatch alarm named no-such-alarm"),
])
def test_bad_input_is_a_clear_message_before_any_write(aws, sm, serving_v1, tmp_path, change, message):
    a = args("repo/llm:v2")
    change(a)
    mark = aws.emulator.mark()
    run = start(tmp_path, a)
    r = run.wait()
    contract(r)
    assert r["failed"] is True
    assert (r["verdict"], r["reason"]) == ("failed", "invalid_input")
    assert message in r["message"]
    assert module_writes(aws, mark) == []


@pytest.mark.parametrize("connection, message", [
    ({"profile": "no-such-profile"}, "AWS profile 'no-such-profile' not found"),
    ({}, "No AWS credentials found"),
    ({"profile": "broken"}, "The AWS credentials could not be loaded"),
    ({"profile": "refusing"}, "The AWS credentials could not be loaded"),
])
def test_a_connection_that_cannot_be_made_is_a_verdict_before_any_request(
        aws, sm, serving_v1, tmp_path, monkeypatch, connection, message):
    # A config with another profile only, and no keys in the environment: what a laptop with the
    # wrong AWS_PROFILE, or a runner without a role, looks like.
    config = tmp_path / "aws-config"
    config.write_text("[profile someone-else]\nregion = us-east-1\n"
                      "[profile broken]\ncredential_process = /nonexistent/credential-helper\n"
                      "[profile refusing]\ncredential_process = /bin/false\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(config),
           "AWS_EC2_METADATA_DISABLED": "true"}
    mark = aws.emulator.mark()
    r = play(tmp_path, args("repo/llm:v2", **connection), extra_env=env)
    contract(r)
    assert (r["failed"], r["changed"], r["verdict"], r["reason"]) == (True, False, "failed", "invalid_input")
    assert message in r["message"]
    assert aws.emulator.requests(mark)[0] == []
    info = PlaybookRun(None, "modelops.serving.sagemaker_endpoint_info", dict(name=ENDPOINT, **connection),
                       extra_env=env).wait()
    assert info["failed"] is True and message in info["msg"] and info["endpoints"] == []
    assert endpoint(sm)["EndpointConfigName"] == serving_v1["current"]["revision"]


def test_an_update_in_progress_started_by_someone_else_is_refused_or_waited_for(aws, sm, serving_v1, tmp_path):
    # Someone else's update, held open by a long bake.
    foreign = "someone-elses-config"
    sm.create_model(ModelName="someone-elses-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "repo/llm:v9"})
    sm.create_endpoint_config(EndpointConfigName=foreign, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "someone-elses-model", "InstanceType": "ml.g5.xlarge",
        "InitialInstanceCount": 4}])
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=foreign, DeploymentConfig={
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "llm-prod-5xx"}]}})
    mark = aws.emulator.mark()
    refused = play(tmp_path, args("repo/llm:v2", on_in_progress="refuse"))
    assert (refused["verdict"], refused["reason"]) == ("failed", "in_progress")
    assert "Updating toward %s" % foreign in refused["message"]
    assert module_writes(aws, mark) == []

    waiting = start(tmp_path, args("repo/llm:v2"))
    assert waiting.wait_for_progress(lambda line: "not started by this run" in line)
    # The other update ends (its alarm rolls it back); then this run decides again and ships v2.
    aws.client("cloudwatch").set_alarm_state(AlarmName="llm-prod-5xx", StateValue="ALARM", StateReason="theirs")
    wait_for(lambda: endpoint(sm)["EndpointStatus"] == "InService", 60, "the other update to roll back")
    aws.client("cloudwatch").set_alarm_state(AlarmName="llm-prod-5xx", StateValue="OK", StateReason="recovered")
    r = waiting.wait()
    assert r["verdict"] == "complete", r["message"]
    assert image_serving(sm) == "repo/llm:v2"
    updates = [e for e in aws.emulator.requests(mark)[0] if e["action"] == "UpdateEndpoint"]
    assert [u["status"] for u in updates] == [200]  # one update, after the other had finished


def test_an_interrupted_run_is_resumed_by_the_next_without_a_second_update(aws, sm, serving_v1, tmp_path):
    cw = aws.client("cloudwatch")
    first = start(tmp_path, args("repo/llm:v2", deployment=canary(wait=600)))
    wait_for(lambda: "Baking" in str(endpoint(sm).get("PendingDeploymentSummary")), 60, "the canary to bake")
    first.kill()
    mark = aws.emulator.mark()
    second = start(tmp_path, args("repo/llm:v2", deployment=canary(wait=600)))
    assert second.wait_for_progress(lambda line: "an earlier run started it" in line)
    cw.set_alarm_state(AlarmName="llm-prod-5xx", StateValue="ALARM", StateReason="errors")
    r = second.wait()
    assert (r["verdict"], r["reason"], r["resumed"]) == ("rolled_back", "rollback_alarm", True)
    assert module_writes(aws, mark) == []


def test_secrets_never_show_even_with_vvv(aws, sm, serving_v1, tmp_path):
    secret = "hf_Secret_Token_7f3a9c1e5b"
    a = args("repo/llm:v2")
    a["model"]["secret_environment"] = {"HF_TOKEN": secret}
    run = start(tmp_path, a, verbosity=3, diff=True)
    r = run.wait()
    assert r["verdict"] == "complete", r["message"]
    assert secret not in run.output and secret not in repr(r)
    # It did reach SageMaker.
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint(sm)["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["Environment"]["HF_TOKEN"] == secret


def test_keep_versions_cleans_up_superseded_versions(aws, sm, serving_v1, tmp_path):
    for version in ("v2", "v3"):
        assert play(tmp_path, args("repo/llm:" + version))["verdict"] == "complete"
    r = play(tmp_path, args("repo/llm:v4", keep_versions=2))
    assert r["verdict"] == "complete"
    names = sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"])
    assert names == sorted(r["cleanup"]["kept"]) and r["current"]["revision"] in names and len(names) == 2
    assert len(r["cleanup"]["deleted_endpoint_configs"]) == 2 and len(r["cleanup"]["deleted_models"]) == 2
    assert len(sm.list_models()["Models"]) == 2


def test_info_reports_what_serves_a_deployment_in_progress_and_the_versions(aws, sm, serving_v1, tmp_path):
    run = start(tmp_path, args("repo/llm:v2", deployment=canary(wait=600)))
    wait_for(lambda: "Baking" in str(endpoint(sm).get("PendingDeploymentSummary")), 60, "the canary to bake")
    info = PlaybookRun(None, "modelops.serving.sagemaker_endpoint_info", {"name": ENDPOINT}).wait()
    (e,) = info["endpoints"]
    assert (e["status"], e["image"], e["in_progress"]) == ("Updating", "repo/llm:v1", True)
    assert e["endpoint_config"] == serving_v1["current"]["revision"]
    assert e["pending"]["endpoint_config"] != e["endpoint_config"]
    assert e["models"][0]["environment_keys"] == ["MODEL_VERSION"] and "environment" not in e["models"][0]
    assert [v["endpoint_config"] for v in e["versions"]][-1] == serving_v1["current"]["revision"]
    aws.client("cloudwatch").set_alarm_state(AlarmName="llm-prod-5xx", StateValue="ALARM", StateReason="end it")
    assert run.wait()["verdict"] == "rolled_back"
