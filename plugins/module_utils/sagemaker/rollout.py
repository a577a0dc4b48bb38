# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive one SageMaker endpoint to a new model version and to a verdict.

The path: validate everything (input, DeploymentConfig, that the rollback alarms exist) and
read the endpoint before writing anything; an endpoint already serving an equivalent config is
left alone; an update already in progress, started by anyone, is waited for (or refused), never
stacked, and when it is this run's own target it is resumed. Then the versioned Model and
EndpointConfig are made (or found, made by an earlier run), CreateEndpoint or UpdateEndpoint is
called once, and DescribeEndpoint is polled (adaptively) until the judge in ``judge.py`` has a
verdict, watching the rollback alarms so a rollback names the alarm that caused it.

Clients are boto3 clients wrapped with amazon.aws's retrying wrapper (every call takes
``aws_retry=True``); tests hand in fakes with the same methods.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # AnsibleAWSModule reports a missing botocore
    BotoCoreError = ClientError = Exception

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import deployment as dep
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import judge, result as res, spec
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.spec import InputError

# DescribeEndpoint may still answer the old state just after UpdateEndpoint: wait this long for
# the update to show before an InService on the old config counts as a rollback.
UPDATE_VISIBLE_GRACE = 30.0
DEFAULT_DEPLOYMENT_LIMIT = 3600
ROLLBACK_ALLOWANCE = 600
# Statuses an update is refused on, with the reason the result carries.
NOT_UPDATABLE = {"OutOfService": "out_of_service", "UpdateRollbackFailed": "rollback_failed",
                 "Deleting": "endpoint_deleted"}


class AwsError(Exception):
    def __init__(self, operation, exc):
        self.operation = operation
        self.code = _code(exc)
        self.text = _text(exc)
        super(AwsError, self).__init__("%s failed: %s" % (operation, self.text))


class Stop(Exception):
    """Ends a run early with a finished result (refusals, timeouts)."""

    def __init__(self, verdict, reason, message):
        super(Stop, self).__init__(message)
        self.verdict = verdict
        self.reason = reason
        self.message = message


def _code(exc):
    return ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")


def _text(exc):
    error = (getattr(exc, "response", None) or {}).get("Error") or {}
    if error.get("Message"):
        return "%s: %s" % (error.get("Code"), error["Message"])
    return str(exc)


def _not_found(exc):
    return exc.code in ("ValidationException", "ResourceNotFound") and "ould not find" in exc.text


def _in_progress(exc):
    return exc.code == "ValidationException" and "in-progress" in exc.text


class EndpointRollout:
    """One run of sagemaker_endpoint_rollout; ``params`` are the module's parameters."""

    def __init__(self, sm, cw, params, check_mode=False, progress=None, clock=time.monotonic, sleep=time.sleep,
                 region=None):
        self.sm = sm
        self.cw = cw
        self.p = params
        self.check_mode = check_mode
        self.progress = progress or (lambda line: None)
        self.clock = clock
        self.sleep = sleep
        self.t0 = clock()
        self.durations = dict((k, 0.0) for k in res.DURATION_KEYS)
        self.requests = 0
        self.writes = 0
        self.name = params["name"]
        self.result = res.base(self.name, region)
        self.desired = None
        self.config = None
        self.fired = []
        self.alarm_states = {}

    # -- AWS calls ---------------------------------------------------------------------------
    def _call(self, client, operation, write=False, **kwargs):
        self.requests += 1
        if write:
            self.writes += 1
        try:
            return getattr(client, operation)(aws_retry=True, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(operation, exc)

    def describe(self):
        try:
            return self._call(self.sm, "describe_endpoint", EndpointName=self.name)
        except AwsError as exc:
            if _not_found(exc):
                return None
            raise

    def _describe_optional(self, operation, **kwargs):
        try:
            return self._call(self.sm, operation, **kwargs)
        except AwsError as exc:
            if _not_found(exc):
                return None
            raise

    # -- the run -----------------------------------------------------------------------------
    def run(self):
        try:
            outcome = self._run()
        except InputError as exc:
            outcome = self._stop("failed", "invalid_input", str(exc))
        except Stop as exc:
            outcome = self._stop(exc.verdict, exc.reason, exc.message)
        except AwsError as exc:
            outcome = self._stop("failed", "api_error", "%s (endpoint %s)" % (exc, self.name))
        self.durations["total"] = self.clock() - self.t0
        return res.finish(outcome, self.durations, self.requests, self.writes)

    def _stop(self, verdict, reason, message):
        self.result.update(verdict=verdict, reason=reason, message=message)
        return self.result

    def _run(self):
        self.desired = spec.Desired(self.name, self.p["model"], self.p["variants"], self.p.get("tags"))
        self.config = dep.build(self.p.get("deployment"), self.desired.variants)
        self.result["deployment"] = {"config": self.config, "summary": dep.summary(self.config)}
        self.check_alarms(dep.alarm_names(self.config))
        for _attempt in range(3):
            live = self.describe()
            if live is None:
                return self.create()
            live = self.settle(live)
            if live is None:
                continue  # gone while we waited: decide again
            if isinstance(live, dict) and live.get("_resume"):
                return self.resume(live["described"])
            try:
                return self.update(live)
            except AwsError as exc:
                if not _in_progress(exc):
                    raise
                self.progress("someone started an update of %s between this run's read and its write; nothing "
                              "stacked" % self.name)
                if self.p.get("on_in_progress") == "refuse":
                    raise Stop("failed", "in_progress", "endpoint %s: an update started by someone else began just "
                               "before this run's; nothing was stacked on it. Run again when it has finished"
                               % self.name)
        raise Stop("failed", "in_progress", "endpoint %s kept changing under this run (three attempts); nothing "
                   "was written. Run again" % self.name)

    # -- validation that needs reads ---------------------------------------------------------
    def check_alarms(self, names):
        if not names:
            return
        found = {}
        answer = self._call(self.cw, "describe_alarms", AlarmNames=names)
        for alarm in (answer.get("MetricAlarms") or []) + (answer.get("CompositeAlarms") or []):
            found[alarm["AlarmName"]] = alarm.get("StateValue")
        missing = [n for n in names if n not in found]
        if missing:
            raise InputError("deployment.rollback_alarms: no CloudWatch alarm named %s in this region; SageMaker "
                             "could not roll back on it. Create it first, or fix the name" % ", ".join(missing))
        in_alarm = [n for n in names if found[n] == "ALARM"]
        self.alarm_states = found
        if in_alarm:
            raise InputError("rollback alarm %s is in ALARM already, before the deployment: SageMaker would roll "
                             "the deployment back at its first bake. Fix what it reports first" % ", ".join(in_alarm))

    # -- in-progress updates -----------------------------------------------------------------
    def settle(self, live):
        """The endpoint once no update runs on it, or a marker to resume this run's own target."""
        while live is not None and live.get("EndpointStatus") in judge.TRANSITIONAL:
            pending = (live.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
            status = live["EndpointStatus"]
            ours = pending == self.desired.config_name or (
                status == "Creating" and live.get("EndpointConfigName") == self.desired.config_name)
            if ours:
                return {"_resume": True, "described": live}
            what = "endpoint %s is %s%s" % (self.name, status, " toward %s" % pending if pending else "")
            if self.p.get("on_in_progress") == "refuse":
                raise Stop("failed", "in_progress", "%s, an update this run did not start; nothing was written "
                           "(on_in_progress=refuse). Run again when it has finished" % what)
            if self.check_mode:
                raise Stop("pending", "in_progress", "%s; check mode does not wait for it" % what)
            self.progress("%s (not started by this run): waiting for it to finish before deciding" % what)
            live = self.wait_settled()
        return live

    def wait_settled(self):
        backoff = judge.Backoff(cap=self._poll_cap())
        deadline = self.clock() + self._limit(None)
        last = None
        while True:
            live = self.describe()
            if live is None or live.get("EndpointStatus") not in judge.TRANSITIONAL:
                return live
            status = live.get("EndpointStatus")
            if self.clock() >= deadline:
                raise Stop("failed", "timeout", "endpoint %s stayed %s (an update this run did not start) for "
                           "%ds; nothing was written" % (self.name, status, self._limit(None)))
            self.sleep(backoff.next(status != last))
            last = status

    # -- first deployment --------------------------------------------------------------------
    def create(self):
        d = self.desired
        self.result["previous"] = res.empty_version()
        if self.check_mode:
            return self._preview(None, None, "would create endpoint %s on %s (image %s)"
                                 % (self.name, d.config_name, d.image))
        t = self.clock()
        self.ensure_versions()
        self._call(self.sm, "create_endpoint", write=True, EndpointName=self.name, EndpointConfigName=d.config_name,
                   Tags=spec.tags_list(self.name, self.p.get("tags")))
        self.result["changed"] = True
        self.durations["change"] = self.clock() - t
        self.progress("created endpoint %s on %s (image %s)" % (self.name, d.config_name, d.image))
        memory = judge.Memory("create", self.name, d.config_name)
        return self._conclude(self.wait(memory), None)

    # -- updates -------------------------------------------------------------------------------
    def update(self, live):
        d = self.desired
        status = live.get("EndpointStatus")
        self.result["endpoint"].update(arn=live.get("EndpointArn"), status=status)
        previous = self.live_version(live)
        self.result["previous"] = {"revision": previous["config"], "image": previous["image"]}
        self.result["current"] = dict(self.result["previous"])
        if status == "Failed":
            raise Stop("failed", "endpoint_failed", "endpoint %s is Failed (%s); SageMaker allows only DeleteEndpoint "
                       "on a failed endpoint. Delete it and run again to create it anew; nothing was written"
                       % (self.name, live.get("FailureReason") or "no FailureReason"))
        if status != "InService":
            raise Stop("failed", NOT_UPDATABLE.get(status, "unknown_status"),
                       "endpoint %s is %s (%s); this run updates only an endpoint that is InService. Nothing was "
                       "written" % (self.name, status, live.get("FailureReason") or "no FailureReason"))
        if previous["config"] == d.config_name or previous["fingerprint"] == d.fingerprint():
            same = "" if previous["config"] == d.config_name else " (equivalent to %s)" % d.config_name
            self.result.update(verdict="unchanged", reason="up_to_date",
                               message="endpoint %s is InService on %s%s" % (self.name, previous["config"], same))
            return self.result
        dep.check_variant_names(self.config, previous["variants"], d.variant_names)
        if self.check_mode:
            return self._preview(live, previous, "would update endpoint %s from %s to %s (image %s -> %s; %s)"
                                 % (self.name, previous["config"], d.config_name, previous["image"], d.image,
                                    dep.summary(self.config)))
        t = self.clock()
        self.ensure_versions()
        kwargs = dict(EndpointName=self.name, EndpointConfigName=d.config_name)
        if self.config:
            kwargs["DeploymentConfig"] = self.config
        self._call(self.sm, "update_endpoint", write=True, **kwargs)
        self.result["changed"] = True
        self.durations["change"] = self.clock() - t
        self.progress("updating endpoint %s: %s -> %s (image %s -> %s; %s)" % (
            self.name, previous["config"], d.config_name, previous["image"], d.image, dep.summary(self.config)))
        memory = judge.Memory("update", self.name, d.config_name, previous["config"], live.get("FailureReason"))
        return self._conclude(self.wait(memory), previous)

    def resume(self, live):
        """This run's target is already being deployed (an earlier run started it): wait for that."""
        d = self.desired
        self.result["resumed"] = True
        self.result["endpoint"].update(arn=live.get("EndpointArn"), status=live.get("EndpointStatus"))
        if live.get("EndpointStatus") == "Creating":
            self.result["previous"] = res.empty_version()
            memory, previous = judge.Memory("create", self.name, d.config_name), None
        else:
            previous = self.live_version(live)
            self.result["previous"] = {"revision": previous["config"], "image": previous["image"]}
            memory = judge.Memory("update", self.name, d.config_name, previous["config"])
        if self.check_mode:
            raise Stop("pending", "in_progress", "endpoint %s is already %s toward %s; check mode does not wait for it"
                       % (self.name, live.get("EndpointStatus"), d.config_name))
        self.progress("endpoint %s is already %s toward %s (an earlier run started it): waiting for it"
                      % (self.name, live["EndpointStatus"], d.config_name))
        memory.observe(live)
        return self._conclude(self.wait(memory), previous)

    def live_version(self, live):
        """The config the endpoint serves: name, image, variant names and content fingerprint."""
        name = live.get("EndpointConfigName")
        config = self._describe_optional("describe_endpoint_config", EndpointConfigName=name) if name else None
        variants = (config or {}).get("ProductionVariants") or []
        models = {}
        image = None
        for v in variants:
            described = self._describe_optional("describe_model", ModelName=v["ModelName"])
            if described is not None:
                models[v["VariantName"]] = spec.live_model_content(described)
                image = image or spec.image_of(described)
        names = [v["VariantName"] for v in variants] or [v.get("VariantName") for v in
                                                         live.get("ProductionVariants") or []]
        return {"config": name, "image": image, "variants": names,
                "fingerprint": spec.fingerprint(variants, models) if config and len(models) == len(variants) else None}

    def ensure_versions(self):
        """The Model and the EndpointConfig of the desired version, made unless an earlier run made them."""
        d = self.desired
        if self._describe_optional("describe_model", ModelName=d.model_name) is None:
            self._call(self.sm, "create_model", write=True, **d.model_request)
            self.progress("created model %s (image %s)" % (d.model_name, d.image))
        if self._describe_optional("describe_endpoint_config", EndpointConfigName=d.config_name) is None:
            self._call(self.sm, "create_endpoint_config", write=True, **d.config_request)
            self.progress("created endpoint config %s" % d.config_name)

    def _preview(self, live, previous, message):
        d = self.desired
        before = None
        if previous is not None:
            before = {"endpoint_config": previous["config"], "image": previous["image"],
                      "variants": [spec.variant_summary(v) for v in self._live_variants(previous["config"])]}
        self.result.update(changed=True, verdict="pending", reason="check_mode", message=message,
                           current={"revision": d.config_name, "image": d.image},
                           diff={"before": before, "after": d.summary()})
        return self.result

    def _live_variants(self, config_name):
        config = self._describe_optional("describe_endpoint_config", EndpointConfigName=config_name) or {}
        return config.get("ProductionVariants") or []

    # -- waiting -------------------------------------------------------------------------------
    def _poll_cap(self):
        return float(self.p["poll_max_interval_seconds"])

    def _limit(self, config):
        if self.p.get("wait_timeout"):
            return self.p["wait_timeout"]
        policy = ((config or {}).get("BlueGreenUpdatePolicy") or (config or {}).get("RollingUpdatePolicy") or {})
        return (policy.get("MaximumExecutionTimeoutInSeconds") or DEFAULT_DEPLOYMENT_LIMIT) + ROLLBACK_ALLOWANCE

    def wait(self, memory):
        """Poll DescribeEndpoint until the judge has a verdict; (judgement, last answer)."""
        t = self.clock()
        started = self.clock()
        deadline = started + self._limit(self.config if memory.kind == "update" else None)
        backoff = judge.Backoff(cap=self._poll_cap())
        last_point = None
        rollback_started = None
        described = None
        while True:
            described = self.describe()
            memory.observe(described)
            status = (described or {}).get("EndpointStatus")
            if status == "RollingBack" and rollback_started is None:
                rollback_started = self.clock()
                self.durations["rollout"] = rollback_started - t
                self.progress("endpoint %s is RollingBack: SageMaker restores %s" % (self.name, memory.previous))
            if memory.kind == "update" and status in ("Updating", "RollingBack"):
                self.watch_alarms()
            point = judge.progress(described, memory.target, sum(v.get("InitialInstanceCount") or 1
                                                                 for v in self.desired.variants))
            changed = point != last_point
            if changed:
                self._record(point, memory)
                last_point = point
            grace = self.clock() - started >= UPDATE_VISIBLE_GRACE
            if (memory.kind == "update" and status == "InService"
                    and (described or {}).get("EndpointConfigName") == memory.previous):
                self.watch_alarms()
            verdict = judge.judge(described, memory, self.fired, grace)
            if verdict is not None:
                break
            if self.clock() >= deadline:
                verdict = judge.Judgement("failed", "timeout", "endpoint %s is still %s after %ds; SageMaker goes on "
                                          "with the deployment. Run again to resume waiting for it (nothing will be "
                                          "written)" % (self.name, status, self._limit(self.config)))
                break
            self.sleep(backoff.next(changed))
        now = self.clock()
        if rollback_started is not None:
            self.durations["rollback"] = now - rollback_started
        else:
            self.durations["rollout"] = now - t
        return verdict, described

    def watch_alarms(self):
        names = dep.alarm_names(self.config)
        if not names:
            return
        try:
            answer = self._call(self.cw, "describe_alarms", AlarmNames=names)
        except AwsError as exc:
            self.progress("could not read the rollback alarms (%s); the verdict does not depend on them" % exc)
            return
        for alarm in (answer.get("MetricAlarms") or []) + (answer.get("CompositeAlarms") or []):
            name, state = alarm["AlarmName"], alarm.get("StateValue")
            if state != self.alarm_states.get(name):
                self.progress("rollback alarm %s is %s (%s)" % (name, state, alarm.get("StateReason") or ""))
            self.alarm_states[name] = state
            if state == "ALARM" and name not in self.fired:
                self.fired.append(name)

    def _record(self, point, memory):
        entry = {"t": round(self.clock() - self.t0, 3), "phase": "rollback" if point["status"] == "RollingBack"
                 else "rollout"}
        entry.update(point)
        self.result["timeline"].append(entry)
        self.progress(judge.progress_line(point, memory.target))

    # -- the verdict -----------------------------------------------------------------------------
    def _conclude(self, outcome, previous):
        verdict, described = outcome
        d = self.desired
        self.result["endpoint"].update(arn=(described or {}).get("EndpointArn") or self.result["endpoint"]["arn"],
                                       status=(described or {}).get("EndpointStatus"))
        serving = (described or {}).get("EndpointConfigName")
        images = {d.config_name: d.image}
        if previous is not None:
            images[previous["config"]] = previous["image"]
        self.result["current"] = {"revision": serving, "image": images.get(serving)}
        self.result["alarms"] = [{"name": n, "state": s} for n, s in sorted(self.alarm_states.items())]
        self.result.update(verdict=verdict.verdict, reason=verdict.reason, message=verdict.message)
        if verdict.verdict == "rolled_back":
            self.result["rolled_back_to"] = {"revision": previous["config"], "image": previous["image"]}
        if not verdict.ok:
            self.result["diagnostics"] = self.diagnostics(described)
        elif self.p.get("keep_versions"):
            self.result["cleanup"] = self.cleanup(self.p["keep_versions"], serving)
        return self.result

    def diagnostics(self, described):
        described = described or {}
        pending = described.get("PendingDeploymentSummary") or {}
        variants = pending.get("ProductionVariants") or described.get("ProductionVariants") or [{}]
        out = []
        for v in variants:
            out.append({
                "variant": v.get("VariantName"),
                "endpoint_status": described.get("EndpointStatus"),
                "endpoint_config": described.get("EndpointConfigName"),
                "failure_reason": described.get("FailureReason"),
                "variant_status": [s.get("Status") for s in v.get("VariantStatus") or []],
                "alarms_fired": list(self.fired),
            })
        return out

    # -- cleanup -----------------------------------------------------------------------------------
    def cleanup(self, keep, serving):
        """Delete this collection's superseded configs and models of this endpoint, keeping the newest ``keep``."""
        ours = []
        token = None
        while True:
            kwargs = dict(NameContains=spec.name_prefix(self.name, "c"), SortBy="CreationTime", SortOrder="Descending")
            if token:
                kwargs["NextToken"] = token
            page = self._call(self.sm, "list_endpoint_configs", **kwargs)
            ours.extend(c for c in page.get("EndpointConfigs") or []
                        if spec.owns_name(self.name, "c", c["EndpointConfigName"]))
            token = page.get("NextToken")
            if not token:
                break
        ours.sort(key=lambda c: c.get("CreationTime") or 0, reverse=True)
        kept = [c["EndpointConfigName"] for c in ours[:keep]]
        if serving not in kept:
            kept.append(serving)
        doomed = [c["EndpointConfigName"] for c in ours if c["EndpointConfigName"] not in kept]
        kept_models = set()
        for name in kept:
            kept_models.update(v["ModelName"] for v in self._live_variants(name))
        deleted_configs, deleted_models = [], []
        for name in doomed:
            config = self._describe_optional("describe_endpoint_config", EndpointConfigName=name)
            if config is None or not self._managed(config.get("EndpointConfigArn")):
                continue
            self._call(self.sm, "delete_endpoint_config", write=True, EndpointConfigName=name)
            deleted_configs.append(name)
            for v in config.get("ProductionVariants") or []:
                model = v["ModelName"]
                if model in kept_models or model in deleted_models or not spec.owns_name(self.name, "m", model):
                    continue
                described = self._describe_optional("describe_model", ModelName=model)
                if described is not None and self._managed(described.get("ModelArn")):
                    self._call(self.sm, "delete_model", write=True, ModelName=model)
                    deleted_models.append(model)
        if deleted_configs:
            self.progress("cleaned up %d superseded endpoint config(s) and %d model(s), keeping %s"
                          % (len(deleted_configs), len(deleted_models), ", ".join(kept)))
        return {"deleted_endpoint_configs": deleted_configs, "deleted_models": deleted_models, "kept": kept}

    def _managed(self, arn):
        """Only what this collection made for this endpoint (by its tags) is ever deleted."""
        if not arn:
            return False
        tags = dict((t["Key"], t["Value"]) for t in self._call(self.sm, "list_tags", ResourceArn=arn).get("Tags") or [])
        return tags.get(spec.MANAGED_TAG) == spec.MANAGER and tags.get(spec.ENDPOINT_TAG) == self.name
