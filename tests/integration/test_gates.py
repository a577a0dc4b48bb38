"""model_rollout's model gates against real servers, as a user runs them (ansible-playbook).

The pods are kwok's, but what answers through their port-forward is real: kwok's
ClusterPortForward routes port 8080 of every pod in the test's namespace to an MLServer
process (KServe V2 protocol) serving a tiny model the test made, so each gate request travels
API server -> kubelet API (kwok) -> MLServer. Misbehaving variants of that model (never
loaded, wrong answer), a closed port, a real Prometheus whose error ratio climbs during the
bake, and a CloudWatch alarm in ALARM on the local AWS emulator each fail the rollout, which
then rolls back with the capacity floor held.
"""

import os

import boto3
import pytest

from tests.integration.ansible_runner_helpers import PlaybookRun, rollout
from tests.integration.aws.conftest import ACCESS_KEY, REGION, SECRET_KEY, moto_url  # noqa: F401 pylint: disable=unused-import
from tests.helpers.routes import HELD, PodRoutes
from tests.helpers.witness import Witness
from tests.integration.conftest import (
    deployment_manifest,
    deployment_ready,
    ready_endpoint_targets,
    service_manifest,
    wait_for,
)
from testground.certs import make_serving_pair
from testground.modelserver.metrics import ERROR_RATIO_QUERY, PROMETHEUS, Exporter, Prometheus
from testground.modelserver.server import MODEL, ModelServer
from testground.process import free_port

V1 = "repo/model:v1"
V2 = "repo/model:v2"
INFER = {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]}


@pytest.fixture(scope="module")
def good_server():
    with ModelServer("good") as server:
        yield server


def route(k8s, namespace, port):
    """Every pod of ``namespace``: its port 8080 is 127.0.0.1:``port`` (kwok's kubelet API does the rest)."""
    name = "gates-" + namespace
    k8s.custom.create_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterportforwards", {
        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward",
        "metadata": {"name": name},
        "spec": {"selector": {"matchNamespaces": [namespace]},
                 "forwards": [{"ports": [8080], "target": {"address": "127.0.0.1", "port": port}}]},
    })
    return name


@pytest.fixture
def routed(k8s, namespace):
    names = []

    def make(port):
        names.append(route(k8s, namespace, port))

    yield make
    for name in names:
        k8s.custom.delete_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterportforwards", name)


def deploy(k8s, namespace, name="model", replicas=3):
    k8s.apps.create_namespaced_deployment(namespace, deployment_manifest(
        name, V1, replicas=replicas, max_surge=1, max_unavailable=0))
    k8s.core.create_namespaced_service(namespace, service_manifest(name))
    wait_for(lambda: deployment_ready(k8s, namespace, name, V1), 60, "%s on v1" % name)
    wait_for(lambda: len(ready_endpoint_targets(k8s, namespace, name)) == replicas, 30, "endpoints of %s" % name)


def v2_gates(**extra):
    gates = {
        "runtime": "mlserver", "model": MODEL, "model_version": "1",
        "retries": 1, "interval": 0.5, "timeout": 5,
        "smoke": {"body": INFER, "json_path": "$.outputs[0].data", "expect": [2, 4, 6]},
    }
    gates.update(extra)
    return gates


def assert_rolled_back(k8s, namespace, result, reason, witness, name="model", replicas=3):
    """Rolled back for ``reason``, with the Service's ready endpoints, as the witness saw them, never
    below the replicas (maxUnavailable 0) from before the change until v1 serves alone again."""
    assert result["verdict"] == "rolled_back", result["msg"] if "msg" in result else result
    assert result["reason"] == reason, result
    assert result["failed"] is True
    assert result["rolled_back_to"]["image"] == V1
    wait_for(lambda: deployment_ready(k8s, namespace, name, V1), 60, "%s back on v1" % name)
    witness.catch_up(lambda s: s.serving_images(name) == {V1: replicas})
    assert witness.floor(name) >= replicas, witness.ready_counts(name)
    # The new pods did serve before the rollback: the floor was held across a real change.
    assert any(V2 in mix for mix in witness.mixes(name)), witness.mixes(name)
    assert "Traceback" not in result.get("msg", "") + result.get("message", "")


def test_good_model_passes_every_gate_and_reports_each_with_timing(tg, k8s, namespace, routed, good_server):
    routed(good_server.port)
    deploy(k8s, namespace)
    result = rollout(tg, name="model", namespace=namespace, image=V2,
                     gates=v2_gates(bake_seconds=3, bake_interval=1))
    assert result["verdict"] == "complete", result.get("msg") or result
    assert "model gates passed on 3 of 3 new pod(s), bake 3s held" in result["message"]
    pods = sorted(p.metadata.name for p in k8s.core.list_namespaced_pod(namespace).items
                  if p.spec.containers[0].image == V2)
    assert len(pods) == 3
    by_check = {}
    for entry in result["gates"]:
        by_check.setdefault(entry["name"], []).append(entry)
        assert entry["ok"] is True, entry
        assert isinstance(entry["seconds"], float) and entry["seconds"] >= 0
    assert sorted(e["pod"] for e in by_check["server_ready"]) == pods
    assert sorted(e["pod"] for e in by_check["model_ready"]) == pods
    assert sorted(e["pod"] for e in by_check["smoke"]) == pods
    assert by_check["smoke"][0]["got"] == "HTTP 200, $.outputs[0].data = [2.0, 4.0, 6.0]"
    # The bake re-checked readiness every second: the entries count every round.
    assert by_check["model_ready"][0]["checks"] >= 3
    assert by_check["bake"][0]["ok"] is True
    assert result["durations"]["gate"] >= 3


def test_gate_overhead_on_a_good_rollout_is_reported(tg, k8s, namespace, routed, good_server):
    routed(good_server.port)
    deploy(k8s, namespace)
    plain = rollout(tg, name="model", namespace=namespace, image=V2)
    gated = rollout(tg, name="model", namespace=namespace, image="repo/model:v3", gates=v2_gates(retries=0))
    assert plain["verdict"] == gated["verdict"] == "complete", gated.get("msg")
    checks = [e for e in gated["gates"] if e["ok"]]
    assert len(checks) == 9  # 3 pods x (server_ready, model_ready, smoke)
    overhead = gated["durations"]["gate"]
    print("\ngate overhead: %.3fs for 9 checks on 3 pods (rollout %.3fs without gates, %.3fs with)" % (
        overhead, plain["durations"]["rollout"], gated["durations"]["rollout"]))
    # How small it is, is measured side by side in bench/ (the gate-overhead phase), never asserted here.
    assert overhead > 0 and gated["durations"]["rollout"] > 0, gated["durations"]


def test_model_that_never_loads_fails_the_gate_and_rolls_back(tg, k8s, namespace, routed):
    with ModelServer("unloaded") as server:
        routed(server.port)
        deploy(k8s, namespace)
        with Witness(k8s, namespace) as witness:
            result = rollout(tg, name="model", namespace=namespace, image=V2, gates=v2_gates())
            assert_rolled_back(k8s, namespace, result, "model_not_ready", witness)
    # The server itself said ready: only the model check knows better.
    failed = [e for e in result["gates"] if not e["ok"]]
    assert [e["name"] for e in failed] == ["model_ready"]
    pod = failed[0]["pod"]
    assert pod.startswith("model-")
    message = result["message"]
    assert "gate model_ready failed on pod %s/%s" % (namespace, pod) in message
    assert "GET /v2/models/tiny/versions/1/ready expected HTTP 200 (ready)" in message
    assert "got HTTP 404" in message and "not found" in message
    assert "rolled back to the previous template" in message


def test_wrong_inference_answer_fails_the_smoke_gate_and_rolls_back(tg, k8s, namespace, routed):
    with ModelServer("wrong") as server:
        routed(server.port)
        deploy(k8s, namespace)
        with Witness(k8s, namespace) as witness:
            result = rollout(tg, name="model", namespace=namespace, image=V2, gates=v2_gates())
            assert_rolled_back(k8s, namespace, result, "smoke_failed", witness)
    message = result["message"]
    assert "gate smoke failed on pod %s/model-" % namespace in message
    assert "POST /v2/models/tiny/versions/1/infer" in message
    assert "expected HTTP 200, $.outputs[0].data == [2, 4, 6]" in message
    assert "got HTTP 200, $.outputs[0].data = [3.0, 6.0, 9.0]" in message


def test_closed_port_fails_with_a_clear_message(tg, k8s, namespace, routed):
    routed(free_port())  # nothing listens there
    deploy(k8s, namespace)
    with Witness(k8s, namespace) as witness:
        result = rollout(tg, name="model", namespace=namespace, image=V2, gates=v2_gates(retries=0))
        assert_rolled_back(k8s, namespace, result, "gate_unreachable", witness)
    message = result["message"]
    assert "gate server_ready cannot reach pod %s/model-" % namespace in message
    assert "through the API server's port-forward" in message
    assert "connection refused" in message


@pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="Debian package prometheus is not installed "
                    "(apt-get install prometheus; scripts/bootstrap installs it)")
def test_prometheus_error_ratio_above_threshold_during_the_bake_rolls_back(
        tg, k8s, namespace, routed, good_server):
    exporter = Exporter().start()
    prom = Prometheus(exporter.port).start()
    try:
        wait_for(lambda: prom.query(ERROR_RATIO_QUERY), 30, "an error ratio from Prometheus")
        routed(good_server.port)
        deploy(k8s, namespace)
        gates = v2_gates(bake_seconds=60, bake_interval=1,
                         prometheus={"url": prom.url, "query": ERROR_RATIO_QUERY, "threshold": 0.05})
        with Witness(k8s, namespace) as witness:
            run = PlaybookRun(tg, "modelops.serving.model_rollout",
                              {"name": "model", "namespace": namespace, "image": V2, "gates": gates})
            assert run.wait_for_progress(lambda line: "bake: watching" in line, 120), run.output
            # Half the new version's requests start failing while the bake watches.
            exporter.errors_per_scrape = 50
            result = run.wait(180)
            assert_rolled_back(k8s, namespace, result, "prometheus_threshold", witness)
    finally:
        prom.stop()
        exporter.stop()
    entry = [e for e in result["gates"] if e["name"] == "prometheus"][0]
    assert entry["checks"] >= 2, entry  # it held before the errors began
    assert entry["ok"] is False
    message = result["message"]
    assert message.startswith("bake: gate prometheus failed: expected every sample of `%s` <= 0.05" % ERROR_RATIO_QUERY)
    assert "(not <= 0.05)" in message and "into the 60s bake window" in message
    assert result["durations"]["gate"] < 60


def test_cloudwatch_alarm_in_alarm_fails_the_rollout(tg, k8s, namespace, routed, good_server, moto_url):  # noqa: F811
    cw = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_url,
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    for name in ("model-latency-p99", "model-5xx"):
        cw.put_metric_alarm(AlarmName=name, MetricName=name, Namespace="ModelServing", Statistic="Average",
                            Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName="model-5xx", StateValue="ALARM", StateReason="5xx ratio 12% > 1% (test)")
    routed(good_server.port)
    deploy(k8s, namespace)
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}
    gates = v2_gates(cloudwatch={"alarm_names": ["model-latency-p99", "model-5xx"], "endpoint_url": moto_url})
    with Witness(k8s, namespace) as witness:
        result = PlaybookRun(tg, "modelops.serving.model_rollout",
                             {"name": "model", "namespace": namespace, "image": V2, "gates": gates},
                             extra_env=env).wait()
        assert_rolled_back(k8s, namespace, result, "cloudwatch_alarm", witness)
    assert "gate cloudwatch failed: alarm model-5xx is in ALARM: 5xx ratio 12% > 1% (test)" in result["message"]
    entry = [e for e in result["gates"] if e["name"] == "cloudwatch"][0]
    assert entry["got"] == "model-latency-p99 OK, model-5xx ALARM"


def test_bad_gate_settings_are_refused_before_anything_is_written(tg, k8s, namespace):
    deploy(k8s, namespace)
    result = rollout(tg, name="model", namespace=namespace, image=V2,
                     gates={"runtime": "tfserving", "sample": "0%"})
    assert result["failed"] is True and result["reason"] == "invalid_input"
    assert "gates.model is required for runtime tfserving" in result["msg"]
    d = k8s.apps.read_namespaced_deployment("model", namespace)
    assert d.spec.template.spec.containers[0].image == V1


def test_aws_credentials_given_as_options_never_appear_in_the_output(tg, k8s, namespace, routed, good_server,
                                                                      moto_url):  # noqa: F811
    cw = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_url,
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    cw.put_metric_alarm(AlarmName="model-ok", MetricName="ok", Namespace="ModelServing", Statistic="Average",
                        Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    routed(good_server.port)
    deploy(k8s, namespace)
    gates = v2_gates(cloudwatch={"alarm_names": ["model-ok"], "endpoint_url": moto_url, "region": REGION,
                                 "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
                                 "session_token": "session-token-never-shown"})
    run = PlaybookRun(tg, "modelops.serving.model_rollout",
                      {"name": "model", "namespace": namespace, "image": V2, "gates": gates}, verbosity=3)
    result = run.wait()
    assert result["verdict"] == "complete", result.get("msg") or result
    assert [e["ok"] for e in result["gates"] if e["name"] == "cloudwatch"] == [True]
    for secret in (ACCESS_KEY, SECRET_KEY, "session-token-never-shown"):
        assert secret not in run.output
        assert secret not in repr(result)


# -- a server of its own for each pod -----------------------------------------------------------------
def deploy_held(k8s, namespace, name="model", replicas=3):
    """Like ``deploy``, with every pod held not Ready until PodRoutes has routed it to its own server."""
    k8s.apps.create_namespaced_deployment(namespace, deployment_manifest(
        name, V1, replicas=replicas, max_surge=1, max_unavailable=0, annotations=dict(HELD)))
    k8s.core.create_namespaced_service(namespace, service_manifest(name))
    wait_for(lambda: deployment_ready(k8s, namespace, name, V1), 90, "%s on v1" % name)
    wait_for(lambda: len(ready_endpoint_targets(k8s, namespace, name)) == replicas, 30, "endpoints of %s" % name)


def _v2_pods(routes):
    return [n for n in routes.order if routes.images[n] == V2]


def test_one_wrong_pod_among_good_ones_fails_the_smoke_gate_naming_it(tg, k8s, namespace):
    with PodRoutes(k8s, namespace, lambda image, i: "wrong" if image == V2 and i == 1 else "good") as routes:
        deploy_held(k8s, namespace)
        with Witness(k8s, namespace) as witness:
            result = rollout(tg, name="model", namespace=namespace, image=V2, gates=v2_gates(retries=0))
            assert_rolled_back(k8s, namespace, result, "smoke_failed", witness)
        v2 = _v2_pods(routes)
    wrong = [n for n in v2 if routes.servers[n].behaviour == "wrong"]
    assert len(wrong) == 1, v2
    assert "gate smoke failed on pod %s/%s" % (namespace, wrong[0]) in result["message"]
    # The wrong pod's own server was asked to infer: the answer came from that pod, not a shared one.
    assert routes.servers[wrong[0]].asked("/infer"), routes.asked()
    assert [e["pod"] for e in result["gates"] if e["name"] == "smoke" and not e["ok"]] == wrong


def test_an_unloaded_model_on_one_pod_fails_the_model_gate_naming_it(tg, k8s, namespace):
    with PodRoutes(k8s, namespace, lambda image, i: "unloaded" if image == V2 and i == 2 else "good") as routes:
        deploy_held(k8s, namespace)
        with Witness(k8s, namespace) as witness:
            result = rollout(tg, name="model", namespace=namespace, image=V2, gates=v2_gates(retries=0))
            assert_rolled_back(k8s, namespace, result, "model_not_ready", witness)
        unloaded = [n for n in _v2_pods(routes) if routes.servers[n].behaviour == "unloaded"]
    assert len(unloaded) == 1
    assert "gate model_ready failed on pod %s/%s" % (namespace, unloaded[0]) in result["message"]
    assert routes.servers[unloaded[0]].asked("/ready"), routes.asked()


def test_a_sample_below_all_pods_asks_only_the_sampled_ones(tg, k8s, namespace):
    with PodRoutes(k8s, namespace, lambda image, i: "good") as routes:
        deploy_held(k8s, namespace)
        result = rollout(tg, name="model", namespace=namespace, image=V2, gates=v2_gates(retries=0, sample="34%"))
        v2 = _v2_pods(routes)
        asked = dict((n, len(routes.servers[n].requests)) for n in v2)
    assert result["verdict"] == "complete", result.get("msg") or result
    assert "model gates passed on 2 of 3 new pod(s)" in result["message"]
    # What the servers saw, not what the gate wrote down: two pods asked (3 checks each), one never.
    assert sorted(asked.values()) == [0, 3, 3], asked
    reported = sorted({e["pod"] for e in result["gates"]})
    assert reported == sorted(n for n, count in asked.items() if count), (reported, asked)
    # No v1 pod was asked anything.
    assert all(not routes.servers[n].requests for n in routes.order if routes.images[n] == V1)


@pytest.mark.parametrize("annotation, reason, words", [
    ({"restarts": "1"}, "bake_restart", "restarted (restarts 0 -> 1)"),
    ({"ready": "false"}, "bake_not_ready", "lost readiness"),
], ids=["restart", "ready_lost"])
def test_a_pod_that_restarts_or_loses_ready_during_the_bake_fails_it(tg, k8s, namespace, annotation, reason, words):
    with PodRoutes(k8s, namespace, lambda image, i: "good") as routes:
        deploy_held(k8s, namespace)
        with Witness(k8s, namespace) as witness:
            run = PlaybookRun(tg, "modelops.serving.model_rollout", {
                "name": "model", "namespace": namespace, "image": V2,
                "gates": v2_gates(retries=0, bake_seconds=600, bake_interval=2)})
            assert run.wait_for_progress(lambda line: "bake: watching" in line, 120), run.output
            victim = _v2_pods(routes)[0]
            k8s.core.patch_namespaced_pod(victim, namespace, {"metadata": {"annotations": {
                "testground.modelops.serving/" + k: v for k, v in annotation.items()}}})
            result = run.wait(180)
            if reason == "bake_not_ready":
                # The pod lost Ready: the floor of ready endpoints is one lower for that moment, by design.
                assert result["verdict"] == "rolled_back" and result["reason"] == reason, result
                wait_for(lambda: deployment_ready(k8s, namespace, "model", V1), 60, "model back on v1")
            else:
                assert_rolled_back(k8s, namespace, result, reason, witness)
    assert victim in result["message"] and words in result["message"], result["message"]
    assert "into the 600s bake window" in result["message"]


def test_url_mode_asks_the_url_once_and_not_the_pods(tg, k8s, namespace, good_server):
    with PodRoutes(k8s, namespace, lambda image, i: "good") as routes:
        deploy_held(k8s, namespace)
        result = rollout(tg, name="model", namespace=namespace, image=V2, gates=v2_gates(url=good_server.url))
        pods_asked = routes.asked()
    assert result["verdict"] == "complete", result.get("msg") or result
    assert "model gates passed on %s" % good_server.url in result["message"]
    # One target, the URL: each check once, and no pod's own server saw a request.
    assert sorted(e["name"] for e in result["gates"]) == ["model_ready", "server_ready", "smoke"]
    assert {e["pod"] for e in result["gates"]} == {good_server.url}
    assert not any(pods_asked.values()), pods_asked


def test_smoke_path_content_type_and_expected_status_reach_the_pod_as_given(tg, k8s, namespace):
    with PodRoutes(k8s, namespace, lambda image, i: "good") as routes:
        deploy_held(k8s, namespace, replicas=1)
        gates = v2_gates(retries=0, smoke={
            "path": "/v2/models/tiny/infer", "content_type": "application/json", "expect_status": 200,
            "body": INFER, "json_path": "$.outputs[0].data", "expect": [2, 4, 6]})
        result = rollout(tg, name="model", namespace=namespace, image=V2, gates=gates)
        v2 = _v2_pods(routes)
        infer = routes.servers[v2[0]].asked("/infer")
    assert result["verdict"] == "complete", result.get("msg") or result
    assert infer == [("POST", "/v2/models/tiny/infer")], infer
    # A status other than the one expected fails, naming both.
    with PodRoutes(k8s, namespace, lambda image, i: "good"):
        gates["smoke"]["expect_status"] = 201
        failed = rollout(tg, name="model", namespace=namespace, image="repo/model:v3", gates=gates)
    assert failed["verdict"] == "rolled_back" and failed["reason"] == "smoke_failed", failed
    assert "expected HTTP 201" in failed["message"] and "got HTTP 200" in failed["message"], failed["message"]


def test_a_pod_serving_tls_is_gated_over_https(tg, k8s, namespace, tmp_path):
    """``scheme: https`` speaks TLS to each pod inside the API server's port-forward, with the top-level
    ``json_path``/``expect`` on the model's readiness answer; ``validate_certs`` refuses a certificate
    the controller does not trust before anything is sent, and the rollout is rolled back."""
    ready = "/v2/models/%s/versions/1/ready" % MODEL
    pair = make_serving_pair(str(tmp_path), "model-server", sans=("model-server.internal",))
    with PodRoutes(k8s, namespace, lambda image, i: "good", tls=pair) as routes:
        deploy_held(k8s, namespace, replicas=2)
        result = rollout(tg, name="model", namespace=namespace, image=V2,
                         gates=v2_gates(retries=0, scheme="https", json_path="$.name", expect=MODEL))
        v2 = _v2_pods(routes)
        asked = {n: routes.servers[n].asked() for n in v2}
    assert result["verdict"] == "complete", result.get("msg") or result
    assert deployment_ready(k8s, namespace, "model", V2)
    # Each new pod's server, which speaks only TLS, answered every check itself.
    assert len(v2) == 2 and all(asked[n] == [("GET", "/v2/health/ready"), ("GET", ready), ("GET", ready),
                                             ("POST", "/v2/models/%s/versions/1/infer" % MODEL)] for n in v2), asked
    assert sorted((e["pod"], e["ok"], e["got"]) for e in result["gates"] if e["name"] == "expectation") == \
        [(n, True, 'HTTP 200, $.name = "%s"' % MODEL) for n in sorted(v2)]

    with PodRoutes(k8s, namespace, lambda image, i: "good", tls=pair) as routes:
        with Witness(k8s, namespace) as witness:
            failed = rollout(tg, name="model", namespace=namespace, image="repo/model:v3",
                             gates=v2_gates(retries=0, scheme="https", validate_certs=True))
            wait_for(lambda: deployment_ready(k8s, namespace, "model", V2), 90, "model back on v2")
            witness.catch_up(lambda s: s.serving_images("model") == {V2: 2})
        v3 = [n for n in routes.order if routes.images[n] == "repo/model:v3"]
        v3_asked = {n: routes.servers[n].asked() for n in v3}
    assert failed["verdict"] == "rolled_back" and failed["reason"] == "gate_unreachable", failed
    assert failed["rolled_back_to"]["image"] == V2
    assert "CERTIFICATE_VERIFY_FAILED" in failed["message"], failed["message"]
    assert witness.floor("model") >= 2, witness.ready_counts("model")
    # The handshake failed: no request reached a server that could not prove itself.
    assert v3 and not any(v3_asked.values()), v3_asked
