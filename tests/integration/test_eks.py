"""EKS through a real API server: two test-ground clusters whose kube-apiserver authenticates bearer
tokens only through the test ground's EKS token webhook (testground/eks_authenticator.py), and the AWS
emulator's EKS clusters pointing at them (testground/aws/eks.py). model_rollout, model_rollout_info
and the fleet on the eks_clusters inventory sign their own tokens with the emulator's credentials and
reach the clusters by name, as on EKS.

What the clusters hold and what the webhook recorded are the evidence, never the module's own report.
"""

import json
import ssl
import sys
import textwrap
import urllib.error
import urllib.request
import uuid

import pytest

from tests.helpers.kube import create_namespace, deployment_manifest, service_manifest, wait_for
from tests.integration.ansible_runner_helpers import PlaybookRun, run_module
from tests.integration.conftest import deployment_ready, ready_endpoint_targets
from tests.integration.fleet_site import Site, recap, run_playbook
from testground import eks_authenticator
from testground.aws import ACCESS_KEY, FOREIGN_AWS_VARIABLES, PRINCIPAL_ARN, REGION, SECRET_KEY
from testground.cluster import Fleet
from testground.collection import ansible_env

CLUSTERS = ["eks-a", "eks-b"]
HELD = {"testground.modelops.serving/ready": "false"}
EKS_LIFETIME = eks_authenticator.EKS_LIFETIME_SECONDS


@pytest.fixture(scope="module")
def eks_fleet(aws_emulator):
    """Two clusters with the EKS token webhook, for this module's tests."""
    fleet = Fleet(CLUSTERS, cpu_nodes=1, gpu_nodes=0, eks=aws_emulator.eks_authenticator_config(None)).start()
    yield fleet
    fleet.stop()


@pytest.fixture
def eks(eks_fleet, aws_emulator, monkeypatch):
    """The emulator emptied and holding one EKS cluster per test-ground cluster (waves by tag); webhooks at
    EKS's lifetime with an empty record; the AWS environment pointing at the emulator."""
    aws_emulator.reset()
    aws_emulator.create_eks_clusters(eks_fleet.clusters, tags=dict(
        (name, {"app": "model-serving", "rollout-wave": str(i + 1)}) for i, name in enumerate(CLUSTERS)))
    for c in eks_fleet:
        c.eks_settings(lifetime_seconds=EKS_LIFETIME)
        c.eks_reset()
    for k in FOREIGN_AWS_VARIABLES:
        monkeypatch.delenv(k, raising=False)
    return eks_fleet


def aws_env(emulator, **changes):
    env = dict(emulator.environ())
    env.update(changes)
    return env


def api_request(cluster, method, path, token, body=None):
    """(status, JSON body) of one request to the cluster's apiserver with a bearer token and nothing else."""
    ctx = ssl.create_default_context(cafile=cluster.pki["ca_crt"])
    req = urllib.request.Request(cluster.server + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def sign(emulator, cluster_name, secret=SECRET_KEY):
    from ansible_collections.modelops.serving.plugins.module_utils.eks.token import get_token

    return get_token(dict(access_key=ACCESS_KEY, secret_key=secret, region=REGION, endpoint_url=emulator.url),
                     cluster_name)[0]


def whoami(cluster, token):
    return api_request(cluster, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token,
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})


def reviews_of(cluster, token):
    return cluster.eks_reviews()["tokens"].get(eks_authenticator.token_digest(token)) or {}


class Apps:
    def __init__(self, cluster):
        from kubernetes import client

        self.core = client.CoreV1Api(cluster.api())
        self.apps = client.AppsV1Api(cluster.api())
        self.discovery = client.DiscoveryV1Api(cluster.api())


def deploy(cluster, image="repo/model:v1", held=False):
    """A Deployment of 3 and its Service in a fresh namespace, Ready on ``image``; with ``held`` every later
    new pod stays not Ready until ``release`` gives it Ready."""
    k8s = Apps(cluster)
    ns = "e-" + uuid.uuid4().hex[:8]
    create_namespace(k8s.core, ns)
    k8s.apps.create_namespaced_deployment(ns, deployment_manifest("llm", image, annotations=dict(HELD) if held else None))
    k8s.core.create_namespaced_service(ns, service_manifest("llm"))
    wait_for(lambda: release(k8s, ns, image) or deployment_ready(k8s, ns, "llm", image), 120, "llm ready on " + image)
    return k8s, ns


def release(k8s, ns, image):
    for p in k8s.core.list_namespaced_pod(ns, label_selector="app=llm").items:
        if p.spec.containers[0].image == image and p.metadata.deletion_timestamp is None \
                and (p.metadata.annotations or {}).get("testground.modelops.serving/ready") == "false":
            k8s.core.patch_namespaced_pod(p.metadata.name, ns, {"metadata": {"annotations": {
                "testground.modelops.serving/ready": "true"}}})


def test_the_apiserver_takes_only_valid_unexpired_eks_tokens_for_its_own_cluster(eks, aws_emulator):
    a, b = eks["eks-a"], eks["eks-b"]
    good = sign(aws_emulator, "eks-a")
    status, review = whoami(a, good)
    assert status == 201, review
    assert review["status"]["userInfo"]["username"] == PRINCIPAL_ARN
    assert eks_authenticator.ADMIN_GROUP in review["status"]["userInfo"]["groups"]
    # The access entry's group is bound to cluster-admin: the token can read what a rollout reads.
    assert api_request(a, "GET", "/apis/apps/v1/deployments", good)[0] == 200

    # The same token at the other cluster, a token signed with another secret, an expired token: 401.
    assert whoami(b, good)[0] == 401
    forged = sign(aws_emulator, "eks-a", secret=SECRET_KEY[:-1] + "X")
    assert whoami(a, forged)[0] == 401
    # kube-apiserver keeps an accepted token for 10 s without asking again (its own success cache), so
    # expiry is shown with a token it has not seen: one signed in a later second than ``good``.
    a.eks_settings(lifetime_seconds=0)  # every token is older than no time at all

    def later_token():
        token = sign(aws_emulator, "eks-a")
        return token if token != good else None

    late = wait_for(later_token, 10, "a token of a later second")
    assert whoami(a, late)[0] == 401

    assert reviews_of(a, good)["accepted"] >= 1 and reviews_of(a, good)["rejected"] == 0
    [expired] = reviews_of(a, late)["reasons"]
    assert expired.startswith("the token expired: signed") and expired.endswith("tokens are valid for 0s")
    assert "for another cluster than eks-b" in list(reviews_of(b, good)["reasons"])[0]
    assert "another secret key" in list(reviews_of(a, forged)["reasons"])[0]
    assert reviews_of(a, forged)["accepted"] == 0


def test_the_emulator_describes_each_eks_cluster_with_its_test_ground_endpoint_and_ca(eks, aws_emulator):
    for c in eks:
        described = aws_emulator.client("eks").describe_cluster(name=c.eks_cluster_id)["cluster"]
        assert described["endpoint"] == c.server
        assert described["certificateAuthority"]["data"] == c.ca_data()


def test_model_rollout_with_eks_keeps_its_rollout_across_token_expiries_and_watch_reconnects(eks, aws_emulator):
    """A rollout held open by its new pods spans several token lifetimes of 2 s: the module must sign new tokens
    (the webhook saw several, each refused once expired) and its watches reconnect after an apiserver restart.

    kube-apiserver asks the webhook about a token it accepted again only after 10 s (its success cache), so
    each token is refused at its first review after that, and replaced. The Lease, renewed every 15 s
    (lock_ttl_seconds 45), makes requests all along; its renew deadline of 30 s outlasts the restart."""
    cluster = eks["eks-a"]
    k8s, ns = deploy(cluster, held=True)
    cluster.eks_settings(lifetime_seconds=2)
    run = PlaybookRun(None, "modelops.serving.model_rollout",
                      {"name": "llm", "namespace": ns, "image": "repo/model:v2", "lock_ttl_seconds": 45,
                       "eks": {"cluster_name": "eks-a"}}, extra_env=aws_env(aws_emulator))

    def renewed(count):
        tokens = cluster.eks_reviews()["tokens"].values()
        refused_after_use = [t for t in tokens
                             if t["accepted"] and any(r.startswith("the token expired") for r in t["reasons"])]
        return len(refused_after_use) >= count or run.proc.poll() is not None

    # The new pods are held not Ready: the run waits, renewing its Lease, until the webhook has refused
    # two of its tokens as expired after having accepted them.
    assert run.wait_for_progress(lambda line: "updated" in line, 180), run.output
    wait_for(lambda: renewed(2), 180, "two tokens used, expired and replaced")
    assert run.proc.poll() is None, run.output
    # Every open watch ends with the restart and reconnects with whatever token the module has by then.
    cluster.restart_apiserver()
    wait_for(lambda: renewed(3), 180, "a third token replaced after the restart")
    if run.proc.poll() is not None:
        result = run.wait()
        raise AssertionError("the run ended while its pods were held: %s %s: %s\n%s" % (
            result.get("verdict"), result.get("reason"), result.get("message"), "\n".join(run.progress_lines()[-15:])))
    wait_for(lambda: release(k8s, ns, "repo/model:v2") or run.proc.poll() is not None, 180, "the run to finish")
    result = run.wait()

    assert result["verdict"] == "complete", result
    assert result["api"]["watch_disconnects"] >= 1, result["api"]
    d = k8s.apps.read_namespaced_deployment("llm", ns)
    assert d.spec.template.spec.containers[0].image == "repo/model:v2"
    assert d.status.updated_replicas == d.status.available_replicas == 3
    assert len(ready_endpoint_targets(k8s, ns, "llm")) == 3
    record = cluster.eks_reviews()
    accepted = [t for t in record["tokens"].values() if t["accepted"]]
    assert len(accepted) >= 4, record["tokens"]
    # Nothing but expiry was ever refused: the tokens were right, and the renewal was needed.
    reasons = set(r for t in record["tokens"].values() for r in t["reasons"])
    assert reasons and all(r.startswith("the token expired") for r in reasons), reasons
    assert len(set(t["signed_at"] for t in accepted)) == len(accepted)
    assert "k8s-aws-v1." not in run.output and SECRET_KEY not in run.output


@pytest.mark.parametrize("eks_args, env, reason, words", [
    ({"cluster_name": "eks-a"}, {"AWS_SECRET_ACCESS_KEY": SECRET_KEY[:-1] + "X"}, "api_error",
     "rejected the EKS token (401 Unauthorized), also a freshly signed one"),
    ({"cluster_name": "eks-nope"}, {}, "invalid_input", "EKS cluster 'eks-nope' not found in region us-east-1"),
], ids=["wrong-secret", "wrong-cluster-name"])
def test_wrong_credentials_or_cluster_name_end_in_a_clear_verdict_that_changes_nothing(
        eks, aws_emulator, eks_args, env, reason, words):
    cluster = eks["eks-a"]
    k8s, ns = deploy(cluster)
    before = k8s.apps.read_namespaced_deployment("llm", ns)
    result = run_module(None, "modelops.serving.model_rollout",
                        {"name": "llm", "namespace": ns, "image": "repo/model:v2", "eks": eks_args},
                        extra_env=aws_env(aws_emulator, **env))
    assert result["failed"] is True and result["changed"] is False, result
    assert (result["verdict"], result["reason"]) == ("failed", reason), result
    assert words in result["message"], result["message"]
    for key in ("previous", "current", "rolled_back_to", "diagnostics", "timeline", "durations"):
        assert key in result
    after = k8s.apps.read_namespaced_deployment("llm", ns)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.metadata.generation == before.metadata.generation
    refused = cluster.eks_reviews()["tokens"].values()
    if reason == "api_error":
        # The first request and the one sent again with a freshly signed token were refused for their signature,
        # and nothing more was sent (a token signed in the same second as the first is the same token).
        assert sum(t["rejected"] for t in refused) == 2 and not any(t["accepted"] for t in refused)
        assert all("another secret key" in r for t in refused for r in t["reasons"])
    else:
        assert not refused  # no token reached the cluster: the name was refused by EKS first


def test_model_rollout_info_with_eks_reads_the_deployment(eks, aws_emulator):
    cluster = eks["eks-b"]
    k8s, ns = deploy(cluster)
    result = run_module(None, "modelops.serving.model_rollout_info",
                        {"name": "llm", "namespace": ns, "eks": {"cluster_name": "eks-b"}},
                        extra_env=aws_env(aws_emulator))
    assert not result.get("failed"), result
    assert result["changed"] is False
    [d] = result["deployments"]
    assert (d["name"], d["namespace"], d["image"], d["complete"]) == ("llm", ns, "repo/model:v1", True)
    assert [t["accepted"] >= 1 for t in cluster.eks_reviews()["tokens"].values()] == [True]


def eks_inventory(path, emulator):
    path.write_text(textwrap.dedent("""\
        plugin: modelops.serving.eks_clusters
        endpoint_url: %s
        regions: [%s]
        tags:
          app: model-serving
          rollout-wave: ~
        keyed_groups:
          - key: tags['rollout-wave']
            prefix: wave
        compose:
          # The controller's interpreter, the one with the kubernetes client (hosts run locally).
          ansible_python_interpreter: "'%s'"
        """ % (emulator.url, REGION, sys.executable)))
    return str(path)


def test_the_fleet_on_the_eks_inventory_rolls_each_cluster_in_its_wave_and_shows_no_secret(
        eks, aws_emulator, tmp_path):
    site = Site(eks, clusters=CLUSTERS, prefix="")
    for c in CLUSTERS:
        Apps(eks[c]).core.create_namespaced_service(site.namespace, service_manifest("llm"))
    before = dict((c, site.deployment(c).metadata.generation) for c in CLUSTERS)
    env = ansible_env()
    env.update(aws_env(aws_emulator), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    rc, out = run_playbook(eks, "rollout.yml", site.extravars(model_server_image="repo/llm:v2", rollout_waves=[1, 1],
                                                              rollout_target="wave_1:wave_2"),
                           ["-vvv"], env=env, inventory=eks_inventory(tmp_path / "fleet.eks_clusters.yml", aws_emulator))
    assert rc == 0, out[-6000:]
    counts = recap(out)
    for c in CLUSTERS:
        assert counts[c]["failed"] == 0, counts
        assert site.complete(c, "repo/llm:v2"), c
        d = site.deployment(c)
        assert d.metadata.generation == before[c] + 1
        wait_for(lambda: len(ready_endpoint_targets(Apps(eks[c]), site.namespace, "llm")) == 3, 60,
                 "3 ready endpoints on " + c)
        # The cluster was reached with EKS tokens only: the webhook accepted the run's tokens.
        assert sum(t["accepted"] for t in eks[c].eks_reviews()["tokens"].values()) >= 1
    report = site.report()
    assert [(w["wave"], w["clusters"], w["state"]) for w in report["waves"]] == [
        (1, ["eks-a"], "done"), (2, ["eks-b"], "done")]
    assert SECRET_KEY not in out and "k8s-aws-v1." not in out and "X-Amz-Signature" not in out
