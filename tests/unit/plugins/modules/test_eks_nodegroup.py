"""eks_nodegroup: effect spelling, and the community.aws bug that made us write it."""

import pytest

from ansible_collections.modelops.serving.plugins.modules import eks_nodegroup


def test_kubernetes_effect_spelling_is_sent_as_eks_spelling():
    p = {"taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
                    {"key": "a", "value": None, "effect": "PREFER_NO_SCHEDULE"}]}
    assert [t["effect"] for t in eks_nodegroup.module_params_for_api(p)["taints"]] == [
        "NO_SCHEDULE", "PREFER_NO_SCHEDULE"]


def test_community_aws_eks_nodegroup_crashes_when_taints_change():
    """community.aws 10.0.0 builds the taint update on a list: any taint change is a TypeError.

    This is why the GPU node group uses modelops.serving.eks_nodegroup. If this test starts
    failing, community.aws fixed it and docs/eks.md should be revisited.
    """
    community = pytest.importorskip("ansible_collections.community.aws.plugins.modules.eks_nodegroup")

    class Module:
        check_mode = False

    calls = []

    class Client:
        def update_nodegroup_config(self, **kw):
            calls.append(kw)

    nodegroup = {"clusterName": "c1", "nodegroupName": "gpu", "taints": []}
    with pytest.raises(TypeError):
        community.validate_taints(Client(), Module(), nodegroup,
                                  [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}])
    assert calls == []
