"""Filters of the fleet playbooks: serial sizes and how each cluster is reached."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.modelops.serving.plugins.filter.fleet import FilterModule

FILTERS = FilterModule().filters()


def test_wave_sizes_for_serial_and_a_clear_error_for_the_rest():
    assert FILTERS["fleet_waves"]("1, 50%, 100%") == [1, "50%", "100%"]
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["fleet_waves"]([1, "two"])
    assert "Wave sizes" in str(err.value) and '"two"' in str(err.value)


def test_a_batch_knows_its_wave_number_from_the_hosts_and_sizes_alone():
    hosts = ["tg1", "tg2", "tg3", "tg4"]
    assert FILTERS["fleet_wave"](["tg2", "tg3"], hosts, "1, 2") == 2
    assert FILTERS["fleet_wave"](["tg4"], hosts, [1, 2]) == 3
    with pytest.raises(AnsibleFilterError):
        FILTERS["fleet_wave"](["other"], hosts, [1, 2])


def test_host_variables_become_connection_options_and_empty_ones_are_left_out():
    conn = FILTERS["cluster_connection"]({"model_server_kubeconfig": "/k", "model_server_context": "tg1",
                                          "model_server_api_key": "", "model_server_validate_certs": False,
                                          "other": 1})
    assert conn == {"kubeconfig": "/k", "context": "tg1", "validate_certs": False}
    assert FILTERS["cluster_connection"]({}) == {}


def test_an_eks_host_is_reached_by_cluster_name_unless_a_kubeconfig_says_otherwise():
    eks = {"eks_cluster_name": "prod-a", "eks_region": "eu-west-1"}
    assert FILTERS["cluster_connection"](eks) == {"eks": {"cluster_name": "prod-a", "region": "eu-west-1"}}
    assert FILTERS["cluster_connection"](dict(eks, model_server_context="prod-a")) == {"context": "prod-a"}


def test_the_members_of_a_wave_each_with_their_connection():
    hostvars = {"tg1": {"model_server_context": "tg1"}, "tg2": {"model_server_host": "https://h:6443",
                                                                "model_server_api_key": "secret"}}
    assert FILTERS["fleet_members"](["tg2", "tg1"], hostvars) == [
        {"name": "tg2", "connection": {"host": "https://h:6443", "api_key": "secret"}},
        {"name": "tg1", "connection": {"context": "tg1"}}]
    with pytest.raises(AnsibleFilterError):
        FILTERS["fleet_members"]("tg1", hostvars)
    with pytest.raises(AnsibleFilterError):
        FILTERS["cluster_connection"]("tg1")


ENDPOINT_HOST = {
    "sagemaker_endpoint_name": "llm-a", "sagemaker_region": "us-east-1",
    "sagemaker_model": {"execution_role_arn": "arn:aws:iam::123456789012:role/r", "secret_environment": {"T": "s"}},
    "sagemaker_variants": [{"instance_type": "ml.g5.xlarge", "instance_count": 2}],
    "sagemaker_deployment": {"traffic": "canary", "canary_size": 1, "wait_interval_seconds": 60},
    "sagemaker_keep_versions": 3, "sagemaker_tags": {"team": "ml", "modelops.serving/fleet-run": "old"},
    # inherited from the group that says how to reach clusters: must not make it a cluster
    "model_server_kubeconfig": "/k", "model_server_context": "llm-a",
}


def test_an_endpoint_host_is_never_a_cluster_member_so_no_cluster_check_reads_through_what_it_inherits():
    hostvars = {"tg1": {"model_server_context": "tg1"}, "sm1": ENDPOINT_HOST, "sm0": {"sagemaker_endpoint_name": ""}}
    assert FILTERS["fleet_members"](["sm1", "tg1", "sm0"], hostvars) == [
        {"name": "tg1", "connection": {"context": "tg1"}}, {"name": "sm0", "connection": {}}]
    assert FILTERS["fleet_endpoints"](["tg1", "sm1", "sm0"], hostvars) == ["sm1"]
    with pytest.raises(AnsibleFilterError):
        FILTERS["fleet_endpoints"]("sm1", hostvars)


def test_an_endpoint_host_gives_the_rollout_options_with_the_runs_image_and_provenance_tag():
    options = FILTERS["sagemaker_endpoint"](ENDPOINT_HOST, "repo/llm:v2", {"modelops.serving/fleet-run": "rollout 1"})
    assert options == {
        "name": "llm-a", "region": "us-east-1",
        "model": {"image": "repo/llm:v2", "execution_role_arn": "arn:aws:iam::123456789012:role/r",
                  "secret_environment": {"T": "s"}},
        "variants": [{"instance_type": "ml.g5.xlarge", "instance_count": 2}],
        "deployment": {"traffic": "canary", "canary_size": 1, "wait_interval_seconds": 60}, "keep_versions": 3,
        "tags": {"team": "ml", "modelops.serving/fleet-run": "rollout 1"}}
    # the host's own image (its registry) wins over the run's; the host variables are not changed
    own = dict(ENDPOINT_HOST, sagemaker_image="123.dkr.ecr.us-east-1.amazonaws.com/llm:v2")
    assert FILTERS["sagemaker_endpoint"](own, "repo/llm:v2")["model"]["image"] == own["sagemaker_image"]
    assert "image" not in ENDPOINT_HOST["sagemaker_model"]
    assert FILTERS["sagemaker_endpoint"]({"model_server_context": "tg1"}, "repo/llm:v2") == {}
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["sagemaker_endpoint"](dict(ENDPOINT_HOST, sagemaker_model="repo/llm:v2"))
    assert "sagemaker_model of llm-a must be a dict" in str(err.value)


def test_status_rows_of_endpoints_say_what_serves_and_what_could_not_be_read():
    live = {"exists": True, "endpoints": [{"status": "InService", "endpoint_config": "llm-a-c-1", "image": "repo/llm:v2",
                                           "in_progress": False, "variants": [{"current_instance_count": 2}]}]}
    hostvars = {"sm1": dict(ENDPOINT_HOST, __fleet_endpoint_status=live), "tg1": {},
                "sm2": dict(ENDPOINT_HOST, sagemaker_endpoint_name="llm-b",
                            __fleet_endpoint_status={"exists": False, "endpoints": []}),
                "sm3": dict(ENDPOINT_HOST, sagemaker_endpoint_name="llm-c", __fleet_endpoint_status={
                    "failed": True, "msg": "AccessDenied"})}
    rows = FILTERS["fleet_endpoint_rows"](["tg1", "sm1", "sm2", "sm3"], hostvars)
    assert [(r["cluster"], r["verdict"], r["ok"]) for r in rows] == [
        ("sm1", "complete", True), ("sm2", "not_found", False), ("sm3", "unreadable", False)]
    assert rows[0]["line"] == "sm1  repo/llm:v2  llm-a-c-1  complete  (SageMaker endpoint llm-a)"
    assert rows[0]["instances"] == 2 and rows[2]["message"] == "AccessDenied"
    updating = {"exists": True, "endpoints": [dict(live["endpoints"][0], status="Updating", in_progress=True,
                                                   pending={"endpoint_config": "llm-a-c-2"})]}
    row = FILTERS["fleet_endpoint_rows"](["sm1"], {"sm1": dict(ENDPOINT_HOST, __fleet_endpoint_status=updating)})[0]
    assert (row["verdict"], row["complete"], row["message"]) == ("Updating", False, "deployment of llm-a-c-2 in progress")
