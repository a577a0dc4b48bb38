"""The run's decisions against a fake SageMaker: what is read, what is written, what is refused.

The fake answers like the API (ValidationException for what does not exist, or for an update
of an endpoint in progress) and moves the endpoint along a script, one step per DescribeEndpoint.
The real state machine is exercised against the test ground's emulator in tests/integration.
"""

import copy

import pytest
from botocore.exceptions import ClientError

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.rollout import EndpointRollout

ROLE = "arn:aws:iam::123456789012:role/sm"
WRITES = ("create_model", "create_endpoint_config", "create_endpoint", "update_endpoint", "delete_endpoint_config",
          "delete_model")


def error(message, code="ValidationException"):
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class FakeSageMaker:
    def __init__(self):
        self.models, self.configs, self.endpoint, self.tags = {}, {}, None, {}
        self.calls = []
        self.script = []      # answers DescribeEndpoint gives next, one per call
        self.update_error = None

    def _log(self, name, kwargs):
        assert kwargs.pop("aws_retry") is True
        self.calls.append((name, kwargs))

    def writes(self):
        return [c for c in self.calls if c[0] in WRITES]

    def describe_endpoint(self, **kw):
        self._log("describe_endpoint", kw)
        if self.script:
            step = self.script.pop(0)
            self.endpoint = step(self.endpoint) if callable(step) else step
        if self.endpoint is None:
            raise error('Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/llm".')
        return copy.deepcopy(self.endpoint)

    def describe_model(self, **kw):
        self._log("describe_model", kw)
        if kw["ModelName"] not in self.models:
            raise error("Could not find model 'arn:...'.")
        return self.models[kw["ModelName"]]

    def describe_endpoint_config(self, **kw):
        self._log("describe_endpoint_config", kw)
        if kw["EndpointConfigName"] not in self.configs:
            raise error('Could not find endpoint configuration "arn:...".')
        return self.configs[kw["EndpointConfigName"]]

    def create_model(self, **kw):
        self._log("create_model", kw)
        arn = "arn:aws:sagemaker:us-east-1:123456789012:model/" + kw["ModelName"]
        self.models[kw["ModelName"]] = dict(kw, ModelArn=arn)
        self.tags[arn] = kw.get("Tags", [])

    def create_endpoint_config(self, **kw):
        self._log("create_endpoint_config", kw)
        arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/" + kw["EndpointConfigName"]
        self.configs[kw["EndpointConfigName"]] = dict(kw, EndpointConfigArn=arn, CreationTime=len(self.configs))
        self.tags[arn] = kw.get("Tags", [])

    def create_endpoint(self, **kw):
        self._log("create_endpoint", kw)
        self.endpoint = {"EndpointName": kw["EndpointName"], "EndpointStatus": "Creating",
                         "EndpointConfigName": kw["EndpointConfigName"]}

    def update_endpoint(self, **kw):
        self._log("update_endpoint", kw)
        if self.update_error:
            err, self.update_error = self.update_error, None
            raise err
        self.endpoint = dict(self.endpoint, EndpointStatus="Updating",
                             PendingDeploymentSummary={"EndpointConfigName": kw["EndpointConfigName"]})

    def list_endpoint_configs(self, **kw):
        self._log("list_endpoint_configs", kw)
        return {"EndpointConfigs": [{"EndpointConfigName": n, "CreationTime": c["CreationTime"]}
                                    for n, c in self.configs.items() if kw["NameContains"] in n]}

    def list_tags(self, **kw):
        self._log("list_tags", kw)
        return {"Tags": self.tags.get(kw["ResourceArn"], [])}

    def delete_endpoint_config(self, **kw):
        self._log("delete_endpoint_config", kw)
        del self.configs[kw["EndpointConfigName"]]

    def delete_model(self, **kw):
        self._log("delete_model", kw)
        del self.models[kw["ModelName"]]


class FakeCloudWatch:
    def __init__(self, alarms=None):
        self.alarms = dict(alarms or {})
        self.calls = 0

    def describe_alarms(self, aws_retry, AlarmNames):
        self.calls += 1
        return {"MetricAlarms": [{"AlarmName": n, "StateValue": self.alarms[n]} for n in AlarmNames
                                 if n in self.alarms]}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def params(image="repo/llm:v1", **over):
    p = {"name": "llm", "model": {"image": image, "execution_role_arn": ROLE, "environment": {},
                                  "secret_environment": {}, "model_data_url": None, "enable_network_isolation": False},
         "variants": [{"variant_name": "AllTraffic", "instance_type": "ml.g5.xlarge", "instance_count": 2,
                       "weight": 1.0, "serverless": None, "container_startup_health_check_timeout_seconds": None,
                       "model_data_download_timeout_seconds": None}],
         "deployment": None, "on_in_progress": "wait", "wait_timeout": None, "poll_max_interval_seconds": 5.0,
         "keep_versions": None, "tags": {}}
    p.update(over)
    return p


def run(sm, p, cw=None, check_mode=False):
    clock = Clock()
    lines = []
    r = EndpointRollout(sm, cw or FakeCloudWatch(), p, check_mode=check_mode, progress=lines.append, clock=clock,
                        sleep=clock.sleep).run()
    r["_lines"] = lines
    return r


def in_service(sm):
    """Put the endpoint in service on what params() describes, as an earlier run would have."""
    sm.script = [lambda e: e, lambda e: dict(e, EndpointStatus="InService")]
    r = run(sm, params())
    assert r["verdict"] == "complete", r
    sm.calls = []
    return r["current"]["revision"]


def test_first_run_creates_model_config_and_endpoint_then_complete():
    sm = FakeSageMaker()
    sm.script = [None, lambda e: e, lambda e: dict(e, EndpointStatus="InService")]
    r = run(sm, params())
    assert [c[0] for c in sm.writes()] == ["create_model", "create_endpoint_config", "create_endpoint"]
    assert (r["verdict"], r["reason"], r["changed"]) == ("complete", "complete", True)
    assert r["current"] == {"revision": sm.endpoint["EndpointConfigName"], "image": "repo/llm:v1"}
    assert r["previous"] == {"revision": None, "image": None}
    assert [t["status"] for t in r["timeline"]] == ["Creating", "InService"]


def test_second_identical_run_reads_only():
    sm = FakeSageMaker()
    config = in_service(sm)
    r = run(sm, params())
    assert (r["verdict"], r["reason"], r["changed"]) == ("unchanged", "up_to_date", False)
    assert sm.writes() == [] and r["api"]["writes"] == 0
    assert r["previous"] == r["current"] == {"revision": config, "image": "repo/llm:v1"}


def test_an_equivalent_config_made_by_someone_else_counts_as_up_to_date():
    sm = FakeSageMaker()
    sm.models["handmade"] = {"ModelName": "handmade", "ModelArn": "arn:m", "ExecutionRoleArn": ROLE,
                             "PrimaryContainer": {"Image": "repo/llm:v1"}}
    sm.configs["handmade-config"] = {"ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "handmade", "InstanceType": "ml.g5.xlarge",
         "InitialInstanceCount": 2, "InitialVariantWeight": 1.0}]}
    sm.endpoint = {"EndpointName": "llm", "EndpointStatus": "InService", "EndpointConfigName": "handmade-config"}
    r = run(sm, params())
    assert (r["verdict"], r["changed"]) == ("unchanged", False) and sm.writes() == []
    assert "equivalent" in r["message"]


def test_update_rolled_back_by_an_alarm_names_it_and_fails():
    sm = FakeSageMaker()
    old = in_service(sm)
    cw = FakeCloudWatch({"llm-5xx": "OK", "llm-p99": "OK"})

    def alarm(e):
        cw.alarms["llm-5xx"] = "ALARM"
        return dict(e, EndpointStatus="RollingBack")

    sm.script = [lambda e: e, lambda e: e, alarm, lambda e: dict(e, EndpointStatus="InService")]
    p = params(image="repo/llm:v2", deployment={"strategy": "blue_green", "traffic": "all_at_once",
                                                "wait_interval_seconds": 60, "rollback_alarms": ["llm-5xx", "llm-p99"]})
    r = run(sm, p, cw)
    assert (r["verdict"], r["reason"]) == ("rolled_back", "rollback_alarm")
    assert "llm-5xx" in r["message"] and "llm-p99" not in r["message"]
    assert r["rolled_back_to"] == {"revision": old, "image": "repo/llm:v1"}
    assert r["current"] == {"revision": old, "image": "repo/llm:v1"}
    assert r["diagnostics"][0]["alarms_fired"] == ["llm-5xx"]
    assert [c[0] for c in sm.writes()] == ["create_model", "create_endpoint_config", "update_endpoint"]
    update = sm.writes()[-1][1]
    assert update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"][0] == {"AlarmName": "llm-5xx"}
    assert r["durations"]["rollback"] > 0


def test_a_missing_alarm_or_one_already_in_alarm_stops_before_any_write():
    sm = FakeSageMaker()
    in_service(sm)
    deployment = {"strategy": "blue_green", "traffic": "all_at_once", "rollback_alarms": ["nope"]}
    r = run(sm, params(image="repo/llm:v2", deployment=deployment), FakeCloudWatch({}))
    assert (r["verdict"], r["reason"]) == ("failed", "invalid_input")
    assert "no CloudWatch alarm named nope" in r["message"] and sm.writes() == []
    r = run(sm, params(image="repo/llm:v2", deployment=deployment), FakeCloudWatch({"nope": "ALARM"}))
    assert "is in ALARM already" in r["message"] and sm.writes() == []


def test_an_update_in_progress_by_someone_else_is_refused_without_a_write():
    sm = FakeSageMaker()
    in_service(sm)
    sm.endpoint = dict(sm.endpoint, EndpointStatus="Updating",
                       PendingDeploymentSummary={"EndpointConfigName": "someone-elses"})
    r = run(sm, params(image="repo/llm:v2", on_in_progress="refuse"))
    assert (r["verdict"], r["reason"]) == ("failed", "in_progress")
    assert "Updating toward someone-elses" in r["message"] and sm.writes() == []


def test_an_update_in_progress_by_someone_else_is_waited_for_then_decided_again():
    sm = FakeSageMaker()
    in_service(sm)
    sm.endpoint = dict(sm.endpoint, EndpointStatus="Updating",
                       PendingDeploymentSummary={"EndpointConfigName": "someone-elses"})
    sm.script = [lambda e: e, lambda e: e, lambda e: dict(e, EndpointStatus="InService"),
                 lambda e: e, lambda e: e, lambda e: dict(e, EndpointStatus="InService",
                                                          EndpointConfigName=e["PendingDeploymentSummary"]
                                                          ["EndpointConfigName"])]
    r = run(sm, params(image="repo/llm:v2"))
    assert r["verdict"] == "complete", r
    assert [c[0] for c in sm.writes()] == ["create_model", "create_endpoint_config", "update_endpoint"]
    assert any("not started by this run" in line for line in r["_lines"])


def test_a_run_finding_its_own_target_in_progress_resumes_without_a_write():
    sm = FakeSageMaker()
    in_service(sm)
    first = params(image="repo/llm:v2")
    sm.update_error = None
    sm.script = [lambda e: e]  # the first run is cut off after its update
    r = run(sm, dict(first, wait_timeout=1, poll_max_interval_seconds=5.0))
    assert r["reason"] == "timeout" and "Run again to resume" in r["message"]
    sm.calls = []
    sm.script = [lambda e: e, lambda e: dict(e, EndpointStatus="InService",
                                             EndpointConfigName=e["PendingDeploymentSummary"]["EndpointConfigName"])]
    r = run(sm, first)
    assert (r["verdict"], r["resumed"]) == ("complete", True)
    assert sm.writes() == []


def test_an_update_raced_by_another_is_never_stacked():
    sm = FakeSageMaker()
    in_service(sm)
    sm.update_error = error('Cannot update in-progress endpoint "arn:aws:sagemaker:...:endpoint/llm".')
    r = run(sm, params(image="repo/llm:v2", on_in_progress="refuse"))
    assert (r["verdict"], r["reason"]) == ("failed", "in_progress")
    assert [c[0] for c in sm.writes()] == ["create_model", "create_endpoint_config", "update_endpoint"]


def test_a_failed_endpoint_is_not_touched():
    sm = FakeSageMaker()
    sm.endpoint = {"EndpointName": "llm", "EndpointStatus": "Failed", "EndpointConfigName": "x",
                   "FailureReason": "ping health check"}
    r = run(sm, params())
    assert (r["verdict"], r["reason"]) == ("failed", "endpoint_failed")
    assert "only DeleteEndpoint" in r["message"] and sm.writes() == []


def test_check_mode_reads_and_shows_the_diff_without_writing():
    sm = FakeSageMaker()
    in_service(sm)
    r = run(sm, params(image="repo/llm:v2", model=dict(params()["model"], image="repo/llm:v2",
                                                       secret_environment={"TOKEN": "s3cr3t"})), check_mode=True)
    assert (r["verdict"], r["reason"], r["changed"]) == ("pending", "check_mode", True)
    assert r["diff"]["before"]["image"] == "repo/llm:v1" and r["diff"]["after"]["image"] == "repo/llm:v2"
    assert r["diff"]["after"]["environment"] == {"TOKEN": "(secret)"}
    assert "s3cr3t" not in repr(r)
    assert sm.writes() == []


def test_keep_versions_deletes_only_superseded_versions_this_module_tagged():
    sm = FakeSageMaker()
    in_service(sm)
    for version in ("v2", "v3"):
        sm.script = [lambda e: e, lambda e: e, lambda e: dict(
            e, EndpointStatus="InService", EndpointConfigName=e["PendingDeploymentSummary"]["EndpointConfigName"])]
        r = run(sm, params(image="repo/llm:" + version))
        assert r["verdict"] == "complete"
    sm.configs["llm-c-0123456789"] = {"EndpointConfigArn": "arn:handmade", "CreationTime": -1,
                                      "ProductionVariants": []}  # our name pattern, not our tags
    sm.script = [lambda e: e, lambda e: e, lambda e: dict(
        e, EndpointStatus="InService", EndpointConfigName=e["PendingDeploymentSummary"]["EndpointConfigName"])]
    r = run(sm, params(image="repo/llm:v4", keep_versions=2))
    assert r["verdict"] == "complete"
    deleted = r["cleanup"]["deleted_endpoint_configs"]
    assert len(deleted) == 2 and r["current"]["revision"] not in deleted
    assert "llm-c-0123456789" in sm.configs  # not tagged by this module: kept
    assert len(r["cleanup"]["deleted_models"]) == 2
    assert set(r["cleanup"]["kept"]) == {r["current"]["revision"], r["previous"]["revision"]}


@pytest.mark.parametrize("over, message", [
    (dict(variants=[]), "variants must list at least one"),
    (dict(deployment={"strategy": "blue_green", "traffic": "canary", "canary_size": 1, "rollback_alarms": []}),
     "needs wait_interval_seconds"),
])
def test_bad_input_stops_before_any_call(over, message):
    sm = FakeSageMaker()
    r = run(sm, params(**over))
    assert (r["verdict"], r["reason"]) == ("failed", "invalid_input") and message in r["message"]
    assert sm.calls == []
    for key in ("changed", "verdict", "reason", "message", "previous", "current", "rolled_back_to", "diagnostics",
                "timeline", "durations"):
        assert key in r
