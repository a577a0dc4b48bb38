# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model-aware gates: after Kubernetes calls the rollout complete, ask the new pods whether they serve.

In order, each stopping at the first failure:

1. readiness per runtime (runtimes.py) on every new pod, or a sample, through the API server's
   pod port-forward (portforward.py), or once against a URL the user gave;
2. a smoke inference on the same pods;
3. metric gates: a Prometheus instant query against a threshold, CloudWatch alarms not in ALARM;
4. a bake window: for ``bake_seconds`` a watch on the new ReplicaSet's pods fails on any restart,
   readiness loss or deletion, and every ``bake_interval`` the readiness checks and metric gates
   run again.

A failure is an ``Outcome`` naming the pod, the check, what was expected and what came back; the
runner then applies ``on_failure``. Every check lands in ``rollout.gate_report`` with its timing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import time

from urllib.parse import urlencode, urlsplit, urlunsplit

from ansible_collections.modelops.serving.plugins.module_utils.eks import aws
from ansible_collections.modelops.serving.plugins.module_utils.rollout import runtimes, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.kube import KubeError, label_selector
from ansible_collections.modelops.serving.plugins.module_utils.rollout.portforward import (
    PortForwardError,
    pod_request,
    url_request,
)
from ansible_collections.modelops.serving.plugins.module_utils.rollout.runner import InputError, Outcome
from ansible_collections.modelops.serving.plugins.module_utils.rollout.watch import Change, WatchSet

# A CloudWatch read inside a gate retries throttling briefly; the bake asks again anyway.
CLOUDWATCH_RETRY = dict(retries=3, delay=1, max_delay=4)

COMPARISONS = {
    "lt": ("<", lambda v, t: v < t),
    "le": ("<=", lambda v, t: v <= t),
    "gt": (">", lambda v, t: v > t),
    "ge": (">=", lambda v, t: v >= t),
    "eq": ("==", lambda v, t: v == t),
    "ne": ("!=", lambda v, t: v != t),
}

SMOKE_SPEC = dict(
    body=dict(type="raw"),
    body_file=dict(type="path"),
    path=dict(type="str"),
    content_type=dict(type="str", default="application/json"),
    expect_status=dict(type="int", default=200),
    json_path=dict(type="str"),
    expect=dict(type="raw"),
    timeout=dict(type="float"),
)

PROMETHEUS_SPEC = dict(
    url=dict(type="str", required=True),
    query=dict(type="str", required=True),
    threshold=dict(type="float", required=True),
    comparison=dict(type="str", default="le", choices=sorted(COMPARISONS)),
    fail_on_empty=dict(type="bool", default=False),
    headers=dict(type="dict", no_log=True),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="float", default=10),
)

CLOUDWATCH_SPEC = dict(alarm_names=dict(type="list", elements="str", required=True), **aws.AWS_OPTIONS)

GATES_ARG_SPEC = dict(
    runtime=dict(type="str", required=True, choices=list(runtimes.RUNTIMES)),
    model=dict(type="str"),
    model_version=dict(type="str"),
    port=dict(type="int"),
    management_port=dict(type="int", default=runtimes.DEFAULT_MANAGEMENT_PORT),
    scheme=dict(type="str", default="http", choices=["http", "https"]),
    validate_certs=dict(type="bool", default=False),
    url=dict(type="str"),
    health_path=dict(type="str"),
    model_path=dict(type="str"),
    path=dict(type="str"),
    expect_status=dict(type="int", default=200),
    json_path=dict(type="str"),
    expect=dict(type="raw"),
    sample=dict(type="raw", default="100%"),
    timeout=dict(type="float", default=10),
    retries=dict(type="int", default=3),
    interval=dict(type="float", default=2),
    smoke=dict(type="dict", options=SMOKE_SPEC),
    bake_seconds=dict(type="int", default=0),
    bake_interval=dict(type="float", default=10),
    prometheus=dict(type="dict", options=PROMETHEUS_SPEC),
    cloudwatch=dict(type="dict", options=CLOUDWATCH_SPEC),
)


# -- input ---------------------------------------------------------------------------------------
def parse_sample(value):
    """``sample`` as ("count", n) or ("percent", p); InputError names the option."""
    text = str(value if value is not None else "100%").strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            if not 0 < pct <= 100:
                raise ValueError
            return "percent", pct
        count = int(text)
        if count < 1:
            raise ValueError
        return "count", count
    except ValueError:
        raise InputError("gates.sample must be a whole number of pods (at least 1) or a percentage "
                         "above 0%% and up to 100%% (got %r)" % (value,))


def sample_size(sample, total):
    kind, value = sample
    if total <= 0:
        return 0
    if kind == "count":
        return min(value, total)
    return max(1, min(total, int(math.ceil(total * value / 100.0 - 1e-9))))


def _smoke_body(smoke):
    if smoke.get("body") is not None and smoke.get("body_file"):
        raise InputError("gates.smoke: give body or body_file, not both")
    if smoke.get("body_file"):
        try:
            with open(smoke["body_file"], "rb") as f:
                return f.read()
        except (IOError, OSError) as exc:
            raise InputError("gates.smoke.body_file: cannot read %s: %s" % (smoke["body_file"], exc))
    body = smoke.get("body")
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode("utf-8")
    return str(body).encode("utf-8")


def check_settings(cfg):
    """Everything wrong with the gate settings, raised at once before anything is written."""
    problems = runtimes.missing_settings(cfg)
    for key, minimum in (("timeout", 0.1), ("retries", 0), ("interval", 0), ("bake_seconds", 0),
                         ("bake_interval", 0.5), ("port", 1), ("management_port", 1)):
        value = cfg.get(key)
        if value is not None and value < minimum:
            problems.append("gates.%s must be at least %s (got %s)" % (key, minimum, value))
    if cfg.get("url"):
        parts = urlsplit(cfg["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append("gates.url must be an http(s) URL (got %r)" % cfg["url"])
    prom = cfg.get("prometheus")
    if prom and urlsplit(prom.get("url") or "").scheme not in ("http", "https"):
        problems.append("gates.prometheus.url must be an http(s) URL (got %r)" % prom.get("url"))
    cw = cfg.get("cloudwatch")
    if cw is not None:
        if not cw.get("alarm_names"):
            problems.append("gates.cloudwatch.alarm_names must name at least one alarm")
        if not aws.HAS_BOTO3:
            problems.append("gates.cloudwatch needs the boto3 Python library on the host that runs the module")
    if problems:
        raise InputError("; ".join(problems))


def build_gates(params_gates, module=None):
    """The gate callable for ``Rollout(gates=...)``, or None when no gates are asked for."""
    if not params_gates:
        return None
    cfg = dict(params_gates)
    check_settings(cfg)
    sample = parse_sample(cfg.get("sample"))
    smoke_body = _smoke_body(cfg["smoke"]) if cfg.get("smoke") else None
    return Gates(cfg, sample, smoke_body)


# -- the gates -----------------------------------------------------------------------------------
class Failure(Exception):
    """A gate said no; carries the Outcome."""

    def __init__(self, reason, message, evidence=None):
        super(Failure, self).__init__(message)
        self.outcome = Outcome(False, reason, message, evidence)


class PodTarget:
    """Requests to one pod through the API server's port-forward."""

    def __init__(self, api, namespace, pod, ports, scheme, validate_certs):
        self.api = api
        self.namespace = namespace
        self.pod = pod
        self.ports = ports
        self.scheme = scheme
        self.validate_certs = validate_certs

    @property
    def label(self):
        return "pod %s/%s" % (self.namespace, self.pod)

    def request(self, check, timeout):
        headers = {"Content-Type": check.content_type} if check.body is not None else None
        return pod_request(self.api, self.namespace, self.pod, self.ports[check.port], check.method, check.path,
                           body=check.body, headers=headers, timeout=timeout, scheme=self.scheme,
                           validate_certs=self.validate_certs)


class UrlTarget:
    """Requests to a URL the user gave (a Service, an ingress), checked once for the whole rollout."""

    def __init__(self, url, management_port, validate_certs):
        self.url = url.rstrip("/")
        self.management_port = management_port
        self.validate_certs = validate_certs
        self.pod = None

    @property
    def label(self):
        return self.url

    def _base(self, port_kind):
        if port_kind != runtimes.MANAGEMENT:
            return self.url
        parts = urlsplit(self.url)
        netloc = "%s:%d" % (parts.hostname, self.management_port)
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def request(self, check, timeout):
        headers = {"Content-Type": check.content_type} if check.body is not None else None
        return url_request(self._base(check.port), check.method, check.path, body=check.body, headers=headers,
                           timeout=timeout, validate_certs=self.validate_certs)


class Report:
    """The ``gates`` list of the result: one entry per check and pod, rounds of the bake folded in."""

    def __init__(self):
        self.entries = []
        self.index = {}

    def add(self, name, pod, ok, seconds, expected, got, attempts=1):
        key = (name, pod)
        entry = self.index.get(key)
        if entry is None:
            entry = {"name": name, "pod": pod, "ok": ok, "seconds": round(seconds, 3), "expected": expected,
                     "got": got, "checks": 1, "attempts": attempts}
            self.index[key] = entry
            self.entries.append(entry)
            return entry
        entry["checks"] += 1
        entry["attempts"] += attempts
        entry["seconds"] = round(entry["seconds"] + seconds, 3)
        if entry["ok"] or not ok:
            # Keep the first failure's answer; otherwise the latest.
            entry["got"] = got
            entry["expected"] = expected
        entry["ok"] = entry["ok"] and ok
        return entry


class Gates:
    """Called by the runner once the rollout is complete: ``gates(rollout, deployment, pods) -> Outcome``."""

    def __init__(self, cfg, sample, smoke_body, clock=time.monotonic, sleep=time.sleep, cloudwatch_client=None):
        self.cfg = cfg
        self.sample = sample
        self.checks = runtimes.readiness_checks(cfg)
        self.smoke = runtimes.smoke_check(cfg, smoke_body)
        self.clock = clock
        self.sleep = sleep
        self._cloudwatch = cloudwatch_client
        self.report = Report()
        self.progress = lambda line: None

    # -- entry point -----------------------------------------------------------------------------
    def __call__(self, rollout, deployment, pods):
        self.report = Report()
        rollout.gate_report = self.report.entries
        self.progress = rollout.progress
        try:
            targets = self.targets(rollout, pods)
            if not targets:
                raise Failure("gate_no_pods", "no Ready pod of the new ReplicaSet to gate")
            self.check_targets(targets, smoke=True)
            self.check_metrics()
            if self.cfg.get("bake_seconds"):
                self.bake(rollout, deployment, pods, targets)
        except Failure as failure:
            self.progress("gate: FAILED: %s" % failure.outcome.message)
            return failure.outcome
        what = ("%s" % targets[0].label) if isinstance(targets[0], UrlTarget) else "%d of %d new pod(s)" % (
            len(targets), len(pods))
        extra = ", bake %ss held" % self.cfg["bake_seconds"] if self.cfg.get("bake_seconds") else ""
        return Outcome(True, "complete", "%s; model gates passed on %s%s" % (
            status.rollout_status(deployment).message, what, extra))

    # -- whom to ask -------------------------------------------------------------------------------
    def targets(self, rollout, pods):
        cfg = self.cfg
        if cfg.get("url"):
            return [UrlTarget(cfg["url"], cfg.get("management_port") or runtimes.DEFAULT_MANAGEMENT_PORT,
                              cfg.get("validate_certs"))]
        ready = sorted((p for p in pods if _is_ready(p) and not (p.get("metadata") or {}).get("deletionTimestamp")),
                       key=lambda p: p["metadata"]["name"])
        chosen = ready[:sample_size(self.sample, len(ready))]
        ports = {runtimes.SERVING: cfg.get("port") or runtimes.DEFAULT_PORTS[cfg["runtime"]],
                 runtimes.MANAGEMENT: cfg.get("management_port") or runtimes.DEFAULT_MANAGEMENT_PORT}
        return [PodTarget(rollout.api, rollout.namespace, p["metadata"]["name"], ports, cfg.get("scheme") or "http",
                          cfg.get("validate_certs")) for p in chosen]

    # -- readiness and smoke -------------------------------------------------------------------------
    def check_targets(self, targets, smoke, attempts=None):
        for target in targets:
            for check in self.checks:
                self.run_check(target, check, attempts)
            if smoke and self.smoke is not None:
                self.run_check(target, self.smoke, attempts, timeout=(self.cfg["smoke"].get("timeout")
                                                                      or self.cfg.get("timeout")))

    def run_check(self, target, check, attempts=None, timeout=None):
        attempts = attempts or (self.cfg.get("retries") or 0) + 1
        timeout = timeout or self.cfg.get("timeout") or 10
        t = self.clock()
        tries = 0
        while True:
            tries += 1
            try:
                resp = target.request(check, timeout)
                ok, expected, got = check.judge(resp.status, resp.body)
                unreachable = False
            except PortForwardError as exc:
                ok, expected, got, unreachable = False, "an answer to %s" % check.describe(), str(exc), True
            if ok or tries >= attempts:
                break
            self.sleep(self.cfg.get("interval") or 0)
        seconds = self.clock() - t
        self.report.add(check.name, target.pod if target.pod else target.label, ok, seconds, expected, got, tries)
        self.progress("gate: %s on %s: %s (%.3fs)" % (check.name, target.label, "ok" if ok else "FAILED", seconds))
        if ok:
            return
        if unreachable:
            raise Failure("gate_unreachable", "gate %s cannot reach %s: %s" % (check.name, target.label, got))
        reason = {"smoke": "smoke_failed", "custom": "gate_check_failed"}.get(check.name, "model_not_ready")
        raise Failure(reason, "gate %s failed on %s: %s expected %s, got %s%s" % (
            check.name, target.label, check.describe(), expected, got,
            (" (after %d attempts)" % tries) if tries > 1 else ""))

    # -- metrics -----------------------------------------------------------------------------------
    def check_metrics(self):
        if self.cfg.get("prometheus"):
            self.check_prometheus(self.cfg["prometheus"])
        if self.cfg.get("cloudwatch"):
            self.check_cloudwatch(self.cfg["cloudwatch"])

    def check_prometheus(self, prom):
        op, compare = COMPARISONS[prom.get("comparison") or "le"]
        expected = "every sample of `%s` %s %s" % (prom["query"], op, prom["threshold"])
        t = self.clock()
        try:
            got, ok, reason = self._prometheus_verdict(prom, compare, op)
        except Failure as failure:
            got, ok, reason = str(failure), False, failure.outcome.reason
        seconds = self.clock() - t
        self.report.add("prometheus", None, ok, seconds, expected, got)
        self.progress("gate: prometheus: %s (%s)" % ("ok" if ok else "FAILED", got))
        if not ok:
            raise Failure(reason, "gate prometheus failed: expected %s, got %s" % (expected, got))

    def _prometheus_verdict(self, prom, compare, op):
        path = "/api/v1/query?" + urlencode({"query": prom["query"]})
        try:
            resp = url_request(prom["url"], "GET", path, headers=prom.get("headers"), timeout=prom.get("timeout") or 10,
                               validate_certs=prom.get("validate_certs", True))
        except PortForwardError as exc:
            raise Failure("prometheus_error", "Prometheus did not answer: %s" % exc)
        samples, error = parse_prometheus(resp.status, resp.body)
        if error:
            return error, False, "prometheus_error"
        live = [(labels, v) for labels, v in samples if not math.isnan(v)]
        if not live:
            text = "no data (%s)" % ("empty result" if not samples else "NaN")
            return text, not prom.get("fail_on_empty"), "prometheus_no_data"
        bad = [(labels, v) for labels, v in live if not compare(v, prom["threshold"])]
        shown = bad or live
        text = ", ".join("%s%s" % (_fmt_number(v), (" for " + labels) if labels else "") for labels, v in shown[:5])
        if bad:
            return "%s (not %s %s)" % (text, op, prom["threshold"]), False, "prometheus_threshold"
        return text, True, "ok"

    def check_cloudwatch(self, cw):
        names = list(cw["alarm_names"])
        expected = "no alarm in ALARM among %s" % ", ".join(names)
        t = self.clock()
        try:
            alarms = self._describe_alarms(cw, names)
        except aws.AwsError as exc:
            self.report.add("cloudwatch", None, False, self.clock() - t, expected, exc.message)
            raise Failure("cloudwatch_error", "gate cloudwatch cannot read the alarms: %s" % exc.message)
        except aws.error_types() as exc:
            self.report.add("cloudwatch", None, False, self.clock() - t, expected, str(exc))
            raise Failure("cloudwatch_error", "gate cloudwatch cannot read the alarms: %s" % exc)
        seconds = self.clock() - t
        states = dict((a.get("AlarmName"), a) for a in alarms)
        missing = [n for n in names if n not in states]
        firing = [states[n] for n in names if n in states and states[n].get("StateValue") == "ALARM"]
        got = ", ".join("%s %s" % (n, states[n].get("StateValue")) for n in names if n in states)
        if missing:
            got = (got + "; " if got else "") + "not found: " + ", ".join(missing)
        ok = not firing and not missing
        self.report.add("cloudwatch", None, ok, seconds, expected, got)
        self.progress("gate: cloudwatch: %s (%s)" % ("ok" if ok else "FAILED", got))
        if firing:
            raise Failure("cloudwatch_alarm", "gate cloudwatch failed: %s" % "; ".join(
                "alarm %s is in ALARM: %s" % (a.get("AlarmName"), a.get("StateReason") or "no reason given")
                for a in firing))
        if missing:
            raise Failure("cloudwatch_error", "gate cloudwatch failed: no such alarm: %s (region %s)" % (
                ", ".join(missing), cw.get("region") or "from the environment"))

    def _describe_alarms(self, cw, names):
        if self._cloudwatch is None:
            # The same session, endpoint, retry policy and option spec as every AWS call of the collection.
            self._cloudwatch = aws.client(cw, "cloudwatch", timeout=self.cfg.get("timeout"))
        describe = aws.retry(**CLOUDWATCH_RETRY)(self._cloudwatch.describe_alarms)
        alarms = []
        kwargs = {"AlarmNames": names, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
        while True:
            page = describe(**kwargs)
            alarms.extend(page.get("MetricAlarms") or [])
            alarms.extend(page.get("CompositeAlarms") or [])
            if not page.get("NextToken"):
                return alarms
            kwargs["NextToken"] = page["NextToken"]

    # -- the bake ----------------------------------------------------------------------------------
    def bake(self, rollout, deployment, pods, targets):
        seconds = self.cfg["bake_seconds"]
        every = self.cfg.get("bake_interval") or 10
        watched = BakeWatch(pods)
        ws = WatchSet(rollout.api)
        ws.add("pod", rollout.api.path("v1", "pods", rollout.namespace),
               {"labelSelector": _new_pods_selector(deployment, pods)})
        t0 = self.clock()
        end = t0 + seconds
        next_round = min(t0 + every, end)
        lock = getattr(rollout, "lock", None)
        renew_every = max((lock.ttl if lock else 120) / 3.0, 1.0)
        next_renew = t0 + renew_every
        rounds = 0
        self.progress("bake: watching %d new pod(s) for %ss" % (len(watched.baseline), seconds))
        ws.start()
        try:
            while True:
                now = self.clock()
                change = ws.next_change(max(min(end, next_round, next_renew) - now, 0))
                ws.drain()
                if change is not None and change.what == Change.LOST:
                    self.progress("bake: lost the pod watch (%s); resuming" % change.error)
                if ws.all_synced:
                    problem = watched.problem(ws.cache.items("pod"))
                    if problem:
                        self._bake_entry(t0, seconds, rounds, problem[1], ok=False)
                        raise Failure(problem[0], "bake: %s, %.0fs into the %ss bake window" % (
                            problem[1], self.clock() - t0, seconds))
                now = self.clock()
                if lock is not None and now >= next_renew:
                    try:
                        lock.renew()
                    except KubeError as exc:
                        self.progress("bake: could not renew the rollout lock: %s" % exc)
                    next_renew = now + renew_every
                if now >= next_round:
                    rounds += 1
                    self._bake_round(targets, t0, seconds, rounds)
                    if now >= end:
                        break
                    next_round = min(now + every, end)
        finally:
            ws.stop()
        self._bake_entry(t0, seconds, rounds, "held: %d pod(s), no restart or readiness loss; %d check round(s) "
                         "passed" % (len(watched.baseline), rounds), ok=True)

    def _bake_round(self, targets, t0, seconds, rounds):
        try:
            self.check_targets(targets, smoke=False)
            self.check_metrics()
        except Failure as failure:
            self._bake_entry(t0, seconds, rounds, str(failure), ok=False)
            failure.outcome.message = "bake: %s, %.0fs into the %ss bake window" % (
                failure.outcome.message, self.clock() - t0, seconds)
            raise

    def _bake_entry(self, t0, seconds, rounds, got, ok):
        self.report.add("bake", None, ok, self.clock() - t0,
                        "no restart, readiness loss or failed check for %ss" % seconds, got)


def _fmt_number(value):
    return ("%.6g" % value) if isinstance(value, float) else str(value)


def parse_prometheus(status_code, body):
    """([(labels text, value)], error text or None) from an instant query's answer."""
    try:
        doc = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError):
        return [], "HTTP %s, not JSON: %s" % (status_code, runtimes._text(body))
    if status_code != 200 or doc.get("status") != "success":
        return [], "HTTP %s, %s: %s" % (status_code, doc.get("errorType") or "error", doc.get("error") or doc)
    data = doc.get("data") or {}
    kind = data.get("resultType")
    result = data.get("result")
    samples = []
    if kind == "scalar":
        samples.append(("", float(result[1])))
    elif kind == "vector":
        for item in result or []:
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted((item.get("metric") or {}).items()))
            samples.append(("{%s}" % labels if labels else "", float(item["value"][1])))
    else:
        return [], "result type %s; the gate needs an instant vector or a scalar" % kind
    return samples, None


def _is_ready(pod):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _restarts(pod):
    return dict((c.get("name"), c.get("restartCount") or 0)
                for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _new_pods_selector(deployment, pods):
    sel = (deployment.get("spec") or {}).get("selector") or {}
    labels = dict(sel.get("matchLabels") or {})
    for pod in pods:
        value = ((pod.get("metadata") or {}).get("labels") or {}).get("pod-template-hash")
        if value:
            labels["pod-template-hash"] = value
            break
    return label_selector(labels, sel.get("matchExpressions"))


class BakeWatch:
    """What the new pods looked like when the bake began, and the first way they stopped holding."""

    def __init__(self, pods):
        self.baseline = dict((p["metadata"]["name"], _restarts(p)) for p in pods
                             if not (p.get("metadata") or {}).get("deletionTimestamp"))

    def problem(self, pods):
        """(reason, message) for the first restart, readiness loss or deletion; None while all hold."""
        by_name = dict((p["metadata"]["name"], p) for p in pods)
        for name in sorted(self.baseline):
            pod = by_name.get(name)
            if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
                return "bake_not_ready", "pod %s was deleted" % name
        for name in sorted(by_name):
            pod = by_name[name]
            before = self.baseline.get(name, {})
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                now = cs.get("restartCount") or 0
                if now > before.get(cs.get("name"), 0):
                    last = (cs.get("lastState") or {}).get("terminated") or {}
                    why = ""
                    if last:
                        why = " (last exit: %s, code %s)" % (last.get("reason") or "terminated", last.get("exitCode"))
                    return "bake_restart", "container %s of pod %s restarted (restarts %d -> %d)%s" % (
                        cs.get("name"), name, before.get(cs.get("name"), 0), now, why)
        for name in sorted(self.baseline):
            pod = by_name[name]
            if not _is_ready(pod):
                cond = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
                detail = ""
                if cond and (cond[0].get("reason") or cond[0].get("message")):
                    detail = " (%s)" % ": ".join(x for x in (cond[0].get("reason"), cond[0].get("message")) if x)
                return "bake_not_ready", "pod %s lost readiness%s" % (name, detail)
        return None
