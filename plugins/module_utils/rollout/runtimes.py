# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What "this model answers" means for each model server: the requests to make and how to judge them.

Pure: a check is a request (method, path, which port) and a judge that turns the response
(status and body) into (ok, expected, got). No I/O here; gates.py sends the requests.

- Triton, KServe v2, MLServer (the Open Inference Protocol): ``/v2/health/ready``, then
  ``/v2/models/<model>[/versions/<v>]/ready``; a JSON body with ``"ready": false`` is not ready.
- TorchServe: ``/ping`` on the inference port says Healthy, and the management API's
  ``/models/<model>[/<version>]`` lists at least one worker in state READY.
- TF Serving: ``/v1/models/<model>[/versions/<v>]`` has the wanted version (any, if none is named)
  in state AVAILABLE.
- vLLM: ``/health`` answers, and ``/v1/models`` lists the served model (``/health`` alone answers
  while the engine warms up).
- custom: one path, an expected status, and an optional JSON-path expectation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re

V2_RUNTIMES = ("triton", "kserve_v2", "mlserver")
RUNTIMES = V2_RUNTIMES + ("torchserve", "tfserving", "vllm", "custom")

# The HTTP port each server listens on by default (the port-forward's target in the pod). This
# table and default_paths() are the source of the gate defaults; the model_server role's presets
# must agree (tests/unit/roles/test_runtime_defaults.py).
DEFAULT_PORTS = {"triton": 8000, "kserve_v2": 8080, "mlserver": 8080, "torchserve": 8080,
                 "tfserving": 8501, "vllm": 8000, "custom": 8080}
DEFAULT_MANAGEMENT_PORT = 8081
NEEDS_MODEL = ("torchserve", "tfserving")

SERVING = "serving"
MANAGEMENT = "management"


class Check:
    """One request and the rule that judges its answer."""

    def __init__(self, name, path, judge, method="GET", port=SERVING, body=None, content_type=None):
        self.name = name
        self.path = path
        self.judge = judge
        self.method = method
        self.port = port
        self.body = body
        self.content_type = content_type

    def describe(self):
        return "%s %s" % (self.method, self.path)


def _text(body, limit=200):
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    body = (body or "").strip()
    return body if len(body) <= limit else body[:limit] + "..."


def _got(status, body):
    text = _text(body)
    return "HTTP %s%s" % (status, (": " + text) if text else " (empty body)")


def _json(body):
    try:
        return json.loads(body)  # bytes or text
    except (TypeError, ValueError):  # no body, not JSON, not UTF-8
        return None


# -- JSON paths ----------------------------------------------------------------------------------
class PathMissing(Exception):
    pass


_TOKEN = re.compile(r"\[(\*|-?\d+|'[^']*'|\"[^\"]*\")\]|\.?([^.\[\]]+)")
_INDEX = re.compile(r"-?\d+$")


def parse_json_path(expr):
    """``$.outputs[0].data``, ``outputs.0.data`` and ``data[*].id`` as a list of keys and indexes."""
    given = expr.strip()
    expr = given[1:] if given.startswith("$") else given
    tokens = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:  # both alternatives of _TOKEN consume at least one character
            raise ValueError("cannot read JSON path %r at %r" % (given, expr[pos:]))
        bracket, name = m.group(1), m.group(2)
        if bracket is not None:
            if bracket == "*":
                tokens.append("*")
            elif bracket[0] in ("'", '"'):
                tokens.append(bracket[1:-1])
            else:
                tokens.append(int(bracket))
        elif _INDEX.match(name):
            tokens.append(int(name))
        else:
            tokens.append(name)
        pos = m.end()
    return tokens


def json_path(doc, expr):
    """The value at ``expr``; with ``[*]`` a list of values. PathMissing names where it stopped."""
    return _walk(doc, parse_json_path(expr), "$")


def _walk(node, tokens, where):
    if not tokens:
        return node
    token, rest = tokens[0], tokens[1:]
    if token == "*":
        if not isinstance(node, list):
            raise PathMissing("%s is not a list" % where)
        return [_walk(item, rest, "%s[%d]" % (where, i)) for i, item in enumerate(node)]
    if isinstance(token, int):
        if not isinstance(node, list) or not -len(node) <= token < len(node):
            raise PathMissing("%s has no element [%d]" % (where, token))
        return _walk(node[token], rest, "%s[%d]" % (where, token))
    if isinstance(node, list) and token.isdigit():
        return _walk(node, [int(token)] + rest, where)
    if not isinstance(node, dict) or token not in node:
        raise PathMissing("%s has no key %r" % (where, token))
    return _walk(node[token], rest, "%s.%s" % (where, token))


def same_value(expected, got):
    """Equality as a person means it for model answers: numbers within float noise, lists element-wise."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(expected, got, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(same_value(e, g) for e, g in zip(expected, got))
    if isinstance(expected, dict) and isinstance(got, dict):
        return set(expected) == set(got) and all(same_value(expected[k], got[k]) for k in expected)
    if isinstance(expected, str) and isinstance(got, (int, float)):
        try:
            return same_value(float(expected), got)
        except ValueError:
            return False
    return expected == got


def _short(value):
    return _text(json.dumps(value, sort_keys=True))


def judge_status_and_path(expect_status, path_expr=None, expect=None):
    """Status must match; with a JSON path, the value must exist (and equal ``expect`` when given)."""
    wanted = "HTTP %s" % expect_status
    if path_expr:
        wanted += ", %s %s" % (path_expr, "== " + _short(expect) if expect is not None else "present")

    def judge(status, body):
        if status != expect_status:
            return False, wanted, _got(status, body)
        if not path_expr:
            return True, wanted, "HTTP %s" % status
        doc = _json(body)
        if doc is None:
            return False, wanted, "HTTP %s, not JSON: %s" % (status, _text(body))
        try:
            value = json_path(doc, path_expr)
        except PathMissing as exc:
            return False, wanted, "HTTP %s, %s: %s" % (status, exc, _text(body))
        if expect is not None and not same_value(expect, value):
            return False, wanted, "HTTP %s, %s = %s" % (status, path_expr, _short(value))
        return True, wanted, "HTTP %s, %s = %s" % (status, path_expr, _short(value))

    return judge


# -- judges of the runtimes' own answers ---------------------------------------------------------
def judge_v2_ready(status, body):
    """Open Inference Protocol readiness: 200; KServe's server also says ``"ready": true`` in JSON."""
    wanted = "HTTP 200 (ready)"
    if status != 200:
        return False, wanted, _got(status, body)
    doc = _json(body)
    if isinstance(doc, dict) and doc.get("ready") is False:
        return False, wanted, _got(status, body)
    return True, wanted, "HTTP 200"


def judge_torchserve_ping(status, body):
    wanted = 'HTTP 200, status "Healthy"'
    doc = _json(body)
    health = doc.get("status") if isinstance(doc, dict) else None
    if status != 200 or (health is not None and health != "Healthy"):
        return False, wanted, _got(status, body)
    return True, wanted, "HTTP 200, status %s" % json.dumps(health)


def torchserve_model_judge(model, version=None):
    wanted = "HTTP 200, model %s%s with a worker READY" % (model, (" version %s" % version) if version else "")

    def judge(status, body):
        if status != 200:
            return False, wanted, _got(status, body)
        doc = _json(body)
        entries = doc if isinstance(doc, list) else [doc]
        entries = [e for e in entries if isinstance(e, dict)]
        if version:
            entries = [e for e in entries if str(e.get("modelVersion")) == str(version)]
        if not entries:
            return False, wanted, "HTTP 200, no such model version listed: %s" % _text(body)
        states = []
        for entry in entries:
            workers = [w for w in entry.get("workers") or [] if isinstance(w, dict)]
            states.extend(str(w.get("status")) for w in workers)
            if any(w.get("status") == "READY" for w in workers):
                return True, wanted, "HTTP 200, %d worker(s), %d READY" % (
                    len(workers), sum(1 for w in workers if w.get("status") == "READY"))
        return False, wanted, "HTTP 200, workers: %s" % (", ".join(states) or "none")

    return judge


def tfserving_judge(model, version=None):
    wanted = "HTTP 200, model %s %s AVAILABLE" % (model, ("version %s" % version) if version else "a version")

    def judge(status, body):
        if status != 200:
            return False, wanted, _got(status, body)
        doc = _json(body)
        versions = doc.get("model_version_status") if isinstance(doc, dict) else None
        if not isinstance(versions, list):
            return False, wanted, "HTTP 200, no model_version_status: %s" % _text(body)
        versions = [v for v in versions if isinstance(v, dict)]
        if version:
            versions = [v for v in versions if str(v.get("version")) == str(version)]
        seen = []
        for v in versions:
            seen.append("%s %s" % (v.get("version"), v.get("state")))
            if v.get("state") == "AVAILABLE":
                return True, wanted, "HTTP 200, version %s AVAILABLE" % v.get("version")
        detail = ", ".join(seen) or "no such version"
        errors = [(v.get("status") or {}).get("error_message") for v in versions]
        errors = [e for e in errors if e]
        if errors:
            detail += " (%s)" % "; ".join(errors)
        return False, wanted, "HTTP 200, %s" % detail

    return judge


def vllm_models_judge(model=None):
    wanted = "HTTP 200, /v1/models lists %s" % (model or "a model")

    def judge(status, body):
        if status != 200:
            return False, wanted, _got(status, body)
        doc = _json(body)
        data = doc.get("data") if isinstance(doc, dict) else None
        ids = [str(d.get("id")) for d in data or [] if isinstance(d, dict)]
        ok = (model in ids) if model else bool(ids)
        return ok, wanted, "HTTP 200, models: %s" % (", ".join(ids) or "none")

    return judge


def _status_judge(wanted_status):
    return judge_status_and_path(wanted_status)


# -- paths ---------------------------------------------------------------------------------------
def _v2_model_path(model, version):
    path = "/v2/models/%s" % model
    if version:
        path += "/versions/%s" % version
    return path


def default_paths(runtime, model=None, version=None):
    """(health path, model status path, smoke inference path) of a runtime; None where it has none."""
    if runtime in V2_RUNTIMES:
        return ("/v2/health/ready",
                (_v2_model_path(model, version) + "/ready") if model else None,
                (_v2_model_path(model, version) + "/infer") if model else None)
    if runtime == "torchserve":
        suffix = ("/%s" % version) if version else ""
        return ("/ping", "/models/%s%s" % (model, suffix) if model else None,
                "/predictions/%s%s" % (model, suffix) if model else None)
    if runtime == "tfserving":
        base = "/v1/models/%s" % model if model else None
        if base and version:
            base += "/versions/%s" % version
        return (None, base, (base + ":predict") if base else None)
    if runtime == "vllm":
        return ("/health", "/v1/models", "/v1/completions")
    return (None, None, None)


def readiness_checks(cfg):
    """The checks that say a pod serves the model, in order."""
    runtime = cfg["runtime"]
    model, version = cfg.get("model"), cfg.get("model_version")
    health_default, model_default, _smoke = default_paths(runtime, model, version)
    # None (not given) takes the runtime's default; an empty string (the role's presets) skips the check.
    health = cfg.get("health_path")
    model_path = cfg.get("model_path")
    health = health_default if health is None else health
    model_path = model_default if model_path is None else model_path
    if runtime == "custom":
        path = cfg.get("path") or health
        return [Check("custom", path, judge_status_and_path(cfg.get("expect_status") or 200, cfg.get("json_path"),
                                                            cfg.get("expect")))]
    checks = []
    if runtime in V2_RUNTIMES:
        if health:
            checks.append(Check("server_ready", health, judge_v2_ready))
        if model_path:
            checks.append(Check("model_ready", model_path, judge_v2_ready))
    elif runtime == "torchserve":
        if health:
            checks.append(Check("server_ready", health, judge_torchserve_ping))
        if model_path:
            checks.append(Check("model_ready", model_path, torchserve_model_judge(model, version), port=MANAGEMENT))
    elif runtime == "tfserving":
        if health and health != model_path:
            checks.append(Check("server_ready", health, _status_judge(200)))
        if model_path:
            checks.append(Check("model_ready", model_path, tfserving_judge(model, version)))
    elif runtime == "vllm":
        if health:
            checks.append(Check("server_ready", health, _status_judge(200)))
        if model_path:
            checks.append(Check("model_ready", model_path, vllm_models_judge(model)))
    if cfg.get("json_path"):
        # An extra expectation on the last readiness answer, for any runtime.
        last = checks[-1] if checks else None
        if last is not None:
            checks.append(Check("expectation", last.path, judge_status_and_path(
                cfg.get("expect_status") or 200, cfg.get("json_path"), cfg.get("expect")), port=last.port))
    return checks


def smoke_check(cfg, body):
    """The smoke inference request, or None when none is configured."""
    smoke = cfg.get("smoke")
    if not smoke:
        return None
    _h, _m, default = default_paths(cfg["runtime"], cfg.get("model"), cfg.get("model_version"))
    path = smoke.get("path") or default
    judge = judge_status_and_path(smoke.get("expect_status") or 200, smoke.get("json_path"), smoke.get("expect"))
    return Check("smoke", path, judge, method="POST" if body is not None else "GET", body=body,
                 content_type=smoke.get("content_type") or "application/json")


def missing_settings(cfg):
    """Settings a runtime cannot do without, named for the error message."""
    problems = []
    runtime = cfg["runtime"]
    if runtime in NEEDS_MODEL and not cfg.get("model") and not cfg.get("model_path"):
        problems.append("gates.model is required for runtime %s" % runtime)
    if runtime == "custom" and not (cfg.get("path") or cfg.get("health_path")):
        problems.append("gates.path is required for runtime custom")
    smoke = cfg.get("smoke")
    # A JSON path that cannot be read is an input error now, not a failure after the rollout.
    for option, expr in (("gates.json_path", cfg.get("json_path")),
                         ("gates.smoke.json_path", smoke.get("json_path") if smoke else None)):
        if expr:
            try:
                parse_json_path(expr)
            except ValueError as exc:
                problems.append("%s: %s" % (option, exc))
    if smoke and not smoke.get("path"):
        # Whether a runtime has a default smoke path depends on the model only, never on its version.
        if default_paths(runtime, cfg.get("model"))[2] is None:
            problems.append("gates.smoke.path is required for runtime %s%s" % (
                runtime, "" if runtime == "custom" else " without gates.model"))
    return problems
