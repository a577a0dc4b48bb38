"""The gate verdicts as the operator reads them: input errors, whom the gate asks and how, what the
report and the progress lines say, the metric gates and the bake (gates.py).

The network is replaced by recorders that keep every argument of every request, so a test can
say which pod, port, scheme and headers were really used; the wait loop and the clock are the
fakes of gate_scene.py (the clock moves only when the loop waits).
"""

import json
import math

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.eks import aws
from ansible_collections.modelops.serving.plugins.module_utils.rollout import gates
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError, LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.portforward import PortForwardError, Response
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import Cap
from tests.unit.plugins.module_utils.rollout.fake import FakeClock
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import Change
from tests.unit.plugins.module_utils.rollout.gate_scene import DEPLOYMENT, bake_scene, cfg, pod, restarted, scene

STATUS_DONE = 'deployment "m" successfully rolled out'


class Network:
    """Answers pod and URL requests from ``answers`` {(pod or url, port, path): [Response or error, ...]}.

    A list is answered in turn (the last one repeats); every request is kept with all its arguments.
    """

    def __init__(self):
        self.answers = {}
        self.calls = []

    def answer(self, key, *responses):
        self.answers[key] = list(responses)

    def _next(self, key, fallback):
        queue = self.answers.get(key) or self.answers.get(fallback)
        if not queue:
            raise PortForwardError("no route for %s" % (key,))
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def pod_request(self, api, namespace, name, port, method, path, **kw):
        self.calls.append(dict(kw, api=api, namespace=namespace, pod=name, port=port, method=method, path=path))
        return self._next((name, port, path), (None, port, path))

    def url_request(self, base, method, path, **kw):
        self.calls.append(dict(kw, base=base, method=method, path=path))
        return self._next((base, None, path), (base, None, None))


@pytest.fixture
def net(monkeypatch):
    n = Network()
    monkeypatch.setattr(gates, "pod_request", n.pod_request)
    monkeypatch.setattr(gates, "url_request", n.url_request)
    return n


def ok200(body=b""):
    return Response(200, body)


def gate_run(c, pods, view_scene=None):
    """(outcome, report entries, progress lines, ctx) of one gate run on ``pods``."""
    g = gates.build_gates(c)
    ctx, view = (view_scene or scene)(pods)
    lines = []
    ctx.progress = lines.append
    outcome, entries = g.run(ctx, "rollout", view)
    return outcome, entries, lines, ctx


def failed_pod(name):
    p = pod(name, ready=True)
    p["status"]["phase"] = "Failed"
    return p


def deleting_pod(name):
    p = pod(name, ready=True)
    p["metadata"]["deletionTimestamp"] = "2026-11-25T09:00:00Z"
    return p


# -- input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, parsed", [
    (None, ("percent", 100.0)), (" 50% ", ("percent", 50.0)), ("100%", ("percent", 100.0)),
    ("0.5%", ("percent", 0.5)), (1, ("count", 1)), (" 3 ", ("count", 3)),
])
def test_sample_forms(value, parsed):
    assert gates.parse_sample(value) == parsed


@pytest.mark.parametrize("bad", ["100.5%", "0%", "-5%", "0", "1.5", "", "%"])
def test_a_bad_sample_says_what_to_give(bad):
    with pytest.raises(InputError) as err:
        gates.parse_sample(bad)
    assert str(err.value) == ("gates.sample must be a whole number of pods (at least 1) or a percentage above 0%% "
                              "and up to 100%% (got %r)" % (bad,))


@pytest.mark.parametrize("sample, total, size", [
    (("percent", 50.0), 0, 0), (("count", 2), 0, 0), (("percent", 100.0), 1, 1), (("count", 1), 1, 1),
    (("percent", 50.0), 4, 2), (("percent", 10.0), 30, 3), (("percent", 1.0), 101, 2), (("percent", 0.5), 3, 1),
    (("percent", 100.0), 7, 7), (("count", 9), 7, 7),
])
def test_sample_size_rounds_up_but_not_over_float_noise(sample, total, size):
    assert gates.sample_size(sample, total) == size


@pytest.mark.parametrize("key, low, at_minimum", [
    ("timeout", 0.09, 0.1), ("retries", -1, 0), ("interval", -0.5, 0), ("bake_seconds", -1, 0),
    ("bake_interval", 0.4, 0.5), ("port", 0, 1), ("management_port", 0, 1),
])
def test_each_number_has_a_minimum(key, low, at_minimum):
    with pytest.raises(InputError) as err:
        gates.check_settings(cfg(runtime="triton", **{key: low}))
    minimum = {"timeout": 0.1, "bake_interval": 0.5}.get(key, at_minimum)
    assert str(err.value) == "gates.%s must be at least %s (got %s)" % (key, minimum, low)
    gates.check_settings(cfg(runtime="triton", **{key: at_minimum}))


def test_every_problem_is_named_at_once_in_order():
    with pytest.raises(InputError) as err:
        gates.check_settings(cfg(runtime="custom", timeout=0, port=0, url="http://", prometheus={"url": "prom:9090"},
                                 cloudwatch={"alarm_names": []}))
    assert str(err.value) == (
        "gates.path is required for runtime custom; gates.timeout must be at least 0.1 (got 0); "
        "gates.port must be at least 1 (got 0); gates.url must be an http(s) URL (got 'http://'); "
        "gates.prometheus.url must be an http(s) URL (got 'prom:9090'); "
        "gates.cloudwatch.alarm_names must name at least one alarm")


@pytest.mark.parametrize("url, ok", [("https://svc.example:8443/m", True), ("http://svc", True),
                                     ("ftp://svc", False), ("svc:8080", False), ("http:///x", False)])
def test_the_gate_url_must_be_http_with_a_host(url, ok):
    c = cfg(runtime="triton", url=url)
    if ok:
        gates.check_settings(c)
        return
    with pytest.raises(InputError) as err:
        gates.check_settings(c)
    assert str(err.value) == "gates.url must be an http(s) URL (got %r)" % url


def test_prometheus_without_a_url_is_named():
    with pytest.raises(InputError) as err:
        gates.check_settings(cfg(runtime="triton", prometheus={"query": "up"}))
    assert str(err.value) == "gates.prometheus.url must be an http(s) URL (got None)"
    gates.check_settings(cfg(runtime="triton", prometheus={"url": "https://prom"}))
    with pytest.raises(InputError, match=r"^gates.prometheus.url must be an http\(s\) URL \(got 'http://'\)$"):
        gates.check_settings(cfg(runtime="triton", prometheus={"url": "http://"}))


def test_cloudwatch_needs_boto3(monkeypatch):
    monkeypatch.setattr(aws, "HAS_BOTO3", False)
    with pytest.raises(InputError) as err:
        gates.check_settings(cfg(runtime="triton", cloudwatch={"alarm_names": ["p99"]}))
    assert str(err.value) == "gates.cloudwatch needs the boto3 Python library on the host that runs the module"


def test_an_empty_cloudwatch_is_still_checked():
    with pytest.raises(InputError, match="^gates.cloudwatch.alarm_names must name at least one alarm$"):
        gates.check_settings(cfg(runtime="triton", cloudwatch={}))
    gates.check_settings(cfg(runtime="triton", cloudwatch=None))


def test_smoke_bodies(tmp_path):
    def body(smoke):
        return gates.build_gates(cfg(runtime="mlserver", model="m", smoke=smoke)).smoke.body

    assert body({"body": "text"}) == b"text"
    assert body({"body": 5}) == b"5"
    assert body({"body": [1, "\u00e9"]}) == b'[1, "\\u00e9"]'
    assert body({"body": ""}) == b""
    assert body({"path": "/x"}) is None
    missing = str(tmp_path / "nope")
    with pytest.raises(InputError) as err:
        body({"body_file": missing})
    assert str(err.value) == ("gates.smoke.body_file: cannot read %s: [Errno 2] No such file or directory: %r"
                              % (missing, missing))
    f = tmp_path / "b"
    f.write_bytes(b"\x00raw")
    assert body({"body_file": str(f), "body": None}) == b"\x00raw"
    with pytest.raises(InputError, match="^gates.smoke: give body or body_file, not both$"):
        body({"body_file": str(f), "body": ""})


# -- whom the gate asks, and how -------------------------------------------------------------------
def test_each_request_goes_to_its_pod_port_scheme_and_timeout(net):
    net.answer((None, 9000, "/v2/health/ready"), ok200())
    net.answer((None, 9000, "/v2/models/m/ready"), ok200())
    net.answer((None, 9000, "/v2/models/m/infer"), ok200())
    c = cfg(runtime="triton", model="m", port=9000, scheme="https", validate_certs=True, timeout=4,
            smoke={"body": {"inputs": []}, "timeout": 30, "content_type": "application/vnd+json"})
    outcome, entries, lines, ctx = gate_run(c, [pod("m-b"), failed_pod("m-f"), deleting_pod("m-d"), pod("m-a")])
    assert outcome.ok, outcome.message
    assert outcome.message == STATUS_DONE + "; model gates passed on 2 of 4 new pod(s)"
    tls = dict(api=ctx.api, namespace="serving", port=9000, scheme="https", validate_certs=True)
    read = dict(tls, method="GET", body=None, headers=None, timeout=4)
    smoke = dict(tls, method="POST", path="/v2/models/m/infer", body=b'{"inputs": []}',
                 headers={"Content-Type": "application/vnd+json"}, timeout=30)
    assert net.calls == [dict(read, pod="m-a", path="/v2/health/ready"), dict(read, pod="m-a", path="/v2/models/m/ready"),
                         dict(smoke, pod="m-a"),
                         dict(read, pod="m-b", path="/v2/health/ready"), dict(read, pod="m-b", path="/v2/models/m/ready"),
                         dict(smoke, pod="m-b")]
    assert [(e["name"], e["pod"], e["ok"], e["checks"], e["attempts"]) for e in entries] == [
        ("server_ready", "m-a", True, 1, 1), ("model_ready", "m-a", True, 1, 1), ("smoke", "m-a", True, 1, 1),
        ("server_ready", "m-b", True, 1, 1), ("model_ready", "m-b", True, 1, 1), ("smoke", "m-b", True, 1, 1)]
    assert lines[0] == "gate: server_ready on pod serving/m-a: ok (0.000s)"
    assert len(lines) == 6


def test_the_default_port_is_the_runtimes_and_the_management_port_can_be_moved(net):
    net.answer((None, 8080, "/ping"), ok200(b'{"status": "Healthy"}'))
    net.answer((None, 9081, "/models/m"), ok200(b'[{"workers": [{"status": "READY"}]}]'))
    outcome, _e, _l, _ctx = gate_run(cfg(runtime="torchserve", model="m", management_port=9081), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert [(c["port"], c["scheme"], c["validate_certs"]) for c in net.calls] == [
        (8080, "http", False), (9081, "http", False)]


def test_a_url_gate_asks_the_url_once_and_the_management_port_on_its_host(net):
    base = "https://svc.example:8443/ONNX"
    net.answer((base, None, "/ping"), ok200(b'{"status": "Healthy"}'))
    net.answer(("https://svc.example:9081/ONNX", None, "/models/m"), ok200(b'[{"workers": [{"status": "READY"}]}]'))
    c = cfg(runtime="torchserve", model="m", url=base + "/", management_port=9081, validate_certs=True, timeout=3)
    outcome, entries, lines, _ctx = gate_run(c, [pod("m-a"), pod("m-b")])
    assert outcome.ok, outcome.message
    assert outcome.message == STATUS_DONE + "; model gates passed on " + base
    assert net.calls == [
        dict(base=base, method="GET", path="/ping", body=None, headers=None, timeout=3, validate_certs=True),
        dict(base="https://svc.example:9081/ONNX", method="GET", path="/models/m", body=None, headers=None,
             timeout=3, validate_certs=True)]
    assert [(e["name"], e["pod"]) for e in entries] == [("server_ready", base), ("model_ready", base)]
    assert lines[0] == "gate: server_ready on %s: ok (0.000s)" % base


def test_a_url_gate_sends_the_smoke_body_with_its_content_type(net):
    net.answer(("http://svc", None, "/health"), ok200())
    net.answer(("http://svc", None, "/v1/models"), ok200(b'{"data": [{"id": "m"}]}'))
    net.answer(("http://svc", None, "/v1/completions"), ok200())
    c = cfg(runtime="vllm", url="http://svc", smoke={"body": {"prompt": "hi"}, "content_type": "application/json"})
    outcome, _e, _l, _ctx = gate_run(c, [pod("m-a")])
    assert outcome.ok, outcome.message
    assert [(c["method"], c["path"], c["body"], c["headers"]) for c in net.calls] == [
        ("GET", "/health", None, None), ("GET", "/v1/models", None, None),
        ("POST", "/v1/completions", b'{"prompt": "hi"}', {"Content-Type": "application/json"})]


def test_a_url_gate_failure_names_the_url(net):
    net.answer(("http://svc", None, None), Response(503, b"warming"))
    outcome, _e, lines, _ctx = gate_run(cfg(runtime="vllm", url="http://svc", retries=0), [pod("m-a")])
    assert (outcome.reason, outcome.message) == (
        "model_not_ready", "gate server_ready failed on http://svc: GET /health expected HTTP 200, got HTTP 503: warming")
    assert lines == ["gate: server_ready on http://svc: FAILED (0.000s)", "gate: FAILED: " + outcome.message]


def test_the_smoke_request_takes_the_gate_timeout_unless_it_has_its_own(net):
    net.answer((None, 8080, "/v2/models/m/ready"), ok200())
    net.answer((None, 8080, "/v2/health/ready"), ok200())
    net.answer((None, 8080, "/v2/models/m/infer"), ok200())
    outcome, _e, _l, _ctx = gate_run(cfg(runtime="mlserver", model="m", timeout=6, smoke={"body": "{}"}), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert [(c["path"], c["timeout"]) for c in net.calls] == [
        ("/v2/health/ready", 6), ("/v2/models/m/ready", 6), ("/v2/models/m/infer", 6)]


def test_a_gate_of_metrics_only_asks_no_pod(net):
    net.answer(("http://prom", None, None), vector(({}, "0.01")))
    c = cfg(runtime="triton", health_path="", model_path="", prometheus=prom(url="http://prom", query="err"))
    outcome, entries, _l, _ctx = gate_run(c, [pod("m-a")])
    assert outcome.ok, outcome.message
    assert outcome.message == STATUS_DONE + "; model gates passed on 1 of 1 new pod(s)"
    assert [c.get("base") for c in net.calls] == ["http://prom"]
    assert [e["name"] for e in entries] == ["prometheus"]


def test_a_passed_gate_keeps_the_view_it_judged(net):
    net.answer((None, 8000, "/v2/health/ready"), ok200())
    g = gates.build_gates(cfg(runtime="triton"))
    ctx, view = scene([pod("m-a")])
    outcome, _entries = g.run(ctx, "rollout", view)
    assert (outcome.ok, outcome.reason) == (True, "complete") and outcome.view is view


def test_the_overall_cap_ends_the_gate_checks(net):
    net.answer((None, 8000, "/v2/health/ready"), Response(503, b""))
    g = gates.build_gates(cfg(runtime="triton", retries=10, interval=1))
    ctx, view = scene([pod("m-a")])
    ctx.cap = Cap(1000.0, 3.5)
    outcome, _entries = g.run(ctx, "rollout", view)
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert outcome.message == "no verdict within timeout=3.5s, the overall cap set for this run (%s)" % STATUS_DONE
    assert len(net.calls) == 4


class DeletedAt:
    """A scene in which the Deployment is deleted ``t`` seconds after the start."""

    def __init__(self, t):
        self.t = t

    def __call__(self, pods):
        ctx, view = bake_scene(pods, [])
        watches = ctx.loop._watch_factory(None, None)
        at = ctx.clock.monotonic() + self.t
        plain = watches.next_change

        def next_change(timeout):
            if at is not None and ctx.clock.monotonic() < at <= ctx.clock.monotonic() + (timeout or 0.01):
                ctx.clock.advance(at - ctx.clock.monotonic())
                change = Change("deployment", Change.EVENT, objects=[DEPLOYMENT], event_type="DELETED")
                watches.cache.apply(change)
                return change
            return plain(timeout)

        watches.next_change = next_change
        return ctx, view


@pytest.mark.parametrize("c, t, phase", [
    (dict(retries=3, interval=2), 1, "rollout gates"),          # while a check waits for its retry
    (dict(retries=1, interval=2, bake_seconds=10, bake_interval=5), 6, "bake"),  # in a bake round's retry
    (dict(retries=0, bake_seconds=10, bake_interval=5), 3, "bake"),             # between two rounds
])
def test_a_deployment_deleted_during_the_gates_is_named_so(net, c, t, phase):
    net.answer((None, 8000, "/v2/health/ready"), *([Response(503, b"")] if phase == "rollout gates" else
                                                   [ok200(), Response(503, b""), ok200()]))
    outcome, _e, _l, _ctx = gate_run(cfg(runtime="triton", **c), [pod("m-a")], view_scene=DeletedAt(t))
    assert (outcome.ok, outcome.reason, outcome.message) == (
        False, "deployment_deleted", "Deployment serving/m was deleted during the %s" % phase)


def test_no_ready_pod(net):
    outcome, entries, lines, _ctx = gate_run(cfg(runtime="triton"), [pod("m-a", ready=False), failed_pod("m-b")])
    assert (outcome.ok, outcome.reason, outcome.message) == (
        False, "gate_no_pods", "no Ready pod of the new ReplicaSet to gate")
    assert outcome.view is not None and entries == [] and net.calls == []
    assert lines == ["gate: FAILED: no Ready pod of the new ReplicaSet to gate"]


# -- verdicts of the checks ------------------------------------------------------------------------
@pytest.mark.parametrize("c, reason", [
    (dict(runtime="custom", path="/s"), "gate_check_failed"),
    (dict(runtime="triton", health_path="", model_path="", smoke={"path": "/s"}), "smoke_failed"),
    (dict(runtime="triton", health_path="/s"), "model_not_ready"),
    (dict(runtime="vllm", health_path="", model_path="/s", json_path="$.x"), "model_not_ready"),
])
def test_the_reason_says_which_kind_of_check_failed(net, c, reason):
    net.answer((None, None, None), Response(500, b""))
    net.answers = {}
    for port in (8000, 8080):
        net.answer((None, port, "/s"), Response(500, b""))
    outcome, _e, _l, _ctx = gate_run(cfg(retries=0, **c), [pod("m-a")])
    assert outcome.reason == reason, outcome.message
    assert " (after" not in outcome.message


def test_a_check_that_passes_on_a_retry_passes_and_counts_its_attempts(net):
    net.answer((None, 8000, "/v2/health/ready"), Response(503, b""), ok200())
    outcome, entries, lines, ctx = gate_run(cfg(runtime="triton", retries=1, interval=2.5), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert [(e["name"], e["ok"], e["attempts"], e["seconds"], e["got"]) for e in entries] == [
        ("server_ready", True, 2, 2.5, "HTTP 200")]
    assert lines == ["gate: server_ready on pod serving/m-a: ok (2.500s)"]
    assert ctx.clock.monotonic() - 1000.0 == pytest.approx(2.5)


def test_two_attempts_are_named_in_the_failure(net):
    net.answer((None, 8000, "/v2/health/ready"), Response(503, b""))
    outcome, entries, _l, _ctx = gate_run(cfg(runtime="triton", retries=1, interval=1), [pod("m-a")])
    assert outcome.message == ("gate server_ready failed on pod serving/m-a: GET /v2/health/ready expected "
                               "HTTP 200 (ready), got HTTP 503 (empty body) (after 2 attempts)")
    assert [(e["ok"], e["attempts"], e["expected"], e["got"]) for e in entries] == [
        (False, 2, "HTTP 200 (ready)", "HTTP 503 (empty body)")]


def test_an_unreachable_pod_is_named_with_what_the_api_server_said(net):
    net.answer((None, 8000, "/v2/health/ready"), PortForwardError("pod serving/m-a has no port 8000"))
    outcome, entries, _l, _ctx = gate_run(cfg(runtime="triton", retries=2, interval=1), [pod("m-a")])
    assert (outcome.reason, outcome.message) == (
        "gate_unreachable", "gate server_ready cannot reach pod serving/m-a: pod serving/m-a has no port 8000")
    assert [(e["ok"], e["attempts"], e["expected"], e["got"]) for e in entries] == [
        (False, 3, "an answer to GET /v2/health/ready", "pod serving/m-a has no port 8000")]


def test_metric_gates_run_after_the_checks_and_only_when_they_passed(net):
    net.answer((None, 8000, "/v2/health/ready"), Response(503, b""), ok200())
    net.answer(("http://prom", None, None), Response(200, json.dumps(
        {"status": "success", "data": {"resultType": "scalar", "result": [0, "0.9"]}}).encode()))
    prom = {"url": "http://prom", "query": "err", "threshold": 0.5, "comparison": "le", "fail_on_empty": False,
            "headers": None, "validate_certs": True, "timeout": 10}
    outcome, _e, _l, _ctx = gate_run(cfg(runtime="triton", retries=0, prometheus=prom), [pod("m-a")])
    assert outcome.reason == "model_not_ready" and [c.get("pod") for c in net.calls] == ["m-a"]
    net.calls = []
    outcome, entries, _l, _ctx = gate_run(cfg(runtime="triton", retries=0, prometheus=prom), [pod("m-a")])
    assert (outcome.ok, outcome.reason) == (False, "prometheus_threshold")
    assert outcome.message == "gate prometheus failed: expected every sample of `err` <= 0.5, got 0.9 (not <= 0.5)"
    assert [e["name"] for e in entries] == ["server_ready", "prometheus"]


def test_a_lost_lease_before_the_metrics_is_a_verdict(net, monkeypatch):
    net.answer((None, 8000, "/v2/health/ready"), ok200())
    g = gates.build_gates(cfg(runtime="triton", cloudwatch={"alarm_names": ["a"]}))
    ctx, view = scene([pod("m-a")])

    def lost(now=None):
        # The wait loop passes its moment; the step between the checks and the metrics asks without one.
        if now is None:
            raise LockLost("the Lease is held by someone else now")

    monkeypatch.setattr(ctx.loop, "keep_lock", lost)
    outcome, _entries = g.run(ctx, "rollout", view)
    assert (outcome.ok, outcome.reason, outcome.message) == (False, "lock_lost", "the Lease is held by someone else now")


# -- the report ------------------------------------------------------------------------------------
def test_the_report_folds_rounds_and_keeps_a_failure():
    r = gates.Report()
    r.add("server_ready", "m-a", True, 0.12344, "HTTP 200", "first")
    r.add("server_ready", "m-a", True, 0.0007, "HTTP 200", "second", attempts=2)
    assert r.entries == [{"name": "server_ready", "pod": "m-a", "ok": True, "seconds": 0.124, "expected": "HTTP 200",
                          "got": "second", "checks": 2, "attempts": 3}]
    r.add("server_ready", "m-a", False, 1, "HTTP 200 (ready)", "HTTP 503")
    r.add("server_ready", "m-a", True, 1, "HTTP 200", "HTTP 200")
    assert r.entries[0] == {"name": "server_ready", "pod": "m-a", "ok": False, "seconds": 2.124,
                            "expected": "HTTP 200 (ready)", "got": "HTTP 503", "checks": 4, "attempts": 5}
    r.add("server_ready", "m-b", True, 0.12345, "HTTP 200", "x")
    assert [(e["pod"], e["checks"], e["seconds"]) for e in r.entries] == [("m-a", 4, 2.124), ("m-b", 1, 0.123)]


# -- Prometheus ------------------------------------------------------------------------------------
def prom(**kw):
    p = dict((k, v.get("default")) for k, v in gates.PROMETHEUS_SPEC.items())
    p.update(url="https://prom.example/base", query='sum(rate(errors{app="m"}[5m])) > 0', threshold=0.05)
    p.update(kw)
    return p


def prom_gates(**kw):
    g = gates.build_gates(cfg(runtime="triton", prometheus=prom(**kw)))
    g.clock = FakeClock()  # a read takes no time: the report's seconds are the fake clock's
    g.lines = []
    g.progress = g.lines.append
    return g


def vector(*samples):
    return Response(200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": m, "value": [1700000000, v]} for m, v in samples]}}).encode())


def test_the_query_is_sent_as_the_user_configured_it(net):
    net.answer(("https://prom.example/base", None, None), vector(({}, "0.01")))
    g = prom_gates(headers={"Authorization": "Bearer s3cret"}, validate_certs=False, timeout=2.5)
    g.check_metrics()
    assert net.calls == [dict(base="https://prom.example/base", method="GET",
                              path="/api/v1/query?query=sum%28rate%28errors%7Bapp%3D%22m%22%7D%5B5m%5D%29%29+%3E+0",
                              headers={"Authorization": "Bearer s3cret"}, timeout=2.5, validate_certs=False)]
    assert g.report.entries == [{"name": "prometheus", "pod": None, "ok": True, "seconds": 0.0, "checks": 1,
                                 "attempts": 1, "got": "0.01",
                                 "expected": 'every sample of `sum(rate(errors{app="m"}[5m])) > 0` <= 0.05'}]
    assert g.lines == ["gate: prometheus: ok (0.01)"]


def test_the_samples_shown_are_the_bad_ones_at_most_five(net):
    bad = [({"pod": "p%d" % i, "app": "m"}, str(0.1 * (i + 1))) for i in range(6)]
    net.answer(("https://prom.example/base", None, None), vector(({"pod": "ok"}, "0.01"), *bad))
    g = prom_gates()
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    got = ('0.1 for {app="m",pod="p0"}, 0.2 for {app="m",pod="p1"}, 0.3 for {app="m",pod="p2"}, '
           '0.4 for {app="m",pod="p3"}, 0.5 for {app="m",pod="p4"} (not <= 0.05)')
    assert g.report.entries[0]["got"] == got
    assert err.value.outcome.reason == "prometheus_threshold"
    assert g.lines == ["gate: prometheus: FAILED (%s)" % got]


def test_good_samples_are_shown_with_six_significant_digits_and_nan_is_no_data(net):
    net.answer(("https://prom.example/base", None, None), vector(({"a": "1"}, "0.0123456789"), ({"a": "2"}, "NaN"),
                                                                 ({"a": "3"}, "1.5e-7")))
    g = prom_gates()
    g.check_metrics()
    assert g.report.entries[0]["got"] == '0.0123457 for {a="1"}, 1.5e-07 for {a="3"}'
    net.answer(("https://prom.example/base", None, None), vector(({}, "NaN")))
    g = prom_gates(fail_on_empty=True)
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert (err.value.outcome.reason, str(err.value)) == (
        "prometheus_no_data", 'gate prometheus failed: expected every sample of `sum(rate(errors{app="m"}[5m])) > 0` '
        "<= 0.05, got no data (NaN)")
    net.answer(("https://prom.example/base", None, None), vector())
    g = prom_gates()
    g.check_metrics()
    assert (g.report.entries[0]["ok"], g.report.entries[0]["got"]) == (True, "no data (empty result)")


def test_prometheus_that_does_not_answer(net):
    net.answer(("https://prom.example/base", None, None), PortForwardError("connection refused"))
    g = prom_gates()
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert (err.value.outcome.reason, str(err.value)) == (
        "prometheus_error", 'gate prometheus failed: expected every sample of `sum(rate(errors{app="m"}[5m])) > 0` '
        "<= 0.05, got Prometheus did not answer: connection refused")
    assert (g.report.entries[0]["ok"], g.report.entries[0]["got"]) == (
        False, "Prometheus did not answer: connection refused")


@pytest.mark.parametrize("status, body, error", [
    (502, b"<html>bad gateway</html>", "HTTP 502, not JSON: <html>bad gateway</html>"),
    (200, b"\xff", "HTTP 200, not JSON: \ufffd"),
    (400, b'{"status": "error", "errorType": "bad_data", "error": "parse error"}', "HTTP 400, bad_data: parse error"),
    (200, b'{"status": "error", "error": "timeout"}', "HTTP 200, error: timeout"),
    (500, b'{"status": "success"}', "HTTP 500, error: {'status': 'success'}"),
    (200, b'[1, 2]', "HTTP 200, not a Prometheus answer: [1, 2]"),
    (200, b'{"status": "success", "data": {"resultType": "matrix", "result": []}}',
     "result type matrix; the gate needs an instant vector or a scalar"),
    (200, b'{"status": "success"}', "result type None; the gate needs an instant vector or a scalar"),
])
def test_prometheus_errors_are_shown_as_prometheus_gave_them(status, body, error):
    assert gates.parse_prometheus(status, body) == ([], error)


def test_prometheus_answers():
    assert gates.parse_prometheus(200, '{"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}') \
        == ([("", 2.0)], None)
    samples, error = gates.parse_prometheus(200, json.dumps({"status": "success", "data": {
        "resultType": "vector", "result": [{"metric": {"b": "2", "a": "1"}, "value": [1, "3"]},
                                           {"value": [1, "NaN"]}]}}))
    assert error is None and samples[0] == ('{a="1",b="2"}', 3.0)
    assert samples[1][0] == "" and math.isnan(samples[1][1])
    assert gates.parse_prometheus(200, '{"status": "success", "data": {"resultType": "vector", "result": null}}') \
        == ([], None)


# -- CloudWatch ------------------------------------------------------------------------------------
class CloudWatch:
    """describe_alarms as boto3 gives it: metric and composite alarms, in pages of one."""

    def __init__(self, metric=(), composite=(), error=None):
        self.metric, self.composite, self.error = list(metric), list(composite), error
        self.calls = []

    def describe_alarms(self, **kw):
        self.calls.append(kw)
        if self.error is not None:
            raise self.error
        names = kw["AlarmNames"]
        found = [("MetricAlarms", a) for a in self.metric if a["AlarmName"] in names]
        found += [("CompositeAlarms", a) for a in self.composite if a["AlarmName"] in names]
        start = int(kw.get("NextToken") or 0)
        page = {"MetricAlarms": [], "CompositeAlarms": []}
        if start < len(found):
            page[found[start][0]].append(found[start][1])
        if start + 1 < len(found):
            page["NextToken"] = str(start + 1)
        return page


def cw_gates(client, names, monkeypatch, **kw):
    made = []

    def client_of(args, service, timeout=None):
        made.append((dict(args), service, timeout))
        return client

    monkeypatch.setattr(aws, "client", client_of)
    g = gates.build_gates(cfg(runtime="triton", timeout=7, cloudwatch=dict({"alarm_names": names}, **kw)))
    g.clock = FakeClock()
    g.lines = []
    g.progress = g.lines.append
    g.made = made
    return g


def test_cloudwatch_reads_every_page_of_both_alarm_kinds(monkeypatch):
    retries = []
    real_retry = aws.retry

    def retry(**kw):
        retries.append(kw)
        return real_retry(**kw)

    monkeypatch.setattr(aws, "retry", retry)
    client = CloudWatch(metric=[{"AlarmName": "p99", "StateValue": "OK"}],
                        composite=[{"AlarmName": "slo", "StateValue": "INSUFFICIENT_DATA"}])
    g = cw_gates(client, ["slo", "p99"], monkeypatch, region="eu-west-1")
    g.check_metrics()
    g.check_metrics()
    assert [(args["alarm_names"], args["region"], service, timeout) for args, service, timeout in g.made] == [
        (["slo", "p99"], "eu-west-1", "cloudwatch", 7)]
    # Throttling is retried briefly: the bake asks again anyway.
    assert retries == [dict(retries=3, delay=1, max_delay=4)] * 2
    assert client.calls[:2] == [{"AlarmNames": ["slo", "p99"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]},
                                {"AlarmNames": ["slo", "p99"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                                 "NextToken": "1"}]
    assert g.report.entries == [{"name": "cloudwatch", "pod": None, "ok": True, "seconds": 0.0, "checks": 2,
                                 "attempts": 2, "expected": "no alarm in ALARM among slo, p99",
                                 "got": "slo INSUFFICIENT_DATA, p99 OK"}]
    assert g.lines == ["gate: cloudwatch: ok (slo INSUFFICIENT_DATA, p99 OK)"] * 2


def test_one_alarm_in_alarm_fails_the_gate_entry(monkeypatch):
    client = CloudWatch(metric=[{"AlarmName": "p99", "StateValue": "ALARM", "StateReason": "3 datapoints"}])
    g = cw_gates(client, ["p99"], monkeypatch)
    with pytest.raises(gates.Failure):
        g.check_metrics()
    assert [(e["ok"], e["got"]) for e in g.report.entries] == [(False, "p99 ALARM")]


def test_every_alarm_in_alarm_is_named_with_its_reason(monkeypatch):
    client = CloudWatch(metric=[{"AlarmName": "p99", "StateValue": "ALARM"}],
                        composite=[{"AlarmName": "slo", "StateValue": "ALARM", "StateReason": "p99 and 5xx"}])
    g = cw_gates(client, ["p99", "slo", "gone"], monkeypatch)
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert (err.value.outcome.reason, str(err.value)) == (
        "cloudwatch_alarm", "gate cloudwatch failed: alarm p99 is in ALARM: no reason given; "
        "alarm slo is in ALARM: p99 and 5xx")
    assert g.report.entries[0]["got"] == "p99 ALARM, slo ALARM; not found: gone"
    assert g.lines == ["gate: cloudwatch: FAILED (p99 ALARM, slo ALARM; not found: gone)"]


@pytest.mark.parametrize("region, where", [("us-east-2", "region us-east-2"), (None, "region from the environment")])
def test_an_alarm_that_does_not_exist_fails_naming_the_region(monkeypatch, region, where):
    g = cw_gates(CloudWatch(), ["typo", "other"], monkeypatch, region=region)
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert (err.value.outcome.reason, str(err.value)) == (
        "cloudwatch_error", "gate cloudwatch failed: no such alarm: typo, other (%s)" % where)
    assert (g.report.entries[0]["ok"], g.report.entries[0]["got"]) == (False, "not found: typo, other")


def test_cloudwatch_that_cannot_be_read(monkeypatch):
    import botocore.exceptions

    denied = botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}},
                                             "DescribeAlarms")
    g = cw_gates(CloudWatch(error=denied), ["p99"], monkeypatch)
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert err.value.outcome.reason == "cloudwatch_error"
    assert str(err.value) == "gate cloudwatch cannot read the alarms: %s" % denied
    assert [(e["name"], e["ok"], e["got"], e["expected"], e["seconds"]) for e in g.report.entries] == [
        ("cloudwatch", False, str(denied), "no alarm in ALARM among p99", 0.0)]
    g = cw_gates(CloudWatch(error=aws.AwsError("no credentials for the cloudwatch gate")), ["p99"], monkeypatch)
    with pytest.raises(gates.Failure) as err:
        g.check_metrics()
    assert (err.value.outcome.reason, str(err.value)) == (
        "cloudwatch_error", "gate cloudwatch cannot read the alarms: no credentials for the cloudwatch gate")
    assert [(e["name"], e["ok"], e["got"], e["seconds"], e["expected"]) for e in g.report.entries] == [
        ("cloudwatch", False, "no credentials for the cloudwatch gate", 0.0, "no alarm in ALARM among p99")]


# -- the bake --------------------------------------------------------------------------------------
def test_a_bake_shorter_than_its_interval_checks_once_at_its_end(net):
    net.answer((None, 8000, "/v2/health/ready"), ok200())
    g = gates.build_gates(cfg(runtime="triton", retries=0, bake_seconds=3, bake_interval=5))
    ctx, view = scene([pod("m-a"), failed_pod("m-f"), pod("m-b")])
    lines = []
    ctx.progress = lines.append
    ctx.enter("gate")
    outcome, entries = g.run(ctx, "rollout", view)
    ctx.enter(None)
    assert outcome.ok, outcome.message
    assert outcome.message == STATUS_DONE + "; model gates passed on 2 of 3 new pod(s), bake 3s held"
    assert len(net.calls) == 4
    assert entries[-1] == {"name": "bake", "pod": None, "ok": True, "seconds": 3.0, "checks": 1, "attempts": 1,
                           "expected": "no restart, readiness loss or failed check for 3s",
                           "got": "held: 2 pod(s), no restart or readiness loss; 1 check round(s) passed"}
    assert lines.index("bake: watching 2 new pod(s) for 3s") < len(lines) - 1
    assert lines[-1] == "bake: 2 new pod(s) held for 3s"
    assert ctx.clock.monotonic() - 1000.0 == pytest.approx(3.0)
    # The bake is gate time in the result's durations.
    assert ctx.result.durations["gate"] == pytest.approx(3.0)


def test_the_bake_rounds_ask_readiness_again_not_the_smoke_inference(net):
    for path in ("/v2/health/ready", "/v2/models/m/ready", "/v2/models/m/infer"):
        net.answer((None, 8000, path), ok200())
    outcome, _e, _l, _ctx = gate_run(cfg(runtime="triton", model="m", retries=0, bake_seconds=4, bake_interval=2,
                                         smoke={"body": "{}"}), [pod("m-a")])
    assert outcome.ok, outcome.message
    assert [c["path"] for c in net.calls] == ["/v2/health/ready", "/v2/models/m/ready", "/v2/models/m/infer"] + [
        "/v2/health/ready", "/v2/models/m/ready"] * 2


def test_bake_rounds_are_an_interval_apart_and_the_last_at_its_end(net):
    net.answer((None, 8000, "/v2/health/ready"), ok200())
    outcome, entries, _l, _ctx = gate_run(cfg(runtime="triton", retries=0, bake_seconds=10, bake_interval=4),
                                          [pod("m-a")])
    assert outcome.ok, outcome.message
    assert len(net.calls) == 4
    assert entries[0]["checks"] == 4
    assert entries[-1]["got"].endswith("; 3 check round(s) passed")


def test_a_check_that_fails_in_a_bake_round_fails_the_bake(net):
    net.answer((None, 8000, "/v2/health/ready"), ok200(), ok200(), Response(503, b"draining"))
    outcome, entries, _l, _ctx = gate_run(cfg(runtime="triton", retries=0, bake_seconds=10, bake_interval=2),
                                          [pod("m-a")])
    assert (outcome.ok, outcome.reason) == (False, "model_not_ready")
    assert outcome.message == ("bake: gate server_ready failed on pod serving/m-a: GET /v2/health/ready expected "
                               "HTTP 200 (ready), got HTTP 503: draining, 4s into the 10s bake window")
    assert [(e["name"], e["ok"]) for e in entries] == [("server_ready", False), ("bake", False)]
    assert entries[-1]["expected"] == "no restart, readiness loss or failed check for 10s"
    assert entries[-1]["got"] == ("gate server_ready failed on pod serving/m-a: GET /v2/health/ready expected "
                                  "HTTP 200 (ready), got HTTP 503: draining")


def test_a_metric_that_fails_in_a_bake_round_fails_the_bake(net):
    net.answer((None, 8000, "/v2/health/ready"), ok200())
    net.answer(("http://prom", None, None), vector(({}, "0.01")), vector(({}, "0.01")), vector(({}, "0.9")))
    p = prom(url="http://prom", query="err", threshold=0.5)
    outcome, _e, _l, _ctx = gate_run(cfg(runtime="triton", retries=0, bake_seconds=10, bake_interval=3, prometheus=p),
                                     [pod("m-a")])
    assert (outcome.ok, outcome.reason) == (False, "prometheus_threshold")
    assert outcome.message == ("bake: gate prometheus failed: expected every sample of `err` <= 0.5, got 0.9 "
                               "(not <= 0.5), 6s into the 10s bake window")


def test_a_restart_during_the_bake_is_named_with_the_moment(net):
    net.answer((None, 8000, "/v2/health/ready"), ok200())
    pods = [pod("m-a"), pod("m-b")]
    outcome, entries, _l, _ctx = gate_run(
        cfg(runtime="triton", retries=0, bake_seconds=10, bake_interval=5), pods,
        view_scene=lambda p: bake_scene(p, [(3, [restarted(pods[1])])]))
    assert outcome.reason == "bake_restart"
    assert outcome.message == ("bake: container server of pod m-b restarted (restarts 0 -> 1) (last exit: OOMKilled, "
                               "code 137), 3s into the 10s bake window")
    assert entries[-1]["seconds"] == 3.0


@pytest.mark.parametrize("end", ["lock", "cap"])
def test_a_bake_ended_by_the_run_is_not_called_a_bake_failure(net, end):
    net.answer((None, 8000, "/v2/health/ready"), ok200())
    g = gates.build_gates(cfg(runtime="triton", retries=0, bake_seconds=10, bake_interval=5))
    ctx, view = scene([pod("m-a")])
    if end == "cap":
        ctx.cap = Cap(1000.0, 4)
        message = ('no verdict within timeout=4s, the overall cap set for this run (%s)' % STATUS_DONE)
    else:
        class Lease:
            next_renewal = None

            def due(self, now):
                return False

            def check(self, now):
                if now >= 1004:
                    raise LockLost("the Lease was taken over")

        ctx.loop.lease = Lease()
        message = "the Lease was taken over"
    outcome, entries = g.run(ctx, "rollout", view)
    assert (outcome.ok, outcome.reason, outcome.message) == (False, {"lock": "lock_lost", "cap": "timeout"}[end],
                                                             message)
    assert [(e["name"], e["ok"], e["got"]) for e in entries][-1] == ("bake", False, message)
