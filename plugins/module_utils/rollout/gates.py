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

Every step waits in the one wait loop (wait.py): each request is a *probe* the loop runs when it
is due (a retry ``interval`` later, a bake round ``bake_interval`` later), renewing the Lease
between any two, and the bake's watch of the new pods is the one hold verdict (hold.py). A
failure is an ``Outcome`` naming the pod, the check, what was expected and what came back; the
strategy then applies ``on_failure``. ``Gates.run`` returns the outcome and the report of every
check with its timing; it writes nowhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math

from urllib.parse import urlencode, urlsplit, urlunsplit

from ansible_collections.modelops.serving.plugins.module_utils.eks import aws
from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose, hold, runtimes, status
from ansible_collections.modelops.serving.plugins.module_utils.rollout.clock import Clock
from ansible_collections.modelops.serving.plugins.module_utils.rollout.errors import InputError, LockLost
from ansible_collections.modelops.serving.plugins.module_utils.rollout.judges import HoldJudge
from ansible_collections.modelops.serving.plugins.module_utils.rollout.portforward import (
    PortForwardError,
    pod_request,
    url_request,
)
from ansible_collections.modelops.serving.plugins.module_utils.rollout.wait import HoldUntil, Outcome, Quiet

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
        return json.dumps(body).encode()
    return str(body).encode()


def _is_http_url(url):
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_settings(cfg):
    """Everything wrong with the gate settings, raised at once before anything is written."""
    problems = runtimes.missing_settings(cfg)
    for key, minimum in (("timeout", 0.1), ("retries", 0), ("interval", 0), ("bake_seconds", 0),
                         ("bake_interval", 0.5), ("port", 1), ("management_port", 1)):
        value = cfg.get(key)
        if value is not None and value < minimum:
            problems.append("gates.%s must be at least %s (got %s)" % (key, minimum, value))
    if cfg.get("url") and not _is_http_url(cfg["url"]):
        problems.append("gates.url must be an http(s) URL (got %r)" % cfg["url"])
    prom = cfg.get("prometheus")
    if prom and not _is_http_url(prom.get("url")):
        problems.append("gates.prometheus.url must be an http(s) URL (got %r)" % prom.get("url"))
    cw = cfg.get("cloudwatch")
    if cw is not None:
        if not cw.get("alarm_names"):
            problems.append("gates.cloudwatch.alarm_names must name at least one alarm")
        if not aws.HAS_BOTO3:
            problems.append("gates.cloudwatch needs the boto3 Python library on the host that runs the module")
    if problems:
        raise InputError("; ".join(problems))


def build_gates(params_gates):
    """The Gates of a run, or None when no gates are asked for; InputError lists every problem."""
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

    def __init__(self, reason, message):
        super(Failure, self).__init__(message)
        self.outcome = Outcome(False, reason, message)


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

    @property
    def name(self):
        """What the report's ``pod`` field says: the pod's name."""
        return self.pod

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

    @property
    def label(self):
        return self.url

    @property
    def name(self):
        """What the report's ``pod`` field says: no pod, the URL."""
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


def attempt(target, check, timeout):
    """One request of a check to one target, judged: (ok, expected, got, unreachable)."""
    try:
        resp = target.request(check, timeout)
    except PortForwardError as exc:
        return False, "an answer to %s" % check.describe(), str(exc), True
    ok, expected, got = check.judge(resp.status, resp.body)
    return ok, expected, got, False


def check_failure(check, target, expected, got, tries, unreachable):
    if unreachable:
        return Failure("gate_unreachable", "gate %s cannot reach %s: %s" % (check.name, target.label, got))
    reason = {"smoke": "smoke_failed", "custom": "gate_check_failed"}.get(check.name, "model_not_ready")
    return Failure(reason, "gate %s failed on %s: %s expected %s, got %s%s" % (
        check.name, target.label, check.describe(), expected, got,
        (" (after %d attempts)" % tries) if tries > 1 else ""))


class ChecksProbe:
    """The readiness (and smoke) checks as a probe of the wait loop: one attempt per run, retries when due.

    Each (target, check) pair gets ``retries + 1`` attempts, ``interval`` seconds apart; the loop
    renews the Lease and keeps watching between any two. Ends with an ok Outcome when every pair
    passed, or the first pair's failure.
    """

    def __init__(self, gates, targets, clock, smoke=False):
        self.gates = gates
        self.clock = clock
        self.pairs = []
        for target in targets:
            for check in gates.checks:
                self.pairs.append((target, check, gates.cfg["timeout"]))
            if smoke and gates.smoke is not None:
                self.pairs.append((target, gates.smoke, gates.cfg["smoke"].get("timeout") or gates.cfg["timeout"]))
        self.attempts = gates.cfg["retries"] + 1
        self.index = 0
        self.tries = 0
        self.started = self.due = clock.monotonic()  # of the current pair's first attempt

    def run(self, view):
        if self.index < len(self.pairs):
            failed = self._attempt(*self.pairs[self.index])
            if failed is not None:
                return failed
            if self.tries:
                return None  # a retry is due later
        if self.index >= len(self.pairs):
            # The caller goes on to the next step; only ``ok`` of this outcome is read.
            return Outcome(True, "complete", "checks passed")
        return None

    def _attempt(self, target, check, timeout):
        """One attempt at the current pair: the failure Outcome, or None (passed, or a retry is due)."""
        self.tries += 1
        ok, expected, got, unreachable = attempt(target, check, timeout)
        if not ok and self.tries < self.attempts:
            self.due = self.clock.monotonic() + self.gates.cfg["interval"]
            return None
        seconds = self.clock.monotonic() - self.started
        self.gates.report.add(check.name, target.name, ok, seconds, expected, got, self.tries)
        self.gates.progress("gate: %s on %s: %s (%.3fs)" % (check.name, target.label, "ok" if ok else "FAILED",
                                                            seconds))
        if not ok:
            return check_failure(check, target, expected, got, self.tries, unreachable).outcome
        self.index += 1
        self.tries = 0
        self.started = self.due = self.clock.monotonic()
        return None


class BakeProbe:
    """Every ``bake_interval`` during the bake: the readiness checks once more, then the metric gates.

    A round's checks wait in the loop like the first ones (retries ``interval`` apart), with
    the Lease renewed between any two requests.
    """

    def __init__(self, gates, ctx, deployment, targets, t0, seconds, every):
        self.gates = gates
        self.ctx = ctx
        self.deployment = deployment
        self.targets = targets
        self.end = t0 + seconds
        self.every = every
        self.due = min(t0 + every, self.end)
        self.rounds = 0

    def run(self, view):
        self.rounds += 1
        checks = ChecksProbe(self.gates, self.targets, self.ctx.clock)
        outcome = self.ctx.loop.wait("bake", self.deployment, Quiet(), probe=checks)
        if not outcome.ok:
            return outcome
        try:
            self.gates.check_metrics()
        except Failure as failure:
            return failure.outcome
        now = self.ctx.clock.monotonic()
        # The last round runs at the end of the bake, none after it.
        self.due = min(now + self.every, self.end) if now < self.end else math.inf
        return None


class Gates:
    """The gates of one run: ``run(ctx, phase, view) -> (Outcome, report entries)``."""

    def __init__(self, cfg, sample, smoke_body):
        self.cfg = cfg
        self.clock = Clock()  # run() uses the run's clock
        self.sample = sample
        self.checks = runtimes.readiness_checks(cfg)
        self.smoke = runtimes.smoke_check(cfg, smoke_body)
        self._cloudwatch = None  # made on the first read, from the gate's own AWS options
        self.report = Report()
        self.progress = lambda line: None

    # -- entry point -----------------------------------------------------------------------------
    def run(self, ctx, phase, view):
        """Gate the new pods of ``view`` (a completed rollout of ``phase``); never raises a Failure."""
        self.report = Report()
        self.progress = ctx.progress
        self.clock = ctx.clock
        targets = self.targets(ctx, view.new_pods)
        if not targets:
            outcome = Outcome(False, "gate_no_pods", "no Ready pod of the new ReplicaSet to gate")
        else:
            outcome = ctx.loop.wait("%s gates" % phase, view.deployment, Quiet(), cap=ctx.cap,
                                    probe=ChecksProbe(self, targets, ctx.clock, smoke=True))
            if outcome.ok:
                outcome = self._metrics_failure(ctx) or outcome
            if outcome.ok and self.cfg.get("bake_seconds"):
                outcome = self.bake(ctx, view, targets)
        if not outcome.ok:
            self.progress("gate: FAILED: %s" % outcome.message)
            return outcome.at(view), self.report.entries
        what = targets[0].label if isinstance(targets[0], UrlTarget) else "%d of %d new pod(s)" % (
            len(targets), len(view.new_pods))
        extra = ", bake %ss held" % self.cfg["bake_seconds"] if self.cfg.get("bake_seconds") else ""
        return Outcome(True, "complete", "%s; model gates passed on %s%s" % (
            status.rollout_status(view.deployment).message, what, extra), view=view), self.report.entries

    def _metrics_failure(self, ctx):
        """The metric gates once after the checks: the failed Outcome, or None when they hold."""
        try:
            ctx.loop.keep_lock()
            self.check_metrics()
        except Failure as failure:
            return failure.outcome
        except LockLost as exc:
            return Outcome(False, "lock_lost", str(exc))
        return None

    # -- whom to ask -------------------------------------------------------------------------------
    def targets(self, ctx, pods):
        cfg = self.cfg
        if cfg.get("url"):
            return [UrlTarget(cfg["url"], cfg["management_port"], cfg["validate_certs"])]
        ready = sorted((p for p in pods if hold.is_ready(p) and diagnose.is_pod_active(p)),
                       key=lambda p: p["metadata"]["name"])
        chosen = ready[:sample_size(self.sample, len(ready))]
        ports = {runtimes.SERVING: cfg.get("port") or runtimes.DEFAULT_PORTS[cfg["runtime"]],
                 runtimes.MANAGEMENT: cfg["management_port"]}
        return [PodTarget(ctx.api, ctx.namespace, p["metadata"]["name"], ports, cfg["scheme"], cfg["validate_certs"])
                for p in chosen]

    # -- metrics -----------------------------------------------------------------------------------
    def check_metrics(self):
        if self.cfg.get("prometheus"):
            self.check_prometheus(self.cfg["prometheus"])
        if self.cfg.get("cloudwatch"):
            self.check_cloudwatch(self.cfg["cloudwatch"])

    def check_prometheus(self, prom):
        op, compare = COMPARISONS[prom["comparison"]]
        expected = "every sample of `%s` %s %s" % (prom["query"], op, prom["threshold"])
        t = self.clock.monotonic()
        try:
            got, reason = self._prometheus_verdict(prom, compare, op)
        except Failure as failure:
            got, reason = str(failure), failure.outcome.reason
        ok = reason is None
        seconds = self.clock.monotonic() - t
        self.report.add("prometheus", None, ok, seconds, expected, got)
        self.progress("gate: prometheus: %s (%s)" % ("ok" if ok else "FAILED", got))
        if not ok:
            raise Failure(reason, "gate prometheus failed: expected %s, got %s" % (expected, got))

    def _prometheus_verdict(self, prom, compare, op):
        """(what came back, the failure reason or None when the gate holds)."""
        path = "/api/v1/query?" + urlencode({"query": prom["query"]})
        try:
            resp = url_request(prom["url"], "GET", path, headers=prom.get("headers"), timeout=prom["timeout"],
                               validate_certs=prom["validate_certs"])
        except PortForwardError as exc:
            raise Failure("prometheus_error", "Prometheus did not answer: %s" % exc)
        samples, error = parse_prometheus(resp.status, resp.body)
        if error:
            return error, "prometheus_error"
        live = [(labels, v) for labels, v in samples if not math.isnan(v)]
        if not live:
            text = "no data (%s)" % ("empty result" if not samples else "NaN")
            return text, "prometheus_no_data" if prom.get("fail_on_empty") else None
        bad = [(labels, v) for labels, v in live if not compare(v, prom["threshold"])]
        shown = bad or live
        text = ", ".join("%s%s" % (_fmt_number(v), (" for " + labels) if labels else "") for labels, v in shown[:5])
        if bad:
            return "%s (not %s %s)" % (text, op, prom["threshold"]), "prometheus_threshold"
        return text, None

    def check_cloudwatch(self, cw):
        names = list(cw["alarm_names"])
        expected = "no alarm in ALARM among %s" % ", ".join(names)
        t = self.clock.monotonic()
        try:
            alarms = self._describe_alarms(cw, names)
        except aws.AwsError as exc:
            self.report.add("cloudwatch", None, False, self.clock.monotonic() - t, expected, exc.message)
            raise Failure("cloudwatch_error", "gate cloudwatch cannot read the alarms: %s" % exc.message)
        except aws.error_types() as exc:
            self.report.add("cloudwatch", None, False, self.clock.monotonic() - t, expected, str(exc))
            raise Failure("cloudwatch_error", "gate cloudwatch cannot read the alarms: %s" % exc)
        seconds = self.clock.monotonic() - t
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
            self._cloudwatch = aws.client(cw, "cloudwatch", timeout=self.cfg["timeout"])
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
    def bake(self, ctx, view, targets):
        seconds = self.cfg["bake_seconds"]
        baseline = hold.Baseline([p for p in view.new_pods if diagnose.is_pod_active(p)])
        t0 = ctx.clock.monotonic()
        probe = BakeProbe(self, ctx, view.deployment, targets, t0, seconds, self.cfg["bake_interval"])
        self.progress("bake: watching %d new pod(s) for %ss" % (len(baseline), seconds))
        ctx.enter("bake")
        outcome = ctx.loop.wait("bake", view.deployment, HoldJudge("bake", baseline, ctx.standing_template(view.deployment)),
                                cap=ctx.cap, probe=probe,
                                deadline=HoldUntil("bake", t0 + seconds, seconds, "%d new pod(s)" % len(baseline)))
        elapsed = ctx.clock.monotonic() - t0
        if outcome.ok:
            self.progress(outcome.message)
            self._bake_entry(elapsed, seconds, "held: %d pod(s), no restart or readiness loss; %d check round(s) "
                             "passed" % (len(baseline), probe.rounds), ok=True)
            return outcome
        self._bake_entry(elapsed, seconds, outcome.message, ok=False)
        # An end the run itself met (the Lease, the Deployment gone, the overall cap) is not the bake's verdict.
        if outcome.reason not in ("lock_lost", "deployment_deleted", "timeout"):
            if not outcome.message.startswith("bake: "):
                outcome.message = "bake: " + outcome.message
            outcome.message = "%s, %.0fs into the %ss bake window" % (outcome.message, elapsed, seconds)
        return outcome

    def _bake_entry(self, elapsed, seconds, got, ok):
        self.report.add("bake", None, ok, elapsed, "no restart, readiness loss or failed check for %ss" % seconds, got)


def _fmt_number(value):
    # Samples are floats (parse_prometheus); six significant digits read as Prometheus' own UI shows them.
    return "%.6g" % value


def parse_prometheus(status_code, body):
    """([(labels text, value)], error text or None) from an instant query's answer."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [], "HTTP %s, not JSON: %s" % (status_code, runtimes._text(body))
    if not isinstance(doc, dict):
        # JSON from something that is not Prometheus' HTTP API (a wrong URL): a verdict, not a traceback.
        return [], "HTTP %s, not a Prometheus answer: %s" % (status_code, runtimes._text(body))
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
