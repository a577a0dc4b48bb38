"""A mixed fleet: two test-ground clusters and two SageMaker endpoints on the test ground's AWS emulator, rolled
by playbooks/rollout.yml in the same waves, with one report; status.yml and rollback.yml on the same inventory.

Each endpoint is in its own region, so the emulator's request log (which records the region of every request)
tells what the run did to each. "During a deployment" is held open by the deployment's own bake (a wait interval
of ten minutes), never by a sleep.
"""

import os

import pytest
import yaml

from tests.helpers.kube import wait_for
from tests.integration.fleet_site import PlaybookProcess, Site, env_for, picture_rows, recap, run_playbook
from testground.cluster import Fleet

PREFIX = "fs-"
CLUSTERS = ["tg1", "tg2"]
ENDPOINTS = {"sm1": ("llm-a", "us-east-1"), "sm2": ("llm-b", "eu-west-1")}
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
FAST = dict(create_seconds=0.3, provision_seconds=0.3, shift_seconds=0.1, rollback_seconds=0.3)
SAGEMAKER_WRITES = ("CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint")


@pytest.fixture(scope="module")
def fleet():
    f = Fleet([PREFIX + c for c in CLUSTERS], cpu_nodes=1, gpu_nodes=0).start()
    yield f
    f.stop()


class Endpoints:
    """Two endpoints InService on repo/llm:v1, made directly through the API (as another tool would have)."""

    def __init__(self, emulator):
        self.emulator = emulator
        emulator.reset()
        emulator.settings(**FAST)
        for host, (name, region) in ENDPOINTS.items():
            sm = self.sm(host)
            sm.create_model(ModelName=name + "-v1", ExecutionRoleArn=ROLE,
                            PrimaryContainer={"Image": "repo/llm:v1", "ModelDataUrl": "s3://models/llm/model.tar.gz"})
            sm.create_endpoint_config(EndpointConfigName=name + "-v1", ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": name + "-v1", "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 2}])
            sm.create_endpoint(EndpointName=name, EndpointConfigName=name + "-v1")
            self.cloudwatch(host).put_metric_alarm(
                AlarmName=name + "-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistic="Sum",
                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                Dimensions=[{"Name": "EndpointName", "Value": name}])
        for host in ENDPOINTS:
            wait_for(lambda: self.describe(host)["EndpointStatus"] == "InService", 60, "%s in service" % host)
        self.mark = emulator.mark()

    def sm(self, host):
        return self.emulator.client("sagemaker", ENDPOINTS[host][1])

    def cloudwatch(self, host):
        return self.emulator.client("cloudwatch", ENDPOINTS[host][1])

    def describe(self, host):
        return self.sm(host).describe_endpoint(EndpointName=ENDPOINTS[host][0])

    def image(self, host):
        sm = self.sm(host)
        config = sm.describe_endpoint_config(EndpointConfigName=self.describe(host)["EndpointConfigName"])
        return sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])["PrimaryContainer"]["Image"]

    def writes(self, host):
        """The SageMaker writes in the endpoint's region since the endpoints were made."""
        region = ENDPOINTS[host][1]
        return [e["action"] for e in self.emulator.writes(self.mark) if e["region"] == region
                and e["service"] == "sagemaker"]


def inventory(site, order, host_vars=None, wait_interval=1):
    """Clusters and endpoints in one inventory; ``order`` is the order of the hosts, so of the waves."""
    hosts = {}
    for host in order:
        if host in ENDPOINTS:
            name, region = ENDPOINTS[host]
            hosts[host] = {
                "sagemaker_endpoint_name": name, "sagemaker_region": region,
                "sagemaker_model": {"execution_role_arn": ROLE, "model_data_url": "s3://models/llm/model.tar.gz"},
                "sagemaker_variants": [{"variant_name": "AllTraffic", "instance_type": "ml.g5.xlarge",
                                        "instance_count": 2}],
                "sagemaker_deployment": {"traffic": "canary", "canary_size": 1, "wait_interval_seconds": wait_interval,
                                         "rollback_alarms": [name + "-5xx"]},
                "sagemaker_poll_max_interval_seconds": 1,
            }
        else:
            hosts[host] = {}
        hosts[host].update((host_vars or {}).get(host) or {})
    inv = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "model_server_kubeconfig": "{{ lookup('ansible.builtin.env', 'TESTGROUND_KUBECONFIG') }}",
                 "model_server_context": "{{ lookup('ansible.builtin.env', 'TESTGROUND_CONTEXT_PREFIX') }}"
                                         "{{ inventory_hostname }}",
                 "model_server_image": "repo/llm:v2"},
        "hosts": hosts,
        "children": {"endpoints": {"hosts": dict((h, None) for h in order if h in ENDPOINTS)},
                     "clusters": {"hosts": dict((h, None) for h in order if h not in ENDPOINTS)}}}}
    path = os.path.join(site.report_dir, "mixed.yml")
    with open(path, "w") as f:
        yaml.safe_dump(inv, f, sort_keys=False)
    return path


@pytest.fixture
def mixed(fleet, aws_emulator):
    site = Site(fleet, clusters=CLUSTERS, prefix=PREFIX)
    endpoints = Endpoints(aws_emulator)
    env = env_for(fleet, prefix=PREFIX, **aws_emulator.environ())
    return site, endpoints, env


def extravars(site, **more):
    v = site.extravars(rollout_waves=[1, "100%"])
    v.update(more)
    return v


def test_one_run_rolls_clusters_and_endpoints_in_the_same_waves_and_one_report_tells_it(mixed):
    site, endpoints, env = mixed
    # sm2 serves from its own registry; its image follows the run's version
    secret = "hf_s3cr3t_" + os.urandom(4).hex()
    model = {"execution_role_arn": ROLE, "model_data_url": "s3://models/llm/model.tar.gz",
             "secret_environment": {"HF_TOKEN": secret}}
    inv = inventory(site, ["tg1", "sm1", "tg2", "sm2"], {
        "sm1": {"sagemaker_model": model},
        "sm2": {"sagemaker_image": "ecr.example/llm:{{ model_server_image.split(':')[-1] }}"}})
    rc, out = run_playbook(None, "rollout.yml", extravars(site), ["-v"], env=env, inventory=inv)
    assert rc == 0, out
    # the endpoint got its secret; no output of the run, verbose as it is, nor its report shows it
    assert secret not in out
    with open(site.reports()[0]) as f:
        assert secret not in f.read()
    for c in CLUSTERS:
        assert site.complete(c, "repo/llm:v2"), c
    config = endpoints.sm("sm1").describe_endpoint_config(
        EndpointConfigName=endpoints.describe("sm1")["EndpointConfigName"])
    assert endpoints.sm("sm1").describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])[
        "PrimaryContainer"]["Environment"]["HF_TOKEN"] == secret
    for host, image in (("sm1", "repo/llm:v2"), ("sm2", "ecr.example/llm:v2")):
        live = endpoints.describe(host)
        assert live["EndpointStatus"] == "InService" and live["EndpointConfigName"] != ENDPOINTS[host][0] + "-v1"
        assert endpoints.image(host) == image
        assert live["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
        assert endpoints.writes(host).count("UpdateEndpoint") == 1
        # the run's provenance on the version it made
        config = endpoints.sm(host).describe_endpoint_config(EndpointConfigName=live["EndpointConfigName"])
        tags = dict((t["Key"], t["Value"]) for t in endpoints.sm(host).list_tags(
            ResourceArn=config["EndpointConfigArn"])["Tags"])
        assert tags["modelops.serving/fleet-run"].startswith("rollout ") and (" %s " % host) in tags[
            "modelops.serving/fleet-run"]
    # live progress of the endpoints, prefixed with host and endpoint
    assert "[sm1 sagemaker llm-a] " in out and "Baking" in out

    report = site.report()
    by = report["by_cluster"]
    assert report["outcome"] == "succeeded" and report["failed_clusters"] == []
    assert [(w["wave"], w["clusters"], w["state"]) for w in report["waves"]] == [
        (1, ["tg1"], "done"), (2, ["sm1", "sm2", "tg2"], "done")]
    for host in ENDPOINTS:
        r = by[host]
        live = endpoints.describe(host)
        assert (r["platform"], r["verdict"], r["stage"]) == ("sagemaker", "complete", "change")
        assert r["endpoint"] == {"name": ENDPOINTS[host][0], "region": ENDPOINTS[host][1]}
        assert r["from"] == {"image": "repo/llm:v1", "revision": ENDPOINTS[host][0] + "-v1"}
        assert r["to"] == {"image": endpoints.image(host), "revision": live["EndpointConfigName"]}
        assert r["desired"] == 2 and r["timeline"][-1]["ready_target"] == 2 and r["timeline"][-1]["ready_previous"] == 0
        # the old fleet served all along, beside the new one while it baked
        assert all(p["ready_previous"] == 2 for p in r["timeline"] if p.get("status") == "Updating")
        assert r["started_at"] >= by["tg1"]["ended_at"]
    assert by["tg1"]["platform"] == "kubernetes"
    rows = picture_rows(report)
    assert rows["sm1"]["unit"] == "instances" and rows["tg1"]["unit"] == "pods"
    assert "SageMaker endpoint llm-a us-east-1" in rows["sm1"]["title"]
    assert os.path.getsize(report["path"][:-5] + ".png") > 10000
    assert "rollout of repo/llm:v2: succeeded" not in out  # sm2 had an image of its own
    assert "succeeded, 4 of 4 clusters and endpoints done" in out

    # a second identical run writes nothing to either kind
    before, mark = site.versions(), endpoints.emulator.mark()
    rc, out = run_playbook(None, "rollout.yml", extravars(site), env=env, inventory=inv)
    assert rc == 0, out
    assert site.versions() == before
    assert [e["action"] for e in endpoints.emulator.writes(mark)] == []

    # status.yml shows both kinds; rollback.yml rolls the clusters back and leaves the endpoints, saying so
    rc, out = run_playbook(None, "status.yml", extravars(site), env=env, inventory=inv)
    assert rc == 0, out
    assert "tg1  repo/llm:v2  2  complete" in out
    assert "sm1  repo/llm:v2  %s  complete  (SageMaker endpoint llm-a)" % endpoints.describe("sm1")[
        "EndpointConfigName"] in out
    mark = endpoints.emulator.mark()
    rc, out = run_playbook(None, "rollback.yml", extravars(site), env=env, inventory=inv)
    assert rc == 0, out
    assert site.complete("tg1", "repo/llm:v1") and site.complete("tg2", "repo/llm:v1")
    assert endpoints.emulator.writes(mark) == [] and endpoints.image("sm1") == "repo/llm:v2"
    back = site.report("rollback")
    assert back["outcome"] == "succeeded"
    assert [(r["cluster"], r["verdict"], r["reason"]) for r in back["clusters"] if r["platform"] == "sagemaker"] == [
        ("sm1", "skipped", "not_supported"), ("sm2", "skipped", "not_supported")]
    assert "rollback.yml rolls back clusters only" in out and "2 skipped (sm1, sm2)" in out


def test_an_endpoint_rolled_back_by_its_alarm_in_wave_1_stops_the_fleet_before_wave_2(mixed):
    site, endpoints, env = mixed
    before = site.versions()
    # A bake of ten minutes holds the canary open until the alarm fires.
    inv = inventory(site, ["sm1", "tg1", "sm2", "tg2"], wait_interval=600)
    run = PlaybookProcess(None, "rollout.yml", extravars(site), env=env, inventory=inv)
    wait_for(lambda: "Baking" in str(endpoints.describe("sm1").get("PendingDeploymentSummary")), 120, "sm1's canary")
    endpoints.cloudwatch("sm1").set_alarm_state(AlarmName="llm-a-5xx", StateValue="ALARM", StateReason="5xx above 1")
    rc, out = run.wait()
    assert rc == 2, out
    live = endpoints.describe("sm1")
    assert (live["EndpointStatus"], live["EndpointConfigName"]) == ("InService", "llm-a-v1")
    assert endpoints.writes("sm2") == [] and endpoints.describe("sm2")["EndpointConfigName"] == "llm-b-v1"
    assert site.versions() == before

    report = site.report()
    by = report["by_cluster"]
    assert report["outcome"] == "failed"
    assert [(f["cluster"], f["stage"], f["verdict"], f["reason"]) for f in report["failed_clusters"]] == [
        ("sm1", "change", "rolled_back", "rollback_alarm")]
    assert "llm-a-5xx" in by["sm1"]["message"]
    assert by["sm1"]["rolled_back_to"] == {"revision": "llm-a-v1", "image": "repo/llm:v1"}
    # back on the old fleet at the end (SageMaker's RollingBack may be too short to be seen between two polls)
    last = by["sm1"]["timeline"][-1]
    assert (last["status"], last["ready_previous"], last["ready_target"]) == ("InService", 2, 0)
    for host in ("tg1", "sm2", "tg2"):
        assert (by[host]["verdict"], by[host]["planned_wave"]) == ("not_started", 2), host
        assert "the run stopped when sm1 (change, rollback_alarm) failed" in by[host]["message"]
    rows = picture_rows(report)
    assert rows["sm1"]["failure"]["label"] == "change: rollback_alarm"
    assert (rows["sm2"]["unit"], rows["tg1"]["unit"]) == ("instances", "pods")
    assert "sm2 (SageMaker endpoint llm-b)" in rows["sm2"]["title"] and by["sm2"]["platform"] == "sagemaker"
    assert "Rolled back to revision llm-a-v1 (repo/llm:v1). No later wave starts." in out
    assert_failed(out, ["sm1"], ["tg1", "sm2", "tg2"])


def test_a_cluster_failing_in_wave_1_leaves_every_endpoint_untouched_its_own_wave_too(mixed):
    site, endpoints, env = mixed
    before = site.versions()
    # wave 1 is tg1 and sm1: the endpoints' changes come after the clusters', so sm1 is not started once tg1 failed
    inv = inventory(site, ["tg1", "sm1", "sm2", "tg2"], {"tg1": {"model_server_image": "repo/llm:crash"}})
    rc, out = run_playbook(None, "rollout.yml", extravars(site, rollout_waves=[2, "100%"]), env=env, inventory=inv)
    assert rc == 2, out
    assert site.complete("tg1", "repo/llm:v1")  # model_rollout put back what served
    assert site.versions()["tg2"] == before["tg2"]
    assert endpoints.writes("sm1") == [] and endpoints.writes("sm2") == []
    assert endpoints.describe("sm1")["EndpointConfigName"] == "llm-a-v1"
    report = site.report()
    assert [(f["cluster"], f["stage"]) for f in report["failed_clusters"]] == [("tg1", "change")]
    assert [(r["cluster"], r["wave"], r["verdict"]) for r in report["clusters"]] == [
        ("sm1", 1, "not_started"), ("tg1", 1, "rolled_back"), ("sm2", None, "not_started"),
        ("tg2", None, "not_started")]
    assert report["by_cluster"]["sm1"]["message"] == ("not started (planned for wave 1): the run stopped when tg1 "
                                                      "(change, crash_loop) failed")
    assert_failed(out, ["tg1"], ["sm1", "sm2", "tg2"])


def test_an_endpoint_that_fails_its_preflight_stops_its_wave_before_anything_in_it_changes(mixed):
    site, endpoints, env = mixed
    before = site.versions()
    # wave 2: tg2 would pass; sm2 names an alarm that does not exist
    inv = inventory(site, ["tg1", "sm2", "tg2", "sm1"], {"sm2": {"sagemaker_deployment": {
        "traffic": "canary", "canary_size": 1, "wait_interval_seconds": 1, "rollback_alarms": ["no-such-alarm"]}}})
    rc, out = run_playbook(None, "rollout.yml", extravars(site), env=env, inventory=inv)
    assert rc == 2, out
    assert site.complete("tg1", "repo/llm:v2") and site.versions()["tg2"] == before["tg2"]
    assert endpoints.writes("sm1") == [] and endpoints.writes("sm2") == []
    by = site.report()["by_cluster"]
    assert (by["sm2"]["verdict"], by["sm2"]["stage"], by["sm2"]["reason"]) == ("failed", "preflight", "invalid_input")
    assert "no-such-alarm" in by["sm2"]["message"]
    for host in ("tg2", "sm1"):
        assert (by[host]["verdict"], by[host]["reason"]) == ("not_started", "wave_refused"), host
    assert "sm2: preflight failed (invalid_input)" in out
    assert_failed(out, ["sm2"], ["tg1", "tg2", "sm1"])


def assert_failed(out, failed, passed):
    counts = recap(out)
    for host in failed:
        assert counts[host]["failed"] == 1, (host, counts)
    for host in passed:
        # a host of a wave that never started ran no task, so PLAY RECAP may not list it
        assert counts.get(host, {}).get("failed", 0) == 0, (host, counts)
