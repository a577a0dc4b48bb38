"""What eks_nodegroup decides to change, from recorded DescribeNodegroup shapes."""

from ansible_collections.modelops.serving.plugins.module_utils.eks import nodegroup as ng

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


def params(**over):
    p = dict(cluster_name="c1", name="gpu", node_role="arn:aws:iam::123456789012:role/node",
             subnets=["subnet-a", "subnet-b"], scaling_config=dict(min_size=1, max_size=4, desired_size=1),
             labels={"modelops.serving/pool": "gpu"}, taints=[dict(GPU_TAINT)], tags={"team": "ml"},
             instance_types=["g5.xlarge"], ami_type="AL2023_x86_64_NVIDIA", capacity_type=None,
             disk_size=None, release_version=None, max_unavailable=None)
    p.update(over)
    return p


def current(**over):
    """A node group as DescribeNodegroup returns it after creation with params()."""
    c = {"clusterName": "c1", "nodegroupName": "gpu", "nodeRole": "arn:aws:iam::123456789012:role/node",
         "subnets": ["subnet-b", "subnet-a"], "scalingConfig": {"minSize": 1, "maxSize": 4, "desiredSize": 1},
         "labels": {"modelops.serving/pool": "gpu"}, "taints": [dict(GPU_TAINT)], "tags": {"team": "ml"},
         "instanceTypes": ["g5.xlarge"], "amiType": "AL2023_x86_64_NVIDIA", "capacityType": "ON_DEMAND",
         "diskSize": 20, "status": "ACTIVE"}
    c.update(over)
    return c


def test_unchanged_node_group_needs_no_update_even_with_subnets_in_another_order():
    want = ng.desired(params())
    assert ng.config_update(current(), want) == {}
    assert ng.immutable_conflicts(current(), want) == []
    assert ng.tag_update(current()["tags"], want["tags"], purge=True) == ({}, [])


def test_taint_without_value_compares_equal_to_what_eks_returns():
    taint = {"key": "dedicated", "value": None, "effect": "NO_EXECUTE"}
    want = ng.desired(params(taints=[taint]))
    have = current(taints=[{"key": "dedicated", "effect": "NO_EXECUTE"}])
    assert ng.config_update(have, want) == {}


def test_taint_value_change_is_one_add_or_update_and_no_remove():
    want = ng.desired(params(taints=[dict(GPU_TAINT, value="shared")]))
    assert ng.config_update(current(), want) == {
        "taints": {"addOrUpdateTaints": [dict(GPU_TAINT, value="shared")]}}


def test_taints_and_labels_not_listed_are_removed():
    want = ng.desired(params(taints=[], labels={}))
    assert ng.config_update(current(), want) == {
        "labels": {"removeLabels": ["modelops.serving/pool"]},
        "taints": {"removeTaints": [GPU_TAINT]},
    }


def test_label_value_change_is_seen():
    want = ng.desired(params(labels={"modelops.serving/pool": "gpu-a100"}))
    assert ng.config_update(current(), want) == {
        "labels": {"addOrUpdateLabels": {"modelops.serving/pool": "gpu-a100"}}}


def test_scaling_change_sends_the_whole_scaling_config():
    want = ng.desired(params(scaling_config=dict(min_size=1, max_size=4, desired_size=3)))
    assert ng.config_update(current(), want) == {
        "scalingConfig": {"minSize": 1, "maxSize": 4, "desiredSize": 3}}


def test_fields_eks_cannot_update_are_reported_not_ignored():
    want = ng.desired(params(ami_type="AL2_x86_64_GPU", subnets=["subnet-a", "subnet-c"]))
    assert ng.immutable_conflicts(current(), want) == [
        ("subnets", ["subnet-b", "subnet-a"], ["subnet-a", "subnet-c"]),
        ("ami_type", "AL2023_x86_64_NVIDIA", "AL2_x86_64_GPU"),
    ]


def test_tags_purge_only_when_asked():
    have = {"team": "ml", "owner": "x"}
    assert ng.tag_update(have, {"team": "ai"}, purge=True) == ({"team": "ai"}, ["owner"])
    assert ng.tag_update(have, {"team": "ai"}, purge=False) == ({"team": "ai"}, [])
