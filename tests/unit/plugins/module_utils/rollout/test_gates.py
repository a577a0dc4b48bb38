"""Gate logic per runtime, on answers shaped after each server's documented API (fixtures/gates/).

Triton, TorchServe, TF Serving and vLLM cannot run here; their judges are tested on these
answers. MLServer (KServe V2) runs for real in tests/integration/test_gates.py.
"""

import json
import os
import socket

import pytest
import yaml

from ansible_collections.modelops.serving.plugins.module_utils.rollout import gates, portforward, runtimes
from ansible_collections.modelops.serving.plugins.module_utils.rollout.portforward import PortForwardError, Response
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError
from testground.certs import make_serving_pair
from testground.modelserver.pods import PodServer
from tests.unit.plugins.module_utils.rollout.gate_scene import bake_scene, cfg, pod, restarted, scene

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "gates")


def answers(name):
    with open(os.path.join(FIXTURES, name + ".yaml")) as f:
        return yaml.safe_load(f)


def judge(check, answer):
    return check.judge(answer["status"], answer["body"].encode())


def checks_by_name(c):
    return dict((ch.name, ch) for ch in runtimes.readiness_checks(c))


# -- per runtime -----------------------------------------------------------------------------------
def test_triton_asks_server_then_versioned_model_readiness():
    checks = runtimes.readiness_checks(cfg(runtime="triton", model="resnet", model_version="3"))
    assert [(c.name, c.path) for c in checks] == [("server_ready", "/v2/health/ready"),
                                                  ("model_ready", "/v2/models/resnet/versions/3/ready")]
    a = answers("triton")
    assert judge(checks[0], a["server_ready"])[0]
    assert not judge(checks[0], a["server_not_ready"])[0]
    assert judge(checks[1], a["model_ready"])[0]
    ok, expected, got = judge(checks[1], a["model_unknown"])
    assert not ok and expected == "HTTP 200 (ready)"
    assert got == "HTTP 400: {\"error\":\"Request for unknown model: 'resnet' is not found\"}"
    assert judge(checks[1], a["model_loading"])[2] == "HTTP 400 (empty body)"


def test_kserve_ready_false_in_a_200_body_is_not_ready():
    check = checks_by_name(cfg(runtime="kserve_v2", model="m"))["model_ready"]
    assert not check.judge(200, b'{"name": "m", "ready": false}')[0]
    assert check.judge(200, b'{"name": "m", "ready": true}')[0]


def test_torchserve_pings_inference_port_and_reads_workers_on_the_management_port():
    checks = runtimes.readiness_checks(cfg(runtime="torchserve", model="squeezenet1_1"))
    assert [(c.name, c.path, c.port) for c in checks] == [
        ("server_ready", "/ping", runtimes.SERVING), ("model_ready", "/models/squeezenet1_1", runtimes.MANAGEMENT)]
    a = answers("torchserve")
    assert judge(checks[0], a["ping_healthy"]) == (True, 'HTTP 200, status "Healthy"', 'HTTP 200, status "Healthy"')
    assert not judge(checks[0], a["ping_unhealthy"])[0]
    assert judge(checks[1], a["describe_ready"]) == (
        True, "HTTP 200, model squeezenet1_1 with a worker READY", "HTTP 200, 1 worker(s), 1 READY")
    assert judge(checks[1], a["describe_loading"]) == (
        False, "HTTP 200, model squeezenet1_1 with a worker READY", "HTTP 200, workers: UNLOADING")
    assert judge(checks[1], a["describe_unknown"])[2].startswith("HTTP 404: ")


def test_torchserve_wanted_version_must_be_listed():
    check = checks_by_name(cfg(runtime="torchserve", model="squeezenet1_1", model_version="2.0"))["model_ready"]
    assert check.path == "/models/squeezenet1_1/2.0"
    ok, _e, got = judge(check, answers("torchserve")["describe_ready"])
    assert not ok and got.startswith("HTTP 200, no such model version listed")


def test_tfserving_wants_the_version_available():
    checks = runtimes.readiness_checks(cfg(runtime="tfserving", model="half_plus_two", model_version="2"))
    assert [(c.name, c.path) for c in checks] == [("model_ready", "/v1/models/half_plus_two/versions/2")]
    a = answers("tfserving")
    check = checks[0]
    assert judge(check, a["available"]) == (True, "HTTP 200, model half_plus_two version 2 AVAILABLE",
                                            "HTTP 200, version 2 AVAILABLE")
    assert judge(check, a["loading"])[2] == "HTTP 200, 2 LOADING"
    # The old version serving does not make the new one ready.
    assert judge(check, a["two_versions_old_available"]) == (
        False, "HTTP 200, model half_plus_two version 2 AVAILABLE", "HTTP 200, 2 LOADING")
    assert "Could not find SavedModel" in judge(check, a["load_failed"])[2]
    assert judge(check, a["unknown"])[2] == 'HTTP 404: {"error": "Could not find any versions of model half_plus_two"}'


def test_tfserving_any_available_version_without_a_wanted_one():
    check = checks_by_name(cfg(runtime="tfserving", model="half_plus_two"))["model_ready"]
    assert check.path == "/v1/models/half_plus_two"
    assert judge(check, answers("tfserving")["two_versions_old_available"])[0]


def test_vllm_health_is_not_enough_the_model_must_be_listed():
    checks = runtimes.readiness_checks(cfg(runtime="vllm", model="Qwen/Qwen2.5-0.5B-Instruct"))
    assert [(c.name, c.path) for c in checks] == [("server_ready", "/health"), ("model_ready", "/v1/models")]
    a = answers("vllm")
    assert judge(checks[0], a["health_ok"])[0]
    assert judge(checks[1], a["models"]) == (True, "HTTP 200, /v1/models lists Qwen/Qwen2.5-0.5B-Instruct",
                                             "HTTP 200, models: Qwen/Qwen2.5-0.5B-Instruct")
    assert judge(checks[1], a["models_other"]) == (False, "HTTP 200, /v1/models lists Qwen/Qwen2.5-0.5B-Instruct",
                                                   "HTTP 200, models: facebook/opt-125m")


def test_vllm_smoke_completion_checks_the_text():
    c = cfg(runtime="vllm", model="Qwen/Qwen2.5-0.5B-Instruct",
            smoke={"path": None, "expect_status": 200, "json_path": "$.choices[0].finish_reason", "expect": "stop"})
    check = runtimes.smoke_check(c, b'{"prompt": "The capital of France is", "max_tokens": 2}')
    assert (check.method, check.path) == ("POST", "/v1/completions")
    assert judge(check, answers("vllm")["completion"]) == (
        True, 'HTTP 200, $.choices[0].finish_reason == "stop"', 'HTTP 200, $.choices[0].finish_reason = "stop"')


def test_preset_paths_of_the_role_pass_through():
    # What roles/model_server hands over as model_server_result.gate (triton preset).
    preset = {"runtime": "triton", "port": 8000, "health_path": "/v2/health/ready",
              "model_path": "/v2/models/resnet/ready", "model": "resnet"}
    checks = runtimes.readiness_checks(cfg(**preset))
    assert [c.path for c in checks] == ["/v2/health/ready", "/v2/models/resnet/ready"]
    # custom preset: model_path "" skips the model check.
    checks = runtimes.readiness_checks(cfg(runtime="custom", health_path="/ready", model_path=""))
    assert [(c.name, c.path) for c in checks] == [("custom", "/ready")]


def test_custom_status_and_json_path():
    check = runtimes.readiness_checks(cfg(runtime="custom", path="/v1/ready", expect_status=204))[0]
    assert check.judge(204, b"")[0]
    assert check.judge(200, b"ok") == (False, "HTTP 204", "HTTP 200: ok")
    check = runtimes.readiness_checks(cfg(runtime="custom", path="/status", json_path="models[*].state",
                                          expect=["READY", "READY"]))[0]
    assert check.judge(200, b'{"models": [{"state": "READY"}, {"state": "READY"}]}')[0]
    ok, _e, got = check.judge(200, b'{"models": [{"state": "READY"}, {"state": "LOADING"}]}')
    assert not ok and got == 'HTTP 200, models[*].state = ["READY", "LOADING"]'
    ok, _e, got = check.judge(200, b'{"other": 1}')
    assert not ok and got == "HTTP 200, $ has no key 'models': {\"other\": 1}"
    assert check.judge(200, b"<html>")[2] == "HTTP 200, not JSON: <html>"


# -- JSON paths and values -------------------------------------------------------------------------
@pytest.mark.parametrize("expr, value", [
    ("$.outputs[0].data", [2.0, 4.0]),
    ("outputs.0.data", [2.0, 4.0]),
    ("$.outputs[-1].name", "y"),
    ("$['outputs'][0]['name']", "y"),
    ("outputs[*].name", ["y"]),
])
def test_json_path(expr, value):
    doc = {"outputs": [{"name": "y", "data": [2.0, 4.0]}]}
    assert runtimes.json_path(doc, expr) == value


def test_json_path_names_where_it_stopped():
    with pytest.raises(runtimes.PathMissing, match=r"\$\.outputs has no element \[3\]"):
        runtimes.json_path({"outputs": []}, "$.outputs[3].data")


def test_same_value_forgives_float_noise_only():
    assert runtimes.same_value([2, 4, 6], [2.0, 4.0000000001, 6.0])
    assert not runtimes.same_value([2, 4, 6], [3.0, 6.0, 9.0])
    assert not runtimes.same_value(True, 1)
    assert runtimes.same_value("0.5", 0.5)


@pytest.mark.parametrize("expected, got, same", [
    (1.0, 1.0000005, True),      # 5e-7 relative: float noise
    (100, 100.00005, True),
    (1.0, 1.00001, False),       # 1e-5 relative: a different answer
    (1.0, 1.05, False),
    ([2, 4, 6], [2.1, 4.2, 6.3], False),
    (0, 1e-10, True),            # absolute noise around zero
    (0, 1e-6, False),
])
def test_same_value_tolerance_is_float_noise_not_percent(expected, got, same):
    assert runtimes.same_value(expected, got) is same


def test_a_smoke_answer_five_percent_off_fails():
    c = cfg(runtime="custom", smoke={"path": "/infer", "expect_status": 200, "json_path": "$.y", "expect": [2, 4, 6]})
    check = runtimes.smoke_check(c, b"{}")
    assert check.judge(200, b'{"y": [2.0, 4.0, 6.0]}')[0]
    assert not check.judge(200, b'{"y": [2.1, 4.2, 6.3]}')[0]


# -- input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sample, total, size", [
    ("100%", 3, 3), ("50%", 3, 2), ("10%", 3, 1), (1, 3, 1), ("2", 3, 2), (5, 3, 3), ("34%", 3, 2)])
def test_sample_size(sample, total, size):
    assert gates.sample_size(gates.parse_sample(sample), total) == size


@pytest.mark.parametrize("bad", ["0%", "150%", 0, "-1", "half"])
def test_bad_sample_is_named(bad):
    with pytest.raises(InputError, match="gates.sample must be"):
        gates.parse_sample(bad)


def test_build_gates_collects_every_problem_at_once():
    with pytest.raises(InputError) as err:
        gates.build_gates(cfg(runtime="tfserving", retries=-1, url="ftp://x", smoke={"body": None, "path": None}))
    text = str(err.value)
    assert "gates.model is required for runtime tfserving" in text
    assert "gates.retries must be at least 0 (got -1)" in text
    assert "gates.url must be an http(s) URL" in text
    assert "gates.smoke.path is required for runtime tfserving without gates.model" in text


def test_build_gates_none_without_gates():
    assert gates.build_gates(None) is None
    assert gates.build_gates({}) is None


def test_smoke_body_from_dict_or_file(tmp_path):
    f = tmp_path / "req.json"
    f.write_bytes(b'{"instances": [1.0]}')
    g = gates.build_gates(cfg(runtime="tfserving", model="m", smoke={"body_file": str(f)}))
    assert g.smoke.body == b'{"instances": [1.0]}' and g.smoke.path == "/v1/models/m:predict"
    g = gates.build_gates(cfg(runtime="mlserver", model="m", smoke={"body": {"inputs": []}}))
    assert json.loads(g.smoke.body) == {"inputs": []}
    with pytest.raises(InputError, match="body or body_file, not both"):
        gates.build_gates(cfg(runtime="mlserver", model="m", smoke={"body": "x", "body_file": str(f)}))
    with pytest.raises(InputError, match="cannot read"):
        gates.build_gates(cfg(runtime="mlserver", model="m", smoke={"body_file": str(tmp_path / "nope")}))


# -- the gate run, with the network replaced ------------------------------------------------------
@pytest.fixture
def network(monkeypatch):
    """pod_request answers from a table: {(pod, port, path): Response or PortForwardError}."""
    table = {}
    calls = []

    def fake(api, namespace, name, port, method, path, **kw):
        calls.append((name, port, method, path))
        answer = table.get((name, port, path), table.get((None, port, path)))
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            raise PortForwardError("no route for %s:%s%s" % (name, port, path))
        return answer

    monkeypatch.setattr(gates, "pod_request", fake)
    return table, calls


def run(c, pods):
    g = gates.build_gates(c)
    ctx, view = scene(pods)
    outcome, entries = g.run(ctx, "rollout", view)
    return outcome, entries, ctx


def test_gates_pass_and_report_each_pod_check(network):
    table, calls = network
    table[(None, 8000, "/v2/health/ready")] = Response(200, b"")
    table[(None, 8000, "/v2/models/resnet/ready")] = Response(200, b"")
    outcome, entries, _ctx = run(cfg(runtime="triton", model="resnet", sample="2"), [pod("m-c"), pod("m-a"), pod("m-b")])
    assert outcome.ok, outcome.message
    assert outcome.message.endswith("model gates passed on 2 of 3 new pod(s)")
    assert [(e["name"], e["pod"], e["ok"]) for e in entries] == [
        ("server_ready", "m-a", True), ("model_ready", "m-a", True),
        ("server_ready", "m-b", True), ("model_ready", "m-b", True)]
    assert all(set(e) >= {"name", "pod", "ok", "seconds", "expected", "got"} for e in entries)


def test_each_pod_is_asked_itself_and_one_bad_pod_among_good_ones_fails(network):
    table, calls = network
    table[(None, 8000, "/v2/health/ready")] = Response(200, b"")
    table[(None, 8000, "/v2/models/resnet/ready")] = Response(200, b"")
    table[("m-b", 8000, "/v2/models/resnet/ready")] = Response(400, b"")
    outcome, entries, _ctx = run(cfg(runtime="triton", model="resnet", retries=0), [pod("m-a"), pod("m-b"), pod("m-c")])
    assert outcome.reason == "model_not_ready", outcome.message
    assert "on pod serving/m-b" in outcome.message
    assert [(c[0], c[3]) for c in calls] == [("m-a", "/v2/health/ready"), ("m-a", "/v2/models/resnet/ready"),
                                             ("m-b", "/v2/health/ready"), ("m-b", "/v2/models/resnet/ready")]
    assert [(e["pod"], e["ok"]) for e in entries] == [("m-a", True), ("m-a", True), ("m-b", True), ("m-b", False)]


def test_not_ready_pods_are_not_gated(network):
    table, calls = network
    table[(None, 8000, "/v2/health/ready")] = Response(200, b"")
    outcome, _entries, _ctx = run(cfg(runtime="triton"), [pod("m-a", ready=False), pod("m-b")])
    assert outcome.ok
    assert {c[0] for c in calls} == {"m-b"}


def test_failure_names_pod_check_expected_and_got_after_retries(network):
    table, calls = network
    table[(None, 8000, "/v2/health/ready")] = Response(200, b"")
    table[(None, 8000, "/v2/models/resnet/ready")] = Response(400, b"")
    outcome, entries, ctx = run(cfg(runtime="triton", model="resnet", retries=2, interval=1.5), [pod("m-a")])
    assert not outcome.ok and outcome.reason == "model_not_ready"
    assert outcome.message == ("gate model_ready failed on pod serving/m-a: GET /v2/models/resnet/ready expected "
                               "HTTP 200 (ready), got HTTP 400 (empty body) (after 3 attempts)")
    # The retries waited in the wait loop, interval seconds apart (the clock moved only there).
    assert ctx.clock.monotonic() - 1000.0 == pytest.approx(3.0)
    assert entries[-1]["attempts"] == 3
    assert [c[3] for c in calls].count("/v2/models/resnet/ready") == 3


def test_a_pod_that_cannot_be_reached_fails_with_the_kubelet_words(network):
    table, _calls = network
    table[(None, 8000, "/v2/health/ready")] = PortForwardError(
        "cannot reach port 8000 of pod serving/m-a through the API server's port-forward: dial tcp "
        "127.0.0.1:8000: connect: connection refused")
    outcome, _entries, _ctx = run(cfg(runtime="triton", retries=0), [pod("m-a")])
    assert outcome.reason == "gate_unreachable"
    assert outcome.message.startswith("gate server_ready cannot reach pod serving/m-a: cannot reach port 8000")
    assert "connection refused" in outcome.message


def test_torchserve_management_port_is_used_for_the_model(network):
    table, calls = network
    a = answers("torchserve")
    table[(None, 8080, "/ping")] = Response(200, a["ping_healthy"]["body"].encode())
    table[(None, 8081, "/models/squeezenet1_1")] = Response(200, a["describe_loading"]["body"].encode())
    outcome, _entries, _ctx = run(cfg(runtime="torchserve", model="squeezenet1_1", retries=0), [pod("m-a")])
    assert outcome.reason == "model_not_ready"
    assert "workers: UNLOADING" in outcome.message
    assert [c[1] for c in calls] == [8080, 8081]


def test_no_ready_pod_is_a_failure(network):
    outcome, _entries, _ctx = run(cfg(runtime="triton"), [pod("m-a", ready=False)])
    assert outcome.reason == "gate_no_pods"


def test_the_bake_rechecks_every_interval_and_holds(network):
    table, calls = network
    table[(None, 8000, "/v2/health/ready")] = Response(200, b"")
    outcome, entries, ctx = run(cfg(runtime="triton", retries=0, bake_seconds=3, bake_interval=1), [pod("m-a")])
    assert outcome.ok and outcome.message.endswith("bake 3s held")
    # The first check, then a round at 1, 2 and 3 s (the end of the bake).
    assert len(calls) == 4
    bake = [e for e in entries if e["name"] == "bake"][0]
    assert bake["ok"] and "3 check round(s) passed" in bake["got"]


@pytest.mark.parametrize("change, reason, words", [
    (restarted, "bake_restart", "container server of pod m-b restarted (restarts 0 -> 1)"),
    (lambda p: pod("m-b", ready=False), "bake_not_ready", "m-b"),
])
def test_a_pod_that_restarts_or_loses_ready_during_the_bake_fails_it(network, change, reason, words):
    table, _calls = network
    table[(None, 8000, "/v2/health/ready")] = Response(200, b"")  # the server itself keeps answering
    pods = [pod("m-a"), pod("m-b")]
    g = gates.build_gates(cfg(runtime="triton", retries=0, bake_seconds=10, bake_interval=5))
    ctx, view = bake_scene(pods, [(3, [change(pods[1])])])
    outcome, entries = g.run(ctx, "rollout", view)
    assert (outcome.ok, outcome.reason) == (False, reason), outcome.message
    assert words in outcome.message and "into the 10s bake window" in outcome.message
    assert [e["ok"] for e in entries if e["name"] == "bake"] == [False]


def test_the_bake_renews_the_lease_while_it_holds(network):
    table, calls = network
    table[(None, 8000, "/v2/health/ready")] = Response(200, b"")

    class Lease:
        next_renewal = 1000.0 + 2
        renewals = []

        def due(self, now):
            return now >= self.next_renewal

        def renew(self):
            self.renewals.append(ctx.clock.monotonic())
            self.next_renewal = ctx.clock.monotonic() + 2

        def check(self, now):
            pass

    g = gates.build_gates(cfg(runtime="triton", retries=0, bake_seconds=10, bake_interval=5))
    ctx, view = scene([pod("m-a")])
    ctx.loop.lease = Lease()
    outcome, _entries = g.run(ctx, "rollout", view)
    assert outcome.ok
    assert [t - 1000.0 for t in ctx.loop.lease.renewals] == [2, 4, 6, 8, 10]


# -- metric gates ----------------------------------------------------------------------------------
@pytest.fixture
def prometheus(monkeypatch):
    answer = {}

    def fake(base, method, path, **kw):
        answer["path"] = path
        a = answer["now"]
        if isinstance(a, Exception):
            raise a
        return Response(a["status"], a["body"].encode())

    monkeypatch.setattr(gates, "url_request", fake)
    return answer


def prom_gates(**kw):
    p = dict((k, v.get("default")) for k, v in gates.PROMETHEUS_SPEC.items())
    p.update(url="http://prom:9090", query="error_ratio", threshold=0.05)
    p.update(kw)
    g = gates.build_gates(cfg(runtime="triton", prometheus=p))
    return g


def test_prometheus_below_threshold_holds(prometheus):
    prometheus["now"] = answers("prometheus")["vector_low"]
    g = prom_gates()
    g.check_metrics()
    assert prometheus["path"] == "/api/v1/query?query=error_ratio"
    assert g.report.entries[0]["got"] == '0.01 for {version="v2"}'


def test_prometheus_above_threshold_fails_with_the_value(prometheus):
    prometheus["now"] = answers("prometheus")["vector_high"]
    with pytest.raises(gates.Failure) as err:
        prom_gates().check_metrics()
    assert err.value.outcome.reason == "prometheus_threshold"
    assert str(err.value) == ('gate prometheus failed: expected every sample of `error_ratio` <= 0.05, '
                              'got 0.5 for {version="v2"} (not <= 0.05)')


@pytest.mark.parametrize("name, fail_on_empty, ok, reason", [
    ("vector_empty", False, True, None), ("vector_nan", False, True, None),
    ("vector_empty", True, False, "prometheus_no_data"), ("bad_query", False, False, "prometheus_error"),
])
def test_prometheus_no_data_and_errors(prometheus, name, fail_on_empty, ok, reason):
    prometheus["now"] = answers("prometheus")[name]
    g = prom_gates(fail_on_empty=fail_on_empty)
    if ok:
        g.check_metrics()
        return
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert err.value.outcome.reason == reason
    if name == "bad_query":
        assert "HTTP 400, bad_data: invalid parameter" in str(err.value)


def test_prometheus_scalar_and_comparison(prometheus):
    prometheus["now"] = answers("prometheus")["scalar"]
    prom_gates(threshold=2, comparison="ge").check_metrics()
    with pytest.raises(gates.Failure):
        prom_gates(threshold=2, comparison="lt").check_metrics()


def _scalar(value):
    return {"status": 200, "body": json.dumps({"status": "success",
                                               "data": {"resultType": "scalar", "result": [1700000000, str(value)]}})}


@pytest.mark.parametrize("comparison, holds", [
    # value below, equal to, above the threshold (0.05)
    ("le", (True, True, False)), ("lt", (True, False, False)), ("ge", (False, True, True)),
    ("gt", (False, False, True)), ("eq", (False, True, False)), ("ne", (True, False, True)),
])
def test_prometheus_comparisons_at_the_threshold(prometheus, comparison, holds):
    for value, ok in zip((0.04, 0.05, 0.06), holds):
        prometheus["now"] = _scalar(value)
        g = prom_gates(comparison=comparison)
        if ok:
            g.check_metrics()
        else:
            with pytest.raises(gates.Failure):
                g.check_metrics()
        assert g.report.entries[-1]["ok"] is ok, (comparison, value)


def test_prometheus_unreachable(prometheus):
    prometheus["now"] = PortForwardError("cannot reach http://prom:9090: connection refused")
    with pytest.raises(gates.Failure) as err:
        prom_gates().check_metrics()
    assert err.value.outcome.reason == "prometheus_error"
    assert "connection refused" in str(err.value)


class FakeCloudWatch:
    def __init__(self, alarms):
        self.alarms = alarms

    def describe_alarms(self, AlarmNames, AlarmTypes, NextToken=None):  # noqa: N803 - boto3's names
        found = [a for a in self.alarms if a["AlarmName"] in AlarmNames]
        return {"MetricAlarms": found[:1] if NextToken is None else found[1:],
                "NextToken": "p2" if NextToken is None and len(found) > 1 else None}


def cw_gates(alarms, names):
    g = gates.build_gates(cfg(runtime="triton", cloudwatch={"alarm_names": names}))
    g._cloudwatch = FakeCloudWatch(alarms)
    return g


def test_cloudwatch_any_alarm_in_alarm_fails():
    alarms = [{"AlarmName": "p99", "StateValue": "OK"},
              {"AlarmName": "5xx", "StateValue": "ALARM", "StateReason": "Threshold Crossed: 1 datapoint [12.0]"}]
    g = cw_gates(alarms, ["p99", "5xx"])
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert err.value.outcome.reason == "cloudwatch_alarm"
    assert str(err.value) == "gate cloudwatch failed: alarm 5xx is in ALARM: Threshold Crossed: 1 datapoint [12.0]"
    assert g.report.entries[0]["got"] == "p99 OK, 5xx ALARM"


def test_cloudwatch_ok_and_missing_alarm():
    cw_gates([{"AlarmName": "p99", "StateValue": "OK"}], ["p99"]).check_metrics()
    with pytest.raises(gates.Failure) as err:
        cw_gates([{"AlarmName": "p99", "StateValue": "OK"}], ["p99", "typo"]).check_metrics()
    assert err.value.outcome.reason == "cloudwatch_error"
    assert "no such alarm: typo" in str(err.value)


# -- scheme https and validate_certs; json_path / expect at the top level ---------------------------
# TLS is spoken for real: the pod's server is a PodServer serving HTTPS on loopback with a certificate
# of a CA made for the test, and the forwarded stream is a plain TCP connection to it (what the API
# server's port-forward carries, without the API server; the integration test
# test_gates.py::test_a_pod_serving_tls_is_gated_over_https goes through the API server).
READY = "/v2/models/tiny/versions/1/ready"


class SocketStream:
    """A pod's port as one TCP connection on loopback, with PodPortForward's interface."""

    def __init__(self, api, namespace, pod_name, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.where = "port %d of pod %s/%s" % (port, namespace, pod_name)
        self.sock = None

    def open(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        return self

    def send(self, data):
        self.sock.sendall(data)

    def recv(self):
        return self.sock.recv(65536)

    def close(self):
        if self.sock is not None:
            self.sock.close()


@pytest.fixture
def tls_pair(tmp_path):
    # Issued for a name that is not the pod's: the host name is not compared, only the issuer.
    return make_serving_pair(str(tmp_path), "model-server", sans=("model-server.internal",))


@pytest.fixture
def servers(monkeypatch, tls_pair):
    monkeypatch.setattr(portforward, "PodPortForward", SocketStream)
    started = {"tls": PodServer("m-a", tls=tls_pair).start(), "plain": PodServer("m-b").start()}
    yield started
    for server in started.values():
        server.stop()


def ask(server, scheme, validate_certs):
    return portforward.pod_request(None, "serving", server.name, server.port, "GET", READY, timeout=5,
                                   scheme=scheme, validate_certs=validate_certs)


def test_https_reaches_a_pod_serving_tls_without_checking_its_certificate_by_default(servers):
    answer = ask(servers["tls"], "https", validate_certs=False)
    assert (answer.status, answer.json()) == (200, {"name": "tiny", "ready": True})
    assert servers["tls"].requests == [("GET", READY)]


def test_validate_certs_refuses_a_certificate_the_controller_does_not_trust(servers, monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with pytest.raises(PortForwardError) as err:
        ask(servers["tls"], "https", validate_certs=True)
    assert str(err.value).startswith("TLS with port %d of pod serving/m-a failed: [SSL: CERTIFICATE_VERIFY_FAILED] "
                                     "certificate verify failed" % servers["tls"].port), str(err.value)
    assert servers["tls"].requests == []  # nothing was sent to a server that could not prove itself


def test_validate_certs_trusts_the_ca_of_the_controllers_default_store(servers, monkeypatch, tls_pair):
    """The store is OpenSSL's default, which SSL_CERT_FILE / SSL_CERT_DIR point elsewhere (docs/gates.md)."""
    monkeypatch.setenv("SSL_CERT_FILE", tls_pair["ca_crt"])
    answer = ask(servers["tls"], "https", validate_certs=True)
    assert answer.status == 200
    assert servers["tls"].requests == [("GET", READY)]


def test_http_to_a_pod_serving_tls_is_unreachable_in_words(servers):
    with pytest.raises(PortForwardError) as err:
        ask(servers["tls"], "http", validate_certs=False)
    assert str(err.value).startswith("port %d of pod serving/m-a broke off GET %s: " % (servers["tls"].port, READY))


def test_https_to_a_pod_serving_plain_http_is_a_tls_failure_in_words(servers):
    with pytest.raises(PortForwardError) as err:
        ask(servers["plain"], "https", validate_certs=False)
    assert str(err.value).startswith("TLS with port %d of pod serving/m-b failed: " % servers["plain"].port)


@pytest.fixture
def recorded(monkeypatch):
    """pod_request answering the V2 readiness of model tiny, recording every call's options."""
    calls = []

    def fake(api, namespace, name, port, method, path, **kw):
        calls.append(dict(kw, pod=name, port=port, path=path))
        return Response(200, b'{"name": "tiny", "ready": true}')

    monkeypatch.setattr(gates, "pod_request", fake)
    return calls


def v2(**kw):
    return cfg(runtime="mlserver", model="tiny", model_version="1", retries=0, **kw)


def test_scheme_and_validate_certs_reach_every_request_to_every_pod(recorded):
    outcome, _entries, _ctx = run(v2(scheme="https", validate_certs=True), [pod("m-a"), pod("m-b")])
    assert outcome.ok, outcome.message
    assert [(c["pod"], c["path"], c["scheme"], c["validate_certs"]) for c in recorded] == [
        ("m-a", "/v2/health/ready", "https", True), ("m-a", READY, "https", True),
        ("m-b", "/v2/health/ready", "https", True), ("m-b", READY, "https", True)]


def test_pods_are_asked_in_plain_http_without_certificate_checks_by_default(recorded):
    outcome, _entries, _ctx = run(v2(), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert {(c["scheme"], c["validate_certs"]) for c in recorded} == {("http", False)}


# -- json_path / expect at the top level, for the runtimes that are not custom ----------------------
@pytest.mark.parametrize("runtime, model, last_path, last_port", [
    ("mlserver", "tiny", READY, runtimes.SERVING),
    ("triton", "tiny", READY, runtimes.SERVING),
    ("kserve_v2", "tiny", READY, runtimes.SERVING),
    ("torchserve", "tiny", "/models/tiny/1", runtimes.MANAGEMENT),
    ("tfserving", "tiny", "/v1/models/tiny/versions/1", runtimes.SERVING),
    ("vllm", "tiny", "/v1/models", runtimes.SERVING),
])
def test_json_path_adds_an_expectation_on_the_last_readiness_answer(runtime, model, last_path, last_port):
    checks = runtimes.readiness_checks(cfg(runtime=runtime, model=model, model_version="1", json_path="$.name",
                                           expect="tiny"))
    last = checks[-1]
    assert (last.name, last.path, last.port, last.method) == ("expectation", last_path, last_port, "GET")
    # Added after the runtime's own checks, which stay as they were.
    plain = runtimes.readiness_checks(cfg(runtime=runtime, model=model, model_version="1"))
    assert [(c.name, c.path, c.port) for c in checks[:-1]] == [(c.name, c.path, c.port) for c in plain]
    assert last.judge(200, b'{"name": "tiny"}') == (True, 'HTTP 200, $.name == "tiny"', 'HTTP 200, $.name = "tiny"')
    assert last.judge(200, b'{"name": "other"}') == (
        False, 'HTTP 200, $.name == "tiny"', 'HTTP 200, $.name = "other"')


def test_the_expectation_follows_the_health_check_when_the_model_check_is_skipped():
    checks = runtimes.readiness_checks(cfg(runtime="mlserver", model="tiny", model_path="", json_path="$.ready"))
    assert [(c.name, c.path) for c in checks] == [("server_ready", "/v2/health/ready"),
                                                  ("expectation", "/v2/health/ready")]
    # Without expect the value must only be there.
    assert checks[1].judge(200, b'{"ready": true}')[0]
    ok, expected, got = checks[1].judge(200, b"{}")
    assert not ok and expected == "HTTP 200, $.ready present" and got.startswith("HTTP 200, ")


def test_no_readiness_check_means_no_expectation_either():
    checks = runtimes.readiness_checks(cfg(runtime="mlserver", model="tiny", health_path="", model_path="",
                                           json_path="$.ready", expect=True))
    assert checks == []


def test_the_expectation_holds_to_expect_status():
    check = runtimes.readiness_checks(cfg(runtime="vllm", model="tiny", json_path="$.object", expect="list",
                                          expect_status=203))[-1]
    assert check.judge(203, b'{"object": "list"}')[0]
    assert check.judge(200, b'{"object": "list"}')[:2] == (False, 'HTTP 203, $.object == "list"')


def test_an_answer_that_misses_the_expectation_fails_the_gate_naming_path_value_and_pod(recorded):
    outcome, entries, _ctx = run(v2(json_path="$.name", expect="resnet"), [pod("m-a")])
    assert not outcome.ok and outcome.reason == "model_not_ready"
    assert outcome.message == ('gate expectation failed on pod serving/m-a: GET %s expected HTTP 200, '
                               '$.name == "resnet", got HTTP 200, $.name = "tiny"' % READY)
    assert [(e["name"], e["ok"]) for e in entries] == [("server_ready", True), ("model_ready", True),
                                                       ("expectation", False)]


def test_an_answer_that_meets_the_expectation_passes_and_is_reported(recorded):
    outcome, entries, _ctx = run(v2(json_path="$.ready", expect=True), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert [(e["name"], e["ok"], e["got"]) for e in entries][-1] == ("expectation", True, "HTTP 200, $.ready = true")
