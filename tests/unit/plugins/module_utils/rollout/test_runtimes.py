"""What each runtime's checks ask and how their answers read to the operator (runtimes.py).

The gate's verdict and its message are the product: a failed gate tells a person which request
was made, what was expected and what came back, so the words are asserted whole. Answers are
shaped after each server's documented API; test_gates.py has the fixture-driven cases per runtime.
"""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import gates, runtimes


def cfg(**kw):
    base = dict((k, v.get("default")) for k, v in gates.GATES_ARG_SPEC.items())
    base.update(kw)
    return base


def paths(c):
    return [(ch.name, ch.path, ch.port) for ch in runtimes.readiness_checks(c)]


S, M = runtimes.SERVING, runtimes.MANAGEMENT


# -- how an answer is shown ------------------------------------------------------------------------
def test_a_long_answer_is_cut_at_200_characters():
    judge = runtimes.judge_v2_ready
    assert judge(500, b"e" * 200) == (False, "HTTP 200 (ready)", "HTTP 500: " + "e" * 200)
    assert judge(500, b"e" * 201) == (False, "HTTP 200 (ready)", "HTTP 500: " + "e" * 200 + "...")


def test_an_empty_or_blank_answer_is_named_empty():
    assert runtimes.judge_v2_ready(503, b"  \n")[2] == "HTTP 503 (empty body)"
    assert runtimes.judge_v2_ready(503, None)[2] == "HTTP 503 (empty body)"


def test_an_answer_that_is_not_utf8_is_shown_with_replacements_not_a_traceback():
    judge = runtimes.judge_status_and_path(200, "$.a")
    assert judge(200, b"\xff\xfe ok") == (False, "HTTP 200, $.a present", "HTTP 200, not JSON: \ufffd\ufffd ok")
    assert judge(200, "plain text") == (False, "HTTP 200, $.a present", "HTTP 200, not JSON: plain text")


# -- JSON paths ------------------------------------------------------------------------------------
DOC = {"a": [{"b": 1}, {"b": 2}], "c": {"d e": "x", "0": "zero", "--1": "minus"}}


@pytest.mark.parametrize("expr, value", [
    ("", DOC),
    ("$", DOC),
    ("  $.c  ", DOC["c"]),
    ('$["c"]["d e"]', "x"),
    ("$.c['0']", "zero"),
    ("a.-1.b", 2),
    ("a[-2].b", 1),
    ("$.a[1]", {"b": 2}),
    ("$['a']['1']", {"b": 2}),
    ("a[*].b", [1, 2]),
    ("c.--1", "minus"),
])
def test_json_path_forms(expr, value):
    assert runtimes.json_path(DOC, expr) == value


@pytest.mark.parametrize("expr, where", [
    (" $.a..b ", "'..b'"),
    ("a[x]", "'[x]'"),
    ("a[1", "'[1'"),
])
def test_a_json_path_that_cannot_be_read_says_where(expr, where):
    with pytest.raises(ValueError) as err:
        runtimes.parse_json_path(expr)
    assert str(err.value) == "cannot read JSON path %r at %s" % (expr.strip(), where)


@pytest.mark.parametrize("expr, missing", [
    ("a[2]", "$.a has no element [2]"),
    ("a[-3]", "$.a has no element [-3]"),
    ("c[0]", "$.c has no element [0]"),
    ("c[*]", "$.c is not a list"),
    ("a[1].x", "$.a[1] has no key 'x'"),
    ("a[*].c", "$.a[0] has no key 'c'"),
    ("a['x']", "$.a has no key 'x'"),
    ("a[0].b.c", "$.a[0].b has no key 'c'"),
    ("a['1'].x", "$.a[1] has no key 'x'"),
])
def test_a_missing_path_names_where_it_stopped(expr, missing):
    with pytest.raises(runtimes.PathMissing) as err:
        runtimes.json_path(DOC, expr)
    assert str(err.value) == missing


def test_the_last_element_of_a_list_is_in_reach_from_both_ends():
    assert runtimes.json_path([1, 2], "[1]") == 2
    assert runtimes.json_path([1, 2], "[-2]") == 1


# -- equality of model answers ---------------------------------------------------------------------
@pytest.mark.parametrize("expected, got, same", [
    (True, True, True),
    (False, False, True),
    (True, False, False),
    (1, True, False),
    (True, "true", False),
    ([1, 2], (1.0, 2.0), True),
    ([1, 2], [1, 2, 3], False),
    ([1, 2, 3], [1, 2], False),
    ({"a": 1, "b": [2]}, {"b": [2.0], "a": 1.0}, True),
    ({"a": 1}, {"a": 1, "b": 2}, False),
    ({"a": 1}, {"a": 2}, False),
    ("0.5", 0.5000000001, True),
    ("0.5", 0.6, False),
    ("half", 0.5, False),
    ("1", True, False),
    ("stop", "stop", True),
    ("stop", "length", False),
    (None, None, True),
    ("ab", ["a", "b"], False),
    ("ab", {"a": 1, "b": 2}, False),
    ([1], 1, False),
])
def test_same_value(expected, got, same):
    assert runtimes.same_value(expected, got) is same


# -- status and JSON path expectations --------------------------------------------------------------
def test_status_only():
    judge = runtimes.judge_status_and_path(204)
    assert judge(204, b"ignored") == (True, "HTTP 204", "HTTP 204")
    assert judge(200, b"") == (False, "HTTP 204", "HTTP 200 (empty body)")


def test_a_path_without_expect_must_be_present():
    judge = runtimes.judge_status_and_path(200, "$.y")
    assert judge(200, b'{"y": [1, 2]}') == (True, "HTTP 200, $.y present", "HTTP 200, $.y = [1, 2]")
    assert judge(200, b'{"z": 1}') == (False, "HTTP 200, $.y present", "HTTP 200, $ has no key 'y': {\"z\": 1}")
    assert judge(500, b'{"y": 1}') == (False, "HTTP 200, $.y present", 'HTTP 500: {"y": 1}')


def test_an_expected_value_that_is_falsy_is_still_compared():
    judge = runtimes.judge_status_and_path(200, "$.ok", False)
    assert judge(200, b'{"ok": false}') == (True, "HTTP 200, $.ok == false", "HTTP 200, $.ok = false")
    assert judge(200, b'{"ok": true}') == (False, "HTTP 200, $.ok == false", "HTTP 200, $.ok = true")
    judge = runtimes.judge_status_and_path(200, "$.n", 0)
    assert not judge(200, b'{"n": 1}')[0]


def test_an_expected_dict_is_shown_with_sorted_keys():
    judge = runtimes.judge_status_and_path(200, "$.o", {"b": 1, "a": 2})
    assert judge(200, b'{"o": {"a": 2, "b": 3}}') == (
        False, 'HTTP 200, $.o == {"a": 2, "b": 1}', 'HTTP 200, $.o = {"a": 2, "b": 3}')


# -- the runtimes' own answers ---------------------------------------------------------------------
@pytest.mark.parametrize("body, ok", [
    (b"", True), (b"not json", True), (b"[false]", True), (b'{"name": "m"}', True),
    (b'{"ready": true}', True), (b'{"ready": false}', False),
])
def test_v2_ready_reads_ready_false_only(body, ok):
    got = "HTTP 200" if ok else "HTTP 200: " + body.decode()
    assert runtimes.judge_v2_ready(200, body) == (ok, "HTTP 200 (ready)", got)


def test_torchserve_ping():
    judge = runtimes.judge_torchserve_ping
    wanted = 'HTTP 200, status "Healthy"'
    assert judge(200, b"") == (True, wanted, "HTTP 200, status null")
    assert judge(200, b'{"status": "Unhealthy"}') == (False, wanted, 'HTTP 200: {"status": "Unhealthy"}')
    assert judge(500, b'{"status": "Healthy"}') == (False, wanted, 'HTTP 500: {"status": "Healthy"}')
    assert judge(200, b"[1]") == (True, wanted, "HTTP 200, status null")


def test_torchserve_model_reads_every_entry_and_counts_workers():
    judge = runtimes.torchserve_model_judge("m")
    wanted = "HTTP 200, model m with a worker READY"
    two = (b'[{"modelVersion": "1", "workers": [{"status": "UNLOADING"}]},'
           b' {"modelVersion": "2", "workers": [{"status": "READY"}, {"status": "LOADING"}, {"status": "READY"}]}]')
    assert judge(200, two) == (True, wanted, "HTTP 200, 3 worker(s), 2 READY")
    assert judge(200, b'{"modelVersion": "1", "workers": [{"status": "READY"}]}') == (
        True, wanted, "HTTP 200, 1 worker(s), 1 READY")
    assert judge(200, b'[{"modelVersion": "1", "workers": null}]') == (False, wanted, "HTTP 200, workers: none")
    assert judge(200, b'[{"workers": [{"status": "LOADING"}]}, {"workers": [{}]}]') == (
        False, wanted, "HTTP 200, workers: LOADING, None")
    assert judge(200, b"<html>") == (False, wanted, "HTTP 200, no such model version listed: <html>")
    assert judge(200, b"[]") == (False, wanted, "HTTP 200, no such model version listed: []")
    # Whatever else the management API answers is an answer to show, never a traceback.
    assert judge(200, b'["m", 3]') == (False, wanted, 'HTTP 200, no such model version listed: ["m", 3]')
    assert judge(200, b'"m"') == (False, wanted, 'HTTP 200, no such model version listed: "m"')
    assert judge(200, b'[{"workers": ["READY", {"status": "READY"}]}]') == (True, wanted, "HTTP 200, 1 worker(s), 1 READY")
    assert judge(404, b"") == (False, wanted, "HTTP 404 (empty body)")


def test_torchserve_model_version_is_matched_as_text():
    judge = runtimes.torchserve_model_judge("m", "2.0")
    wanted = "HTTP 200, model m version 2.0 with a worker READY"
    body = (b'[{"modelVersion": "1.0", "workers": [{"status": "READY"}]},'
            b' {"modelVersion": 2.0, "workers": [{"status": "LOADING"}]}]')
    assert judge(200, body) == (False, wanted, "HTTP 200, workers: LOADING")


def test_tfserving_model_status():
    judge = runtimes.tfserving_judge("m")
    wanted = "HTTP 200, model m a version AVAILABLE"
    body = (b'{"model_version_status": [{"version": "1", "state": "END", "status": {"error_code": "OK"}},'
            b' {"version": "2", "state": "AVAILABLE"}]}')
    assert judge(200, body) == (True, wanted, "HTTP 200, version 2 AVAILABLE")
    assert judge(200, b'{"model_version_status": []}') == (False, wanted, "HTTP 200, no such version")
    assert judge(200, b'{"model_version_status": ["AVAILABLE", 1]}') == (False, wanted, "HTTP 200, no such version")
    assert judge(200, b'{"other": 1}') == (False, wanted, 'HTTP 200, no model_version_status: {"other": 1}')
    assert judge(200, b"[]") == (False, wanted, "HTTP 200, no model_version_status: []")
    assert judge(503, b"") == (False, wanted, "HTTP 503 (empty body)")


def test_tfserving_names_every_load_error():
    judge = runtimes.tfserving_judge("m", 3)
    wanted = "HTTP 200, model m version 3 AVAILABLE"
    body = (b'{"model_version_status": [{"version": 3, "state": "END", "status": {"error_message": "no file"}},'
            b' {"version": "3", "state": "LOADING", "status": {"error_message": ""}},'
            b' {"version": "3", "state": "START", "status": {"error_message": "disk full"}},'
            b' {"version": "4", "state": "AVAILABLE"}]}')
    assert judge(200, body) == (False, wanted, "HTTP 200, 3 END, 3 LOADING, 3 START (no file; disk full)")


def test_vllm_models():
    judge = runtimes.vllm_models_judge()
    assert judge(200, b'{"data": [{"id": "a"}, "junk", {"id": "b"}]}') == (
        True, "HTTP 200, /v1/models lists a model", "HTTP 200, models: a, b")
    assert judge(200, b'{"data": []}') == (False, "HTTP 200, /v1/models lists a model", "HTTP 200, models: none")
    assert judge(200, b'{"data": null}') == (False, "HTTP 200, /v1/models lists a model", "HTTP 200, models: none")
    assert judge(200, b"[]") == (False, "HTTP 200, /v1/models lists a model", "HTTP 200, models: none")
    assert judge(500, b"x") == (False, "HTTP 200, /v1/models lists a model", "HTTP 500: x")
    judge = runtimes.vllm_models_judge("b")
    assert judge(200, b'{"data": [{"id": "a"}, {"id": "b"}]}')[0]
    assert not judge(200, b'{"data": [{"id": "a"}]}')[0]


# -- default paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize("runtime, model, version, expected", [
    ("triton", None, None, ("/v2/health/ready", None, None)),
    ("mlserver", "m", None, ("/v2/health/ready", "/v2/models/m/ready", "/v2/models/m/infer")),
    ("kserve_v2", "m", "3", ("/v2/health/ready", "/v2/models/m/versions/3/ready", "/v2/models/m/versions/3/infer")),
    ("torchserve", None, None, ("/ping", None, None)),
    ("torchserve", "m", None, ("/ping", "/models/m", "/predictions/m")),
    ("torchserve", "m", "2", ("/ping", "/models/m/2", "/predictions/m/2")),
    ("tfserving", None, "2", (None, None, None)),
    ("tfserving", "m", None, (None, "/v1/models/m", "/v1/models/m:predict")),
    ("tfserving", "m", "2", (None, "/v1/models/m/versions/2", "/v1/models/m/versions/2:predict")),
    ("vllm", None, None, ("/health", "/v1/models", "/v1/completions")),
    ("custom", "m", "2", (None, None, None)),
])
def test_default_paths(runtime, model, version, expected):
    assert runtimes.default_paths(runtime, model, version) == expected


def test_default_ports_and_management_port():
    assert runtimes.DEFAULT_PORTS == {"triton": 8000, "kserve_v2": 8080, "mlserver": 8080, "torchserve": 8080,
                                      "tfserving": 8501, "vllm": 8000, "custom": 8080}
    assert runtimes.DEFAULT_MANAGEMENT_PORT == 8081
    assert set(runtimes.RUNTIMES) == set(runtimes.DEFAULT_PORTS)


# -- which checks run ------------------------------------------------------------------------------
def test_an_empty_path_skips_that_check_and_none_keeps_the_default():
    assert paths(cfg(runtime="mlserver", model="m", health_path="")) == [("model_ready", "/v2/models/m/ready", S)]
    assert paths(cfg(runtime="mlserver", model="m", model_path="")) == [("server_ready", "/v2/health/ready", S)]
    assert paths(cfg(runtime="vllm", model_path="")) == [("server_ready", "/health", S)]
    assert paths(cfg(runtime="vllm", health_path="")) == [("model_ready", "/v1/models", S)]
    assert paths(cfg(runtime="torchserve", model="m", health_path="")) == [("model_ready", "/models/m", M)]
    assert paths(cfg(runtime="torchserve", model="m", model_path="")) == [("server_ready", "/ping", S)]
    assert paths(cfg(runtime="triton", health_path="/healthz", model_path="/m")) == [
        ("server_ready", "/healthz", S), ("model_ready", "/m", S)]


def test_tfserving_has_a_health_check_only_when_it_asks_something_else():
    assert paths(cfg(runtime="tfserving", model="m", health_path="/v1/models/m")) == [
        ("model_ready", "/v1/models/m", S)]
    c = cfg(runtime="tfserving", model="m", health_path="/monitoring")
    assert paths(c) == [("server_ready", "/monitoring", S), ("model_ready", "/v1/models/m", S)]
    server = runtimes.readiness_checks(c)[0]
    assert server.judge(200, b"") == (True, "HTTP 200", "HTTP 200")
    assert server.judge(404, b"") == (False, "HTTP 200", "HTTP 404 (empty body)")
    assert paths(cfg(runtime="tfserving", model="m", model_path="", health_path="/monitoring")) == [
        ("server_ready", "/monitoring", S)]


def test_vllm_health_wants_200():
    health = runtimes.readiness_checks(cfg(runtime="vllm"))[0]
    assert health.judge(200, b"") == (True, "HTTP 200", "HTTP 200")
    assert health.judge(503, b"") == (False, "HTTP 200", "HTTP 503 (empty body)")


def test_custom_uses_path_then_health_path_and_its_own_status():
    check = runtimes.readiness_checks(cfg(runtime="custom", path="/p", health_path="/h"))[0]
    assert (check.name, check.path, check.port, check.method) == ("custom", "/p", S, "GET")
    check = runtimes.readiness_checks(cfg(runtime="custom", health_path="/h", expect_status=None))[0]
    assert check.path == "/h"
    assert check.judge(200, b"")[0] and not check.judge(201, b"")[0]
    assert check.describe() == "GET /h"


def test_custom_json_path_is_one_check_not_two():
    checks = runtimes.readiness_checks(cfg(runtime="custom", path="/s", json_path="$.ok", expect=True))
    assert [c.name for c in checks] == ["custom"]
    assert checks[0].judge(200, b'{"ok": true}') == (True, "HTTP 200, $.ok == true", "HTTP 200, $.ok = true")


def test_a_top_level_json_path_adds_an_expectation_on_the_last_answer():
    checks = runtimes.readiness_checks(cfg(runtime="torchserve", model="m", json_path="$[0].minWorkers", expect=2,
                                           expect_status=None))
    assert [(c.name, c.path, c.port) for c in checks] == [
        ("server_ready", "/ping", S), ("model_ready", "/models/m", M), ("expectation", "/models/m", M)]
    expectation = checks[-1]
    assert expectation.judge(200, b'[{"minWorkers": 2}]') == (
        True, "HTTP 200, $[0].minWorkers == 2", "HTTP 200, $[0].minWorkers = 2")
    assert not expectation.judge(200, b'[{"minWorkers": 1}]')[0]
    checks = runtimes.readiness_checks(cfg(runtime="vllm", json_path="$.data[0].id", expect_status=203))
    assert checks[-1].judge(203, b'{"data": [{"id": "x"}]}') == (
        True, "HTTP 203, $.data[0].id present", 'HTTP 203, $.data[0].id = "x"')


def test_a_top_level_json_path_with_no_check_to_follow_adds_none():
    assert runtimes.readiness_checks(cfg(runtime="triton", health_path="", json_path="$.ready")) == []


# -- the smoke request -----------------------------------------------------------------------------
def test_no_smoke_no_check():
    assert runtimes.smoke_check(cfg(runtime="mlserver", model="m"), b"{}") is None
    assert runtimes.smoke_check(cfg(runtime="mlserver", model="m", smoke={}), b"{}") is None


def test_smoke_defaults():
    smoke = {"path": None, "expect_status": None, "content_type": None}
    check = runtimes.smoke_check(cfg(runtime="mlserver", model="m", smoke=smoke), b'{"inputs": []}')
    assert (check.name, check.method, check.path, check.port, check.body, check.content_type) == (
        "smoke", "POST", "/v2/models/m/infer", S, b'{"inputs": []}', "application/json")
    assert check.judge(200, b"") == (True, "HTTP 200", "HTTP 200")
    assert not check.judge(201, b"")[0]


def test_the_smoke_path_follows_the_model_version():
    check = runtimes.smoke_check(cfg(runtime="triton", model="m", model_version="3", smoke={"path": None}), b"{}")
    assert check.path == "/v2/models/m/versions/3/infer"
    check = runtimes.smoke_check(cfg(runtime="torchserve", model="m", model_version="2", smoke={"path": None}), b"{}")
    assert check.path == "/predictions/m/2"


def test_smoke_options():
    smoke = {"path": "/generate", "expect_status": 201, "content_type": "text/plain", "json_path": "$.text",
             "expect": "hi"}
    check = runtimes.smoke_check(cfg(runtime="mlserver", model="m", smoke=smoke), None)
    assert (check.method, check.path, check.body, check.content_type) == ("GET", "/generate", None, "text/plain")
    assert check.judge(201, b'{"text": "hi"}') == (True, 'HTTP 201, $.text == "hi"', 'HTTP 201, $.text = "hi"')


# -- settings a runtime cannot do without ----------------------------------------------------------
@pytest.mark.parametrize("c, problems", [
    (dict(runtime="torchserve"), ["gates.model is required for runtime torchserve"]),
    (dict(runtime="tfserving", model_path="/v1/models/m"), []),
    (dict(runtime="tfserving", model="m"), []),
    (dict(runtime="custom"), ["gates.path is required for runtime custom"]),
    (dict(runtime="custom", health_path="/h"), []),
    (dict(runtime="custom", path="/p", smoke={"path": None}), ["gates.smoke.path is required for runtime custom"]),
    (dict(runtime="custom", path="/p", smoke={"path": "/infer"}), []),
    (dict(runtime="triton", smoke={"path": None}),
     ["gates.smoke.path is required for runtime triton without gates.model"]),
    (dict(runtime="triton", model="m", smoke={"path": None}), []),
    (dict(runtime="kserve_v2", model="m", model_version="2", smoke={"path": None}), []),
    (dict(runtime="torchserve", model_path="/models/m", model_version="2", smoke={"path": None}),
     ["gates.smoke.path is required for runtime torchserve without gates.model"]),
    (dict(runtime="vllm", smoke={"path": None}), []),
    (dict(runtime="triton"), []),
    (dict(runtime="triton", json_path="$.a[x]", smoke={"path": "/i", "json_path": "$.outputs[0"}),
     ["gates.json_path: cannot read JSON path '$.a[x]' at '[x]'",
      "gates.smoke.json_path: cannot read JSON path '$.outputs[0' at '[0'"]),
    (dict(runtime="triton", json_path="$.a[0]", smoke={"path": "/i", "json_path": "outputs[*].data"}), []),
])
def test_missing_settings(c, problems):
    assert runtimes.missing_settings(cfg(**c)) == problems
