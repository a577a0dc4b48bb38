"""GPU room, counted per node, before a rollout adds pods."""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import capacity
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeApi, KubeError


def node(name, gpus, unschedulable=False):
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": "16", "nvidia.com/gpu": str(gpus)}}}


def pod(node_name, gpus, phase="Running"):
    return {"spec": {"nodeName": node_name,
                     "containers": [{"name": "s", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]},
            "status": {"phase": phase}}


def template(gpus):
    return {"spec": {"containers": [{"name": "s", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}},
                                    {"name": "sidecar"}]}}


def test_gpu_per_pod_adds_up_containers():
    assert capacity.gpu_per_pod(template(2)) == 2
    assert capacity.gpu_per_pod({"spec": {"containers": [{"name": "cpu-only"}]}}) == 0


def test_free_gpus_are_counted_per_node_and_finished_pods_give_theirs_back():
    free = capacity.free_by_node(
        [node("a", 4), node("b", 2), node("cordoned", 8, unschedulable=True), node("cpu", 0)],
        [pod("a", 3), pod("b", 1), pod("b", 1, phase="Succeeded"), pod(None, 1)])
    assert free == {"a": 1, "b": 1}


def test_a_failed_pod_holds_no_gpu():
    # The kubelet releases a Failed pod's devices, as it does a Succeeded one's.
    free = capacity.free_by_node([node("a", 2)], [pod("a", 1, phase="Failed"), pod("a", 1, phase="Pending")])
    assert free == {"a": 1}


def test_pods_needing_two_gpus_do_not_fit_in_two_nodes_with_one_each():
    assert capacity.pods_that_fit({"a": 1, "b": 1}, 2) == 0
    assert capacity.pods_that_fit({"a": 1, "b": 1}, 1) == 2
    assert capacity.pods_that_fit({"a": 5}, 2) == 2


class FakeApi:
    def __init__(self, nodes, pods, status=None):
        self.nodes, self.pods, self.status = nodes, pods, status

    @staticmethod
    def path(group_version, plural, namespace=None, name=None, sub=None):
        return plural

    def get(self, path, query=None):
        if self.status:
            from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError

            raise KubeError("forbidden", status=self.status)
        return {"items": self.nodes if path == "nodes" else self.pods}


def test_no_room_names_the_nodes_and_says_nothing_changed():
    api = FakeApi([node("gpu-0", 1)], [pod("gpu-0", 1)])
    with pytest.raises(capacity.NoRoom, match=r"needs 1 more pod\(s\) with 1 nvidia.com/gpu each, but free GPUs "
                                              r"\(gpu-0: 0\) hold 0: nothing was changed"):
        capacity.check_gpu_room(api, template(1), 1, "the rollout", lambda line: None)


def test_room_cpu_pods_and_forbidden_listing_pass_quietly():
    lines = []
    capacity.check_gpu_room(FakeApi([node("gpu-0", 2)], [pod("gpu-0", 1)]), template(1), 1, "x", lines.append)
    capacity.check_gpu_room(FakeApi([], []), {"spec": {"containers": [{"name": "cpu"}]}}, 5, "x", lines.append)
    assert lines == []
    capacity.check_gpu_room(FakeApi([], [], status=403), template(1), 1, "x", lines.append)
    assert "cannot check GPU room" in lines[0]


class PathApi(FakeApi):
    """Builds paths as the real client does and answers only the two lists the check must ask for."""

    asked = []

    @staticmethod
    def path(group_version, plural, namespace=None, name=None, sub=None):
        from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeApi

        return KubeApi.path(group_version, plural, namespace, name, sub)

    def get(self, path, query=None):
        self.asked.append((path, query))
        if self.status:
            return FakeApi.get(self, path, query)
        return {"/api/v1/nodes": {"items": self.nodes}, "/api/v1/pods": {"items": self.pods}}[path]


def test_gpus_asked_as_requests_only_count_too():
    assert capacity.gpu_per_pod({"spec": {"containers": [{"name": "s", "resources": {"requests": {capacity.GPU: "2"}}}]}}) == 2


def test_a_cordoned_node_is_passed_by_and_a_node_without_gpus_is_not_counted():
    cpu_only = {"metadata": {"name": "cpu"}, "spec": {}, "status": {"allocatable": {"cpu": "32"}}}
    assert capacity.free_by_node([node("cordoned", 8, unschedulable=True), cpu_only, node("a", 2)], []) == {"a": 2}


def test_the_check_lists_nodes_and_unfinished_pods_cluster_wide():
    PathApi.asked = []
    capacity.check_gpu_room(PathApi([node("gpu-0", 2)], []), template(1), 2, "x", lambda line: None)
    assert PathApi.asked == [("/api/v1/nodes", None), ("/api/v1/pods", {"fieldSelector": "status.phase!=Succeeded"})]


def test_no_gpu_node_at_all_is_named_and_a_forbidden_listing_is_explained():
    with pytest.raises(capacity.NoRoom) as err:
        capacity.check_gpu_room(PathApi([], []), template(2), 3, "blue/green", lambda line: None)
    assert str(err.value) == ("blue/green needs 3 more pod(s) with 2 nvidia.com/gpu each, but free GPUs "
                              "(no GPU nodes) hold 0: nothing was changed")
    lines = []
    capacity.check_gpu_room(PathApi([], [], status=403), template(1), 1, "x", lines.append)
    assert lines == ["cannot check GPU room (no permission to list nodes and pods, see docs/rbac.md); "
                     "the unschedulable check will still stop a rollout that does not fit"]


def test_no_room_lists_every_gpu_node_with_what_it_has_left():
    api = PathApi([node("gpu-1", 1), node("gpu-0", 2)], [pod("gpu-0", 1), pod("gpu-1", 1)])
    with pytest.raises(capacity.NoRoom) as err:
        capacity.check_gpu_room(api, template(2), 1, "the rollout", lambda line: None)
    assert "but free GPUs (gpu-0: 1, gpu-1: 0) hold 0" in str(err.value)


# -- ResourceQuota room, counted before the write ---------------------------------------------------
class QuotaApi:
    """Answers the list of ResourceQuotas (or fails it) and records what was asked, with the real paths."""

    path = staticmethod(KubeApi.path)

    def __init__(self, quotas=(), error=None):
        self.quotas, self.error, self.asked = list(quotas), error, []

    def get(self, path, query=None):
        self.asked.append(path)
        if self.error:
            raise self.error
        return {"items": self.quotas}


def quota(name, hard, used, spec_hard=None, **spec):
    q = {"metadata": {"name": name}, "spec": dict(spec, hard=spec_hard or hard), "status": {"used": used}}
    if hard is not None:
        q["status"]["hard"] = hard
    return q


def test_the_quota_check_lists_the_namespace_s_quotas_and_names_every_shortfall():
    api = QuotaApi([quota("pods-quota", {"pods": "4"}, {"pods": "3"}),
                    quota("gpu-quota", {"requests.nvidia.com/gpu": "3"}, {"requests.nvidia.com/gpu": "1"})])
    with pytest.raises(capacity.NoRoom) as err:
        capacity.check_quota_room(api, "serving", template(1), 3, "the rollout", lambda line: None)
    assert api.asked == ["/api/v1/namespaces/serving/resourcequotas"]
    assert str(err.value) == ("the rollout needs 3 pods and 3 requests.nvidia.com/gpu, but ResourceQuota pods-quota "
                              "allows 1 more pods; ResourceQuota gpu-quota allows 2 more requests.nvidia.com/gpu: "
                              "nothing was changed")


def test_without_permission_to_list_quotas_the_check_says_so_and_lets_the_rollout_on():
    lines = []
    api = QuotaApi(error=KubeError("forbidden", status=403))
    assert capacity.check_quota_room(api, "serving", template(1), 1, "the rollout", lines.append) is None
    assert lines == ["cannot check ResourceQuotas (no permission to list them, see docs/rbac.md); a refused pod "
                     "still fails the rollout within seconds"]
    for status in (404, 500, 0):
        with pytest.raises(KubeError):
            capacity.check_quota_room(QuotaApi(error=KubeError("x", status=status)), "serving", template(1), 1,
                                      "the rollout", lines.append)
    assert len(lines) == 1


def test_scoped_quotas_are_skipped_and_the_ones_after_them_still_count():
    quotas = [quota("by-selector", {"pods": "0"}, {"pods": "0"}, scopeSelector={"matchExpressions": []}),
              quota("pods-quota", {"pods": "3"}, {"pods": "3"})]
    assert capacity.quota_shortfalls(quotas, 0, 1) == [("pods-quota", "pods", 0, 1)]


def test_the_quota_s_status_is_what_is_enforced_and_its_spec_counts_until_the_controller_fills_it():
    # The quota controller copies spec.hard to status.hard: status is what admission enforces.
    enforced = quota("pods-quota", {"pods": "5"}, {"pods": "2"}, spec_hard={"pods": "2"})
    assert capacity.quota_shortfalls([enforced], 0, 1) == []
    fresh = quota("pods-quota", None, {"pods": "2"}, spec_hard={"pods": "2"})
    assert capacity.quota_shortfalls([fresh], 0, 1) == [("pods-quota", "pods", 0, 1)]


def test_a_quota_nothing_is_used_of_yet_admits_up_to_its_limit():
    assert capacity.quota_shortfalls([quota("pods-quota", {"pods": "1"}, {})], 0, 1) == []
    assert capacity.quota_shortfalls([quota("pods-quota", {"pods": "1"}, {})], 0, 2) == [("pods-quota", "pods", 1, 2)]
