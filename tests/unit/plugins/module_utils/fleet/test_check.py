"""The fleet check over a whole wave, each cluster behind a fake API: outcomes, never tracebacks."""

import datetime

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.fleet import check, clusters
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeApi, KubeError
from tests.unit.plugins.module_utils.fleet.objects import deployment, lease, replicaset


class FakeApi:
    """Answers GETs from a dict of path -> object (or a list of them, one per call) and counts them."""

    path = staticmethod(KubeApi.path)
    host = "https://fake:6443"

    def __init__(self, objects, events=()):
        self.objects = objects
        self.events = list(events)
        self.requests = 0
        self.seen = []

    def deployment_path(self, namespace, name=None):
        return KubeApi.path("apps/v1", "deployments", namespace, name)

    def get(self, path, query=None):
        self.requests += 1
        self.seen.append(path)
        found = self.objects.get(path)
        if isinstance(found, list):
            found = found.pop(0) if len(found) > 1 else found[0]
        if isinstance(found, Exception):
            raise found
        if found is None:
            raise KubeError("not found", status=404)
        return found

    def watch(self, path, query, timeout_seconds=300):
        self.requests += 1
        while self.events:
            event = self.events.pop(0)
            if isinstance(event, Exception):
                raise event
            yield event


DEPLOYMENT = "/apis/apps/v1/namespaces/serving/deployments/llm"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/serving/leases/modelops-rollout-llm"
REPLICASETS = "/apis/apps/v1/namespaces/serving/replicasets"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def fleet(monkeypatch):
    apis = {}
    monkeypatch.setattr(clusters, "connect", lambda connection: apis[connection["context"]])
    return apis


def params(check_name, names, **more):
    p = {"check": check_name, "clusters": [{"name": n, "connection": {"context": n}} for n in names],
         "name": "llm", "namespace": "serving", "container": "server", "image": "repo/llm:v2", "images": {},
         "revision": "", "max_surge": None, "max_unavailable": None, "lock_wait_seconds": 10, "bake_seconds": 0}
    p.update(more)
    return p


def test_one_unreachable_cluster_fails_the_wave_and_every_other_cluster_still_has_its_outcome(fleet):
    fleet["tg1"] = FakeApi({DEPLOYMENT: deployment()})
    fleet["tg2"] = FakeApi({DEPLOYMENT: KubeError("connection refused")})
    fleet["tg3"] = FakeApi({DEPLOYMENT: deployment(paused=True)})
    out = check.run(params("rollout", ["tg1", "tg2", "tg3"]))
    assert not out["ok"] and out["failed_clusters"] == ["tg2", "tg3"]
    one, two, three = (out["clusters"][n] for n in ("tg1", "tg2", "tg3"))
    assert (one["ok"], one["plan"], one["target_image"], one["deployment"]["floor"]) == (True, "change", "repo/llm:v2", 2)
    assert (two["reason"], three["reason"]) == ("unreachable", "paused")
    assert "cannot reach the Kubernetes API at https://fake:6443" in two["message"]
    assert out["api_requests"] == 2 + 1 + 1  # tg1 reads its Deployment and Lease; the others stop at the Deployment


def test_every_cluster_gets_its_own_image_and_a_bad_one_is_refused_before_anything(fleet):
    fleet["tg1"] = FakeApi({DEPLOYMENT: deployment()})
    fleet["tg2"] = FakeApi({DEPLOYMENT: deployment()})
    out = check.run(params("rollout", ["tg1", "tg2"], images={"tg2": "Repo/LLM:bad tag"}))
    assert out["clusters"]["tg1"]["target_image"] == "repo/llm:v2"
    assert out["clusters"]["tg2"]["reason"] == "invalid_image" and fleet["tg2"].requests == 0


def test_a_lease_held_by_a_run_that_renews_it_is_waited_for_then_refused(fleet):
    clock = Clock()
    now = datetime.datetime.now(datetime.timezone.utc)
    renewals = [lease(renewed=(now + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), duration=3600)
                for i in range(9)]
    fleet["tg1"] = FakeApi({DEPLOYMENT: deployment(), LEASE: renewals})
    out = check.run(params("rollout", ["tg1"], lock_wait_seconds=10), clock=clock, sleep=clock.sleep)
    assert out["clusters"]["tg1"]["reason"] == "locked"
    assert clock.now >= 1010.0


def test_a_lease_nobody_renews_is_free_after_its_duration(fleet):
    clock = Clock()
    stale = lease(renewed="2999-01-01T00:00:00.000000Z", duration=4)  # a clock far ahead cannot keep it forever
    fleet["tg1"] = FakeApi({DEPLOYMENT: deployment(), LEASE: [stale]})
    out = check.run(params("rollout", ["tg1"], lock_wait_seconds=30), clock=clock, sleep=clock.sleep)
    assert out["ok"], out
    assert 1004.0 < clock.now < 1010.0


def test_a_rollback_preflight_picks_each_clusters_target(fleet):
    d = deployment(image="repo/llm:v2", revision="2")
    fleet["tg1"] = FakeApi({DEPLOYMENT: d, REPLICASETS: {"items": [replicaset("1", "repo/llm:v1"),
                                                                   replicaset("2", "repo/llm:v2", 3)]}})
    out = check.run(params("rollback", ["tg1"], image=None))
    assert (out["clusters"]["tg1"]["target_image"], out["clusters"]["tg1"]["target_revision"]) == ("repo/llm:v1", "1")


def test_a_bake_fails_at_the_first_event_that_shows_another_image(fleet):
    clock = Clock()
    changed = deployment(image="repo/llm:other")
    fleet["tg1"] = FakeApi({DEPLOYMENT: deployment(image="repo/llm:v2")},
                           events=[{"type": "BOOKMARK", "object": {}}, {"type": "MODIFIED", "object": changed}])
    out = check.run(params("bake", ["tg1"], bake_seconds=600, images={"tg1": "repo/llm:v2"}), clock=clock,
                    sleep=clock.sleep)
    bake = out["clusters"]["tg1"]
    assert (bake["ok"], bake["reason"]) == (False, "bake_image_changed")
    assert [p["updated"] for p in bake["timeline"]] == [3, 3]


def test_a_quiet_bake_passes_with_one_watch_per_minute_and_no_rereads(fleet):
    clock = Clock()

    class Quiet(FakeApi):
        def watch(self, path, query, timeout_seconds=300):
            self.requests += 1
            clock.now += timeout_seconds
            return iter(())

    fleet["tg1"] = Quiet({DEPLOYMENT: deployment(image="repo/llm:v2")})
    out = check.run(params("bake", ["tg1"], bake_seconds=120), clock=clock, sleep=clock.sleep)
    assert out["ok"] and out["clusters"]["tg1"]["api_requests"] == 1 + 2


def test_an_unexpected_exception_is_an_outcome_with_its_traceback(fleet):
    class Broken(FakeApi):
        def get(self, path, query=None):
            raise ZeroDivisionError("boom")

    fleet["tg1"] = Broken({})
    out = check.run(params("read", ["tg1"]))
    assert out["clusters"]["tg1"]["reason"] == "error" and "ZeroDivisionError" in out["clusters"]["tg1"]["traceback"]
    assert out["table"][0]["verdict"] == "error"


def test_the_status_table_has_one_row_per_cluster_in_order(fleet):
    fleet["tg2"] = FakeApi({DEPLOYMENT: deployment(image="repo/llm:v2", revision="2"), LEASE: lease(holder="")})
    fleet["tg1"] = FakeApi({})
    out = check.run(params("read", ["tg2", "tg1"]))
    assert out["lines"] == ["tg2  repo/llm:v2  2  complete", "tg1  None  None  not_found"]
    assert out["table"][0]["lock"] is None and out["table"][1]["found"] is False


def test_a_cluster_whose_client_cannot_be_built_fails_with_the_reason():
    with pytest.raises(clusters.ClusterError) as err:
        clusters.connect({"kubeconfig": "/nonexistent/kubeconfig"})
    assert err.value.reason == "connection" and "cannot build a Kubernetes client" in str(err.value)
