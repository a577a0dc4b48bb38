"""The eks_clusters inventory plugin against the AWS emulator, through ansible-inventory."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

BIN = os.path.dirname(sys.executable)

FLEET = [  # region, name, tags
    ("us-east-1", "canary", {"app": "model-serving", "rollout-wave": "1", "environment": "staging"}),
    ("us-east-1", "prod-a", {"app": "model-serving", "rollout-wave": "2", "environment": "prod"}),
    ("eu-west-1", "prod-b", {"app": "model-serving", "rollout-wave": "2", "environment": "prod"}),
    ("eu-west-1", "no-wave", {"app": "model-serving", "environment": "prod"}),
    ("eu-west-1", "batch", {"app": "batch-jobs", "rollout-wave": "1"}),
]


@pytest.fixture
def fleet(aws):
    for region, name, tags in FLEET:
        aws.client("eks", region).create_cluster(
            name=name, roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1"]}, tags=tags)


def inventory_file(tmp_path, aws, cache_dir=None):
    path = tmp_path / "fleet.eks_clusters.yml"
    cache = ("cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\ncache_timeout: 3600\n"
             % cache_dir) if cache_dir else ""
    path.write_text(textwrap.dedent("""\
        plugin: modelops.serving.eks_clusters
        endpoint_url: %s
        regions: [us-east-1, eu-west-1]
        tags:
          app: model-serving
          rollout-wave: ~
        keyed_groups:
          - key: tags['rollout-wave']
            prefix: wave
          - key: tags.environment
            prefix: env
        """ % aws.url) + cache)
    return path


def ansible_inventory(aws, path, *args):
    env = aws.env()
    env.pop("AWS_URL")  # the endpoint_url option of the inventory file must be what reaches moto
    p = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path)] + list(args),
                       env=env, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Failed to parse" not in p.stderr and "No inventory was parsed" not in p.stderr, p.stderr
    return p.stdout


def plain(value):
    """ansible-inventory --list marks values from inventory sources as unsafe: {"__ansible_unsafe": v}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def groups_of(listing):
    return {g: sorted(v.get("hosts", [])) for g, v in listing.items() if g not in ("_meta", "all")}


def test_graph_groups_clusters_into_waves_regions_and_environments(aws, fleet, tmp_path):
    path = inventory_file(tmp_path, aws)
    graph = ansible_inventory(aws, path, "--graph")
    assert "@wave_1:\n  |  |--canary" in graph
    assert "no-wave" not in graph and "batch" not in graph

    listing = json.loads(ansible_inventory(aws, path, "--list"))
    assert groups_of(listing) == {
        "eks_clusters": ["canary", "prod-a", "prod-b"],
        "eks_us_east_1": ["canary", "prod-a"],
        "eks_eu_west_1": ["prod-b"],
        "wave_1": ["canary"],
        "wave_2": ["prod-a", "prod-b"],
        "env_staging": ["canary"],
        "env_prod": ["prod-a", "prod-b"],
    }
    hv = plain(listing["_meta"]["hostvars"]["prod-b"])
    described = aws.client("eks", "eu-west-1").describe_cluster(name="prod-b")["cluster"]
    assert hv["eks_cluster_name"] == "prod-b" and hv["eks_region"] == "eu-west-1"
    assert hv["eks_endpoint"] == described["endpoint"]
    assert hv["eks_ca_data"] == described["certificateAuthority"]["data"]
    assert hv["eks_version"] == described["version"]
    assert hv["tags"]["rollout-wave"] == "2"
    assert hv["ansible_connection"] == "local"


def test_cache_serves_the_fleet_until_flushed(aws, fleet, tmp_path):
    path = inventory_file(tmp_path, aws, cache_dir=tmp_path / "cache")
    assert "canary" in groups_of(json.loads(ansible_inventory(aws, path, "--list")))["wave_1"]
    aws.client("eks").delete_cluster(name="canary")

    cached = groups_of(json.loads(ansible_inventory(aws, path, "--list")))
    assert cached["wave_1"] == ["canary"]  # answered from the cache, not from EKS
    fresh = groups_of(json.loads(ansible_inventory(aws, path, "--list", "--flush-cache")))
    assert "wave_1" not in fresh and fresh["eks_clusters"] == ["prod-a", "prod-b"]
