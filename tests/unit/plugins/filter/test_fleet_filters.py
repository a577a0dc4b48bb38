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
