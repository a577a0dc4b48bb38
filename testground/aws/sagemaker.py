"""SageMaker endpoint deployments for the AWS emulator, on moto's own backend objects.

moto 5.2.5 creates an endpoint already ``InService`` and has no ``UpdateEndpoint`` at all. This
module, loaded only inside the emulator process (``testground.aws.server``), adds what the
collection's SageMaker modules meet on AWS, following the documented state machine:

- ``CreateEndpoint``: ``Creating`` -> ``InService``; a model that cannot start -> ``Failed`` with a
  ``FailureReason``.
- ``UpdateEndpoint``: ``Updating`` (green fleet provisioned, traffic shifted in the steps of the
  ``DeploymentConfig`` -- ALL_AT_ONCE, CANARY, LINEAR, or rolling batches -- each step baked for
  ``WaitIntervalInSeconds`` while the auto-rollback alarms are watched, then
  ``TerminationWaitInSeconds``) -> ``InService`` on the new config. An auto-rollback alarm in
  ALARM during a bake, or the deployment running past ``MaximumExecutionTimeoutInSeconds`` ->
  ``RollingBack`` -> ``InService`` on the old config. A model that cannot start -> back
  ``InService`` on the old config with a ``FailureReason`` (what AWS does for a failed update of
  a live endpoint), or ``Failed`` when the ``update_failure`` setting says so. A failing
  rollback of a rolling deployment -> ``UpdateRollbackFailed``.
- ``UpdateEndpoint`` on an endpoint that is not ``InService`` is refused, as AWS refuses it.
- ``DescribeEndpoint`` shows ``PendingDeploymentSummary`` (the green fleet: instance counts,
  weights, variant status ``Creating`` / ``ActivatingTraffic`` / ``Baking``) and
  ``LastDeploymentConfig`` while and after a deployment runs.

A model "cannot start" when its container image's tag is ``broken`` (as test-ground pods with a
``:broken`` image never become ready). Step durations come from ``Settings``; the API's own
intervals (wait, termination wait, maximum execution time) are multiplied by
``Settings.time_scale`` so a test can run a 600 s bake in seconds.

Not modelled: instance capacity and quotas, autoscaling, shadow variants, data capture,
serverless cold starts, model data download, per-variant independent progress (all variants of a
config move together), the exact wording of AWS's failure reasons (these are ours).
"""

import math
import threading
import time

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.core.responses import ActionResult, EmptyResult

TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
HEALTH_CHECK_FAILURE = ("The primary container for production variant %s did not pass the ping health check. "
                        "Please check CloudWatch logs for this endpoint.")


class Settings:
    """How long each step takes in the emulator (seconds), and which failures it plays."""

    FIELDS = {
        "create_seconds": 1.0,      # Creating -> InService of a new endpoint
        "provision_seconds": 1.0,   # a green fleet (or a rolling batch) launches and loads the model
        "shift_seconds": 0.2,       # one traffic step (ActivatingTraffic)
        "rollback_seconds": 1.0,    # RollingBack, per rollback batch
        "time_scale": 1.0,          # multiplies WaitIntervalInSeconds, TerminationWait..., MaximumExecution...
        "update_failure": "rollback",   # a model that cannot start on update: "rollback" or "failed"
        "rollback_failure": False,  # the next rollback of a rolling deployment fails: UpdateRollbackFailed
    }

    def __init__(self):
        self.values = dict(self.FIELDS)

    def update(self, changes):
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise ValueError("unknown emulator settings: %s (known: %s)" % (sorted(unknown), sorted(self.FIELDS)))
        if changes.get("update_failure", "rollback") not in ("rollback", "failed"):
            raise ValueError("update_failure is 'rollback' or 'failed'")
        self.values.update(changes)
        return dict(self.values)

    def reset(self):
        self.values = dict(self.FIELDS)

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name)


SETTINGS = Settings()


def _image_broken(image):
    tag = (image or "").rsplit("/", 1)[-1]
    return ":" in tag and tag.rsplit(":", 1)[1] == "broken"


def _instances(variants):
    return sum(v.get("InitialInstanceCount") or 1 for v in variants)


def _batch(size, total):
    """Instances in one step of ``size`` ({Type, Value}); at least one."""
    if not size:
        return total
    if size["Type"] == "INSTANCE_COUNT":
        return max(1, min(total, int(size["Value"])))
    return max(1, min(total, int(math.ceil(total * size["Value"] / 100.0))))


class Phase:
    def __init__(self, name, seconds, variant_status, green, serving, bake=False):
        self.name = name
        self.seconds = seconds
        self.variant_status = variant_status
        self.green = green      # instances of the new fleet that exist
        self.serving = serving  # instances of the new fleet that take traffic
        self.bake = bake        # the auto-rollback alarms are watched


def plan(deployment_config, total, settings):
    """The phases an update goes through, from the DeploymentConfig as the API documents it."""
    scale = settings.time_scale
    rolling = deployment_config.get("RollingUpdatePolicy")
    if rolling:
        phases = []
        step = _batch(rolling["MaximumBatchSize"], total)
        done = 0
        while done < total:
            nxt = min(total, done + step)
            phases.append(Phase("provision", settings.provision_seconds, "Creating", nxt, done))
            phases.append(Phase("shift", settings.shift_seconds, "ActivatingTraffic", nxt, nxt))
            phases.append(Phase("bake", rolling["WaitIntervalInSeconds"] * scale, "Baking", nxt, nxt, bake=True))
            done = nxt
        return phases
    blue_green = deployment_config.get("BlueGreenUpdatePolicy") or {}
    routing = blue_green.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    wait = routing.get("WaitIntervalInSeconds", 0) * scale
    if routing["Type"] == "CANARY":
        steps = [_batch(routing.get("CanarySize"), total), total]
    elif routing["Type"] == "LINEAR":
        size = _batch(routing.get("LinearStepSize"), total)
        steps = list(range(size, total, size)) + [total]
    else:
        steps = [total]
    phases = [Phase("provision", settings.provision_seconds, "Creating", total, 0)]
    for serving in steps:
        phases.append(Phase("shift", settings.shift_seconds, "ActivatingTraffic", total, serving))
        phases.append(Phase("bake", wait, "Baking", total, serving, bake=True))
    phases.append(Phase("termination_wait", blue_green.get("TerminationWaitInSeconds", 0) * scale, "Baking",
                        total, total))
    return phases


class Deployment:
    """One running CreateEndpoint or UpdateEndpoint, advanced by the ticker."""

    def __init__(self, backend, endpoint, new_config, old_config=None, deployment_config=None, settings=SETTINGS):
        self.backend = backend
        self.endpoint = endpoint
        self.new_config = new_config
        self.old_config = old_config
        self.deployment_config = deployment_config or {}
        self.settings = settings
        self.started = time.monotonic()
        self.started_at = utcnow()
        self.phase_started = self.started
        self.total = _instances(new_config["ProductionVariants"])
        self.phases = plan(self.deployment_config, self.total, settings) if old_config else []
        self.index = 0
        self.rollback = None  # (reason, started, batches, failure_reason) once rolling back
        limit = (self.deployment_config.get("BlueGreenUpdatePolicy")
                 or self.deployment_config.get("RollingUpdatePolicy") or {}).get("MaximumExecutionTimeoutInSeconds")
        self.deadline = self.started + limit * settings.time_scale if limit else None
        self.done = False

    # -- what a model can do ------------------------------------------------------------------
    def _broken_variant(self):
        for variant in self.new_config["ProductionVariants"]:
            model = self.backend._models.get(variant["ModelName"])
            if model is not None and _image_broken((model.primary_container or {}).get("Image")):
                return variant["VariantName"]
        return None

    def _alarm_in_alarm(self):
        alarms = (self.deployment_config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        backend = cloudwatch_backends[self.backend.account_id][self.backend.region_name]
        for alarm in alarms:
            found = backend.alarms.get(alarm.get("AlarmName"))
            if found is not None and found.state_value == "ALARM":
                return found.name
        return None

    # -- the state machine --------------------------------------------------------------------
    def tick(self, now):
        if self.done:
            return
        if self.rollback is not None:
            return self._tick_rollback(now)
        if self.old_config is None:
            return self._tick_create(now)
        if self.deadline is not None and now >= self.deadline:
            return self._start_rollback(now, "The deployment did not finish within MaximumExecutionTimeoutInSeconds.")
        while self.index < len(self.phases):
            phase = self.phases[self.index]
            if phase.bake and self._alarm_in_alarm():
                return self._start_rollback(now, None)
            if now - self.phase_started < phase.seconds:
                return
            if phase.name == "provision":
                broken = self._broken_variant()
                if broken:
                    return self._fail_update(now, HEALTH_CHECK_FAILURE % broken)
            self.index += 1
            self.phase_started += phase.seconds
        self._finish_update()

    def _tick_create(self, now):
        if now - self.started < self.settings.create_seconds:
            return
        broken = self._broken_variant()
        if broken:
            self.endpoint.endpoint_status = "Failed"
            self.endpoint.failure_reason = HEALTH_CHECK_FAILURE % broken
        else:
            self.endpoint.endpoint_status = "InService"
        self._touch()
        self.done = True

    def _fail_update(self, now, reason):
        rolling = bool(self.deployment_config.get("RollingUpdatePolicy"))
        if rolling and self.index > 0:
            # Batches already serve the new model: a rolling deployment has to roll them back.
            return self._start_rollback(now, reason)
        if self.settings.update_failure == "failed":
            self.endpoint.endpoint_status = "Failed"
        else:
            self.endpoint.endpoint_status = "InService"
        self.endpoint.failure_reason = reason
        self._touch()
        self.done = True

    def _start_rollback(self, now, failure_reason):
        rolling = self.deployment_config.get("RollingUpdatePolicy")
        batches = 1
        if rolling:
            updated = self.phases[min(self.index, len(self.phases) - 1)].serving or 1
            batches = int(math.ceil(updated / float(_batch(rolling.get("RollbackMaximumBatchSize"), updated))))
        self.rollback = (now, batches, failure_reason)
        self.endpoint.endpoint_status = "RollingBack"
        self._touch()

    def _tick_rollback(self, now):
        started, batches, failure_reason = self.rollback
        if now - started < self.settings.rollback_seconds * batches:
            return
        if self.settings.rollback_failure and self.deployment_config.get("RollingUpdatePolicy"):
            self.endpoint.endpoint_status = "UpdateRollbackFailed"
            self.endpoint.failure_reason = "The rollback of the rolling deployment failed; the endpoint serves " \
                                           "a mix of the old and the new endpoint configuration."
            self.settings.update({"rollback_failure": False})
        else:
            self.endpoint.endpoint_status = "InService"
            if failure_reason:
                self.endpoint.failure_reason = failure_reason
        self._touch()
        self.done = True

    def _finish_update(self):
        self.endpoint.endpoint_config_name = self.new_config["EndpointConfigName"]
        self.endpoint.production_variants = self.endpoint._process_production_variants(
            self.new_config["ProductionVariants"])
        self.endpoint.endpoint_status = "InService"
        self.endpoint.failure_reason = None
        self._touch()
        self.done = True

    def _touch(self):
        self.endpoint.last_modified_time = utcnow()

    # -- what DescribeEndpoint shows while it runs --------------------------------------------
    def _instances_up(self, phase):
        """A fleet that is still provisioning has only the instances of the steps before."""
        if phase.name != "provision" or self.rollback is not None:
            return phase.green
        return self.phases[self.index - 1].green if self.index > 0 else 0

    def pending_summary(self, now):
        if self.done or self.old_config is None:
            return None
        phase = self.phases[min(self.index, len(self.phases) - 1)]
        if self.rollback is not None:
            status, message = "Deleting", "rolling back: traffic returns to the previous fleet"
        else:
            status = phase.variant_status
            message = "%s: %d of %d new instances up, %d take traffic" % (
                phase.name, phase.green, self.total, phase.serving)
        variants = []
        for variant in self.new_config["ProductionVariants"]:
            share = (variant.get("InitialInstanceCount") or 1) / float(self.total)
            green = int(round(self._instances_up(phase) * share))
            variants.append({
                "VariantName": variant["VariantName"],
                "InstanceType": variant.get("InstanceType"),
                "DesiredInstanceCount": variant.get("InitialInstanceCount"),
                "CurrentInstanceCount": green,
                "DesiredWeight": variant.get("InitialVariantWeight", 1.0),
                "CurrentWeight": variant.get("InitialVariantWeight", 1.0),
                "VariantStatus": [{"Status": status, "StatusMessage": message, "StartTime": self.started_at}],
            })
        return {"EndpointConfigName": self.new_config["EndpointConfigName"], "ProductionVariants": variants,
                "StartTime": self.started_at}


class Deployments:
    """Every running deployment, the one thread that advances them, and when each status changed."""

    def __init__(self, interval=0.05):
        self.lock = threading.RLock()
        self.running = {}   # id(endpoint) -> Deployment
        self.last = {}      # id(endpoint) -> DeploymentConfig of its last update
        # (wall time, endpoint, status, config) of every status change, so a benchmark can tell when
        # an endpoint was really in service without polling it.
        self.events = []
        self.interval = interval
        self._thread = threading.Thread(target=self._loop, name="sagemaker-deployments", daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            time.sleep(self.interval)
            self.tick()

    def tick(self):
        now = time.monotonic()
        with self.lock:
            for key, deployment in list(self.running.items()):
                before = (deployment.endpoint.endpoint_status, deployment.endpoint.endpoint_config_name)
                try:
                    deployment.tick(now)
                except Exception as exc:  # keep the emulator alive; the endpoint shows what broke
                    deployment.endpoint.endpoint_status = "Failed"
                    deployment.endpoint.failure_reason = "emulator error: %s" % exc
                    deployment.done = True
                self.note(deployment.endpoint, before)
                if deployment.done:
                    del self.running[key]

    def note(self, endpoint, before=None):
        after = (endpoint.endpoint_status, endpoint.endpoint_config_name)
        if after != before:
            self.events.append({"t": time.time(), "endpoint": endpoint.endpoint_name, "status": after[0],
                                "config": after[1], "failure_reason": endpoint.failure_reason})

    def start(self, deployment):
        with self.lock:
            self.running[id(deployment.endpoint)] = deployment
            if deployment.old_config is not None:
                self.last[id(deployment.endpoint)] = deployment.deployment_config

    def of(self, endpoint):
        return self.running.get(id(endpoint))

    def forget(self, endpoint):
        with self.lock:
            self.running.pop(id(endpoint), None)
            self.last.pop(id(endpoint), None)

    def reset(self):
        with self.lock:
            self.running.clear()
            self.last.clear()
            self.events = []


DEPLOYMENTS = None


def _backend(response):
    return sagemaker_backends[response.current_account][response.region]


def _endpoint(backend, name):
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(message='Could not find endpoint "%s".' % FakeEndpoint.arn_formatter(
            name, backend.account_id, backend.region_name))
    return endpoint


def _config(backend, name):
    config = backend.endpoint_configs.get(name)
    if config is None:
        raise ValidationError(message='Could not find endpoint configuration "%s".' % FakeEndpointConfig.arn_formatter(
            name, backend.account_id, backend.region_name))
    return config.response_object


def create_endpoint(self):
    """CreateEndpoint: the endpoint starts ``Creating``; the ticker decides InService or Failed."""
    backend = _backend(self)
    name = self._get_param("EndpointName")
    if name in backend.endpoints:
        raise ValidationError(message='Cannot create already existing endpoint "%s".'
                              % FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name))
    config = _config(backend, self._get_param("EndpointConfigName"))
    endpoint = backend.create_endpoint(endpoint_name=name, endpoint_config_name=config["EndpointConfigName"],
                                       tags=self._get_param("Tags"))
    endpoint.endpoint_status = "Creating"
    DEPLOYMENTS.note(endpoint)
    DEPLOYMENTS.start(Deployment(backend, endpoint, config))
    return ActionResult({"EndpointArn": endpoint.arn})


def update_endpoint(self):
    """UpdateEndpoint, which moto lacks: validated as AWS documents it, then run by the ticker."""
    backend = _backend(self)
    endpoint = _endpoint(backend, self._get_param("EndpointName"))
    new_config = _config(backend, self._get_param("EndpointConfigName"))
    with DEPLOYMENTS.lock:
        if endpoint.endpoint_status in TRANSITIONAL or DEPLOYMENTS.of(endpoint) is not None:
            raise ValidationError(message='Cannot update in-progress endpoint "%s".' % endpoint.arn)
        if endpoint.endpoint_status == "Failed":
            raise ValidationError(message='Cannot update endpoint "%s" in Failed status; delete it and create it '
                                          'again.' % endpoint.arn)
        old_config = _config(backend, endpoint.endpoint_config_name)
        deployment_config = self._get_param("DeploymentConfig")
        if self._get_param("RetainDeploymentConfig") and not deployment_config:
            deployment_config = DEPLOYMENTS.last.get(id(endpoint))
        deployment_config = deployment_config or {}
        _check_guardrails(deployment_config, old_config, new_config)
        endpoint.endpoint_status = "Updating"
        endpoint.failure_reason = None
        endpoint.last_modified_time = utcnow()
        DEPLOYMENTS.note(endpoint)
        DEPLOYMENTS.start(Deployment(backend, endpoint, new_config, old_config, deployment_config))
    return ActionResult({"EndpointArn": endpoint.arn})


def _check_guardrails(deployment_config, old_config, new_config):
    """What the deployment-guardrails docs require of the two configs."""
    if not (deployment_config.get("BlueGreenUpdatePolicy") or deployment_config.get("RollingUpdatePolicy")):
        return
    old_names = sorted(v["VariantName"] for v in old_config["ProductionVariants"])
    new_names = sorted(v["VariantName"] for v in new_config["ProductionVariants"])
    if old_names != new_names:
        raise ValidationError(message="Deployment guardrails need the same variant names in the old and the new "
                                      "endpoint configuration (old %s, new %s)." % (old_names, new_names))
    if deployment_config.get("RollingUpdatePolicy"):
        variants = new_config["ProductionVariants"]
        if len(variants) > 1 or any(v.get("ServerlessConfig") for v in variants):
            raise ValidationError(message="A rolling deployment supports neither multi-variant nor serverless "
                                          "endpoints.")


def describe_endpoint(self):
    backend = _backend(self)
    endpoint = _endpoint(backend, self._get_param("EndpointName"))
    with DEPLOYMENTS.lock:
        response = dict(endpoint.response_object)
        deployment = DEPLOYMENTS.of(endpoint)
        if deployment is not None:
            pending = deployment.pending_summary(time.monotonic())
            if pending:
                response["PendingDeploymentSummary"] = pending
        last = DEPLOYMENTS.last.get(id(endpoint))
        if last:
            response["LastDeploymentConfig"] = last
    if not response.get("FailureReason"):
        response.pop("FailureReason", None)
    return ActionResult(response)


def delete_endpoint(self):
    backend = _backend(self)
    endpoint = _endpoint(backend, self._get_param("EndpointName"))
    DEPLOYMENTS.forget(endpoint)
    backend.delete_endpoint(endpoint.endpoint_name)
    return EmptyResult()


def documented_instance_types():
    """The instance types botocore's SageMaker model lists (moto 5.2.5's own list stops before ml.g5)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for("ProductionVariantInstanceType").enum)


def _validate_instance_type(self, instance_type):
    if instance_type not in INSTANCE_TYPES:
        raise ValidationError(message="Value '%s' at 'instanceType' failed to satisfy constraint: Member must satisfy "
                                      "enum value set: [%d documented instance types]"
                                      % (instance_type, len(INSTANCE_TYPES)))


INSTANCE_TYPES = frozenset()


def install():
    """Put the deployment model into moto's SageMaker responses (in this process only)."""
    global DEPLOYMENTS, INSTANCE_TYPES
    if DEPLOYMENTS is None:
        DEPLOYMENTS = Deployments()
    INSTANCE_TYPES = documented_instance_types()
    FakeEndpointConfig.validate_instance_type = _validate_instance_type
    SageMakerResponse.create_endpoint = create_endpoint
    SageMakerResponse.update_endpoint = update_endpoint
    SageMakerResponse.describe_endpoint = describe_endpoint
    SageMakerResponse.delete_endpoint = delete_endpoint
    return DEPLOYMENTS


def reset():
    SETTINGS.reset()
    if DEPLOYMENTS is not None:
        DEPLOYMENTS.reset()
