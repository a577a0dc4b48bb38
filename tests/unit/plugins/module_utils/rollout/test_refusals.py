"""Pods the API refuses to create, judged from recorded conditions; quota counted in the preflight."""

import datetime

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import capacity, refusals
from ansible_collections.modelops.serving.plugins.module_utils.rollout.judges import RolloutJudge
from ansible_collections.modelops.serving.plugins.module_utils.rollout.diagnose import Thresholds
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import View

QUOTA = ('pods "llm-7d9f-x2" is forbidden: exceeded quota: cpu-quota, requested: requests.cpu=1, '
         'used: requests.cpu=3, limited: requests.cpu=3')
LIMIT_RANGE = 'pods "llm-7d9f-x2" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
WEBHOOK = ('admission webhook "deny.testground.modelops.serving" denied the request: image tag :denied is '
           'refused by policy')
POD_SECURITY = ('pods "llm-7d9f-x2" is forbidden: violates PodSecurity "restricted:latest": '
                'allowPrivilegeEscalation != false')
WEBHOOK_DOWN = ('Internal error occurred: failed calling webhook "deny.testground.modelops.serving": '
                'Post "https://127.0.0.1:1/deny": dial tcp 127.0.0.1:1: connect: connection refused')

DEP_UID = "dep"


def deployment(replicas=3, generation=2):
    return {"metadata": {"name": "llm", "namespace": "serving", "uid": DEP_UID, "generation": generation,
                         "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "llm"}},
                                                        "spec": {"containers": [{"name": "s", "image": "r/m:v2"}]}}},
            "status": {"observedGeneration": generation, "replicas": 3, "updatedReplicas": 0, "availableReplicas": 3,
                       "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}}


def replicaset(name, template, message=None, uid="rs-new"):
    rs = {"metadata": {"name": name, "uid": uid, "creationTimestamp": "2026-12-01T10:00:00Z",
                       "ownerReferences": [{"uid": DEP_UID, "controller": True}]},
          "spec": {"template": template}, "status": {}}
    if message:
        rs["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                       "message": message}]
    return rs


def old_pod(terminating=False):
    pod = {"metadata": {"name": "llm-old-1", "uid": "p1", "ownerReferences": [{"uid": "rs-old", "controller": True}]},
           "status": {"phase": "Running"}}
    if terminating:
        pod["metadata"]["deletionTimestamp"] = "2026-12-01T10:00:01Z"
    return pod


def view(message, mono=0.0, terminating=False):
    d = deployment()
    new = replicaset("llm-7d9f", d["spec"]["template"], message)
    old = replicaset("llm-old", {"metadata": {"labels": {"app": "llm"}}, "spec": {"containers": []}}, uid="rs-old")
    wall = datetime.datetime(2026, 12, 1, 10, 0, 5, tzinfo=datetime.timezone.utc)
    return View(d, [new, old], [old_pod(terminating)], mono, wall)


@pytest.mark.parametrize("message, kind", [(QUOTA, refusals.QUOTA), (LIMIT_RANGE, refusals.TEMPLATE),
                                           (WEBHOOK, refusals.TEMPLATE), (POD_SECURITY, refusals.TEMPLATE),
                                           (WEBHOOK_DOWN, refusals.OTHER)])
def test_each_refusal_is_classified_by_what_can_end_it(message, kind):
    assert refusals.kind_of(message) == kind


@pytest.mark.parametrize("message, words", [
    (LIMIT_RANGE, "a LimitRange of the namespace"), (WEBHOOK, 'admission webhook "deny.testground.modelops.serving"'),
    (POD_SECURITY, 'violates PodSecurity "restricted:latest"')])
def test_a_refusal_of_the_template_fails_at_once_with_the_apis_message_and_the_object(message, words):
    outcome = RolloutJudge(Thresholds()).judge(view(message))
    assert (outcome.ok, outcome.reason) == (False, "create_refused")
    assert "ReplicaSet llm-7d9f: FailedCreate" in outcome.message and words in outcome.message


def test_an_exceeded_quota_waits_while_our_own_pods_terminate_then_fails_after_the_grace():
    judge = RolloutJudge(Thresholds())
    assert judge.judge(view(QUOTA, mono=0.0, terminating=True)) is None
    assert judge.judge(view(QUOTA, mono=100.0, terminating=True)) is None
    # The old pod is gone and the quota still refuses: the grace starts now, not at the first refusal.
    assert judge.judge(view(QUOTA, mono=101.0)) is None
    assert judge.wake(view(QUOTA, mono=101.0)) == pytest.approx(101.0 + refusals.GRACE)
    outcome = judge.judge(view(QUOTA, mono=101.0 + refusals.GRACE))
    assert outcome.reason == "create_refused" and "(ResourceQuota cpu-quota)" in outcome.message
    assert "exceeded quota: cpu-quota" in outcome.message


def test_a_refusal_that_clears_is_forgotten():
    judge = RolloutJudge(Thresholds())
    assert judge.judge(view(WEBHOOK_DOWN, mono=0.0)) is None
    assert judge.judge(view(None, mono=5.0)) is None
    assert judge.judge(view(WEBHOOK_DOWN, mono=9.0)) is None
    assert judge.judge(view(WEBHOOK_DOWN, mono=9.0 + refusals.GRACE)).reason == "create_refused"


def quota(name, hard, used, scopes=None):
    q = {"metadata": {"name": name}, "spec": {"hard": hard}, "status": {"hard": hard, "used": used}}
    if scopes:
        q["spec"]["scopes"] = scopes
    return q


def test_quota_shortfalls_count_pods_and_gpus_and_skip_scoped_quotas():
    quotas = [quota("pods-quota", {"pods": "3"}, {"pods": "3"}),
              quota("gpu-quota", {"requests.nvidia.com/gpu": "2"}, {"requests.nvidia.com/gpu": "1"}),
              quota("scoped", {"pods": "0"}, {"pods": "0"}, scopes=["BestEffort"]),
              quota("cpu-quota", {"requests.cpu": "1k"}, {})]
    assert capacity.quota_shortfalls(quotas, 0, 1) == [("pods-quota", "pods", 0, 1)]
    assert capacity.quota_shortfalls(quotas, 2, 1) == [("pods-quota", "pods", 0, 1),
                                                       ("gpu-quota", "requests.nvidia.com/gpu", 1, 2)]
    assert capacity.quota_shortfalls(quotas[1:], 1, 1) == []


class Api:
    def __init__(self, quotas):
        self.quotas = quotas

    @staticmethod
    def path(*parts, **kw):
        return "/".join(str(p) for p in parts if p)

    def get(self, path, query=None):
        return {"items": self.quotas}


def test_the_preflight_names_the_quota_and_what_it_allows():
    api = Api([quota("gpu-quota", {"requests.nvidia.com/gpu": "1"}, {"requests.nvidia.com/gpu": "1"})])
    template = {"spec": {"containers": [{"name": "s", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}
    with pytest.raises(capacity.NoRoom) as err:
        capacity.check_quota_room(api, "serving", template, 1, "the rollout", lambda line: None)
    assert str(err.value) == ("the rollout needs 1 requests.nvidia.com/gpu, but ResourceQuota gpu-quota allows 0 more "
                              "requests.nvidia.com/gpu: nothing was changed")
