"""The peers phase: model_rollout beside Argo Rollouts and Flagger, on one test-ground cluster.

    python -m bench --phases peers            # builds the peers if missing, then runs (docs/benchmarks.md)
    python -m bench --phases peers --smoke    # one tiny run of each scenario, no timing asserted

The peers are resident controllers, started once on the cluster and left running for every run
(model_rollout's runs included, so both share the same machine). Each contender gets its own
copy of the same Deployment (same manifest, images and Service) because Argo Rollouts takes over
the Deployment it references (``workloadRef`` scales it to zero) and Flagger takes over the
Deployment and its Service (it serves from ``<name>-primary``). Runs alternate between contenders.

Every figure comes from the bench's own watches on pods and EndpointSlices, counted from the start
of the command that asks for the change, so it does not depend on who wrote which object:

- **settled**: the first moment every live (not terminating) pod of the app runs the expected image
  and is Ready, there are exactly ``replicas`` of them, and the Service has ``replicas`` ready
  endpoints. After a good rollout that is the truth of "complete"; after a failed one it is
  "back to full capacity" on the old image.
- **verdict**: the line in which the contender reports its result (model_rollout's task result,
  ``kubectl argo rollouts status`` printing ``Healthy``/``Degraded``); Flagger has no client that
  waits, so its verdict is the Canary status write (``Succeeded``/``Failed``) seen by the bench's
  watch, with no client latency at all.
- **abort**: the first pod of the new image marked for deletion, the cluster-side reaction.
"""

import os
import time

from bench import contenders, ground
from bench import run as benchrun
from bench.observe import Observer, _Stream

NAMESPACE = benchrun.NAMESPACE
ARGO_API = ("argoproj.io", "v1alpha1", "rollouts")
FLAGGER_API = ("flagger.app", "v1beta1", "canaries")
METRIC_NAME = "error-ratio"
METRIC_THRESHOLD = 0.01
# Flagger refuses analysis intervals under 10 s (Canary.GetAnalysisInterval): its fastest.
FLAGGER_INTERVAL = "10s"
UNNAMED = benchrun.UNNAMED_REASONS
CAUSE_WORDS = dict(benchrun.CAUSE_WORDS, metric=(METRIC_NAME, "error ratio", "prometheus"))


class Settings:
    """Sizes of the peers phase; ``smoke`` keeps every wait to seconds."""

    def __init__(self, smoke, reps=None):
        self.smoke = smoke
        self.ready_delay = "500ms" if smoke else "2s"
        self.progress_deadline = 10 if smoke else 20
        self.canary_replicas = 4
        self.canary_steps = [25, 50]
        self.pause_seconds = 1 if smoke else 2
        self.failures = ("pullfail",) if smoke else ("crash", "pullfail")
        self.slow_replicas = 6 if smoke else 20
        self.slow_ready_delay = "1s" if smoke else "5s"
        self.bg_replicas = 3
        self.reps = 1 if smoke else (reps or 3)
        self.failure_reps = 1 if smoke else (reps or 2)
        self.idle_seconds = 5 if smoke else 30

    def describe(self):
        return {"smoke": self.smoke, "ready_delay": self.ready_delay, "progress_deadline_seconds": self.progress_deadline,
                "canary_replicas": self.canary_replicas, "canary_steps": self.canary_steps + [100],
                "pause_seconds": self.pause_seconds, "failure_kinds": list(self.failures),
                "slow_replicas": self.slow_replicas, "slow_ready_delay": self.slow_ready_delay,
                "bg_replicas": self.bg_replicas, "reps": self.reps, "failure_reps": self.failure_reps,
                "flagger_interval": FLAGGER_INTERVAL, "idle_seconds": self.idle_seconds}


# -- what the bench sees ---------------------------------------------------------------------------
class PeerObserver(Observer):
    """The bench's Observer, plus every pod's life (created, terminating) and a peer's own object."""

    def __init__(self, api, name, selector, custom=None):
        super().__init__(api, NAMESPACE, name, selector)
        self.live = {}            # pod -> [image, ready, terminating]
        self.snapshots = []       # (t, {image: live pods}, {image: ready pods}, ready endpoints)
        self.created = []         # (t, image)
        self.terminating = []     # (t, image)
        self.objects = []         # (t, phase, message) of the Rollout / Canary
        if custom:
            from kubernetes import client

            group, version, plural = custom
            self.streams.append(_Stream(client.CustomObjectsApi(api).list_namespaced_custom_object, self._on_custom,
                                        group=group, version=version, namespace=NAMESPACE, plural=plural,
                                        field_selector="metadata.name=" + name))

    def _on_pod(self, kind, obj, t):
        super()._on_pod(kind, obj, t)
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        image = ((obj.get("spec") or {}).get("containers") or [{}])[0].get("image")
        conditions = (obj.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        with self.changed:
            if kind == "DELETED":
                self.live.pop(name, None)
            else:
                if name not in self.live:
                    self.created.append((t, image))
                    self.live[name] = [image, ready, False]
                if meta.get("deletionTimestamp") and not self.live[name][2]:
                    self.terminating.append((t, image))
                self.live[name] = [image, ready, bool(meta.get("deletionTimestamp"))]
            self._snapshot(t)

    def _on_slice(self, kind, obj, t):
        super()._on_slice(kind, obj, t)
        with self.changed:
            self._snapshot(t)

    def _on_custom(self, kind, obj, t):
        if kind == "DELETED":
            return
        status = obj.get("status") or {}
        with self.changed:
            self.objects.append((t, status.get("phase"), status.get("message") or _condition_messages(status)))
            self.changed.notify_all()

    def _snapshot(self, t):
        live, ready = {}, {}
        for image, is_ready, terminating in self.live.values():
            if terminating:
                continue
            live[image] = live.get(image, 0) + 1
            if is_ready:
                ready[image] = ready.get(image, 0) + 1
        self.snapshots.append((t, live, ready, self.ready_endpoints()))
        self.changed.notify_all()

    # -- questions ---------------------------------------------------------------------------
    @staticmethod
    def _settled(snap, image, replicas):
        _t, live, ready, endpoints = snap
        return live == {image: replicas} and ready.get(image) == replicas and endpoints == replicas

    def settled_now(self, image, replicas):
        with self.lock:
            return bool(self.snapshots) and self._settled(self.snapshots[-1], image, replicas)

    def first_settled(self, after, image, replicas):
        with self.lock:
            for snap in self.snapshots:
                if snap[0] >= after and self._settled(snap, image, replicas):
                    return snap[0]
        return None

    def first_created(self, after, image):
        with self.lock:
            return next((t for t, img in self.created if t >= after and img == image), None)

    def first_terminating(self, after, image):
        with self.lock:
            return next((t for t, img in self.terminating if t >= after and img == image), None)

    def first_phase(self, after, phases):
        """(t, phase, message) of the first status write in ``phases`` after ``after``."""
        with self.lock:
            return next(((t, p, m) for t, p, m in self.objects if t >= after and p in phases), (None, None, None))

    def phase(self):
        with self.lock:
            return self.objects[-1][1] if self.objects else None

    def pod_timeline(self, start, end, image):
        """Ready endpoints, and live / Ready pods of ``image``, between ``start`` and ``end`` (t relative to start).

        Shaped like ``Observer.timeline`` (its "deployment" series as new pods and new Ready pods), because a
        peer's Deployment stays at zero replicas: the pods are the common ground.
        """
        with self.lock:
            pods = [(round(t - start, 3), live.get(image, 0), ready.get(image, 0))
                    for t, live, ready, _e in self.snapshots if start <= t <= end]
            eps = [(round(t - start, 3), n) for t, n in self.endpoints if start <= t <= end]
        return {"deployment": pods, "endpoints": eps}


def _condition_messages(status):
    return "; ".join(c.get("message") or "" for c in status.get("conditions") or [] if c.get("message"))


# -- the objects under test ------------------------------------------------------------------------
class PeerSubject(benchrun.Subject):
    """One contender's copy of the Deployment and its Service, watched pod by pod."""

    custom = None

    def __init__(self, cluster, name, replicas, surge, unavailable, settings, ready_delay=None):
        super().__init__(cluster, name, replicas, surge, unavailable, settings)
        self.ready_delay = ready_delay or settings.ready_delay

    def manifest(self, image):
        m = benchrun.manifest(self.name, image, self.replicas, self.surge, self.unavailable, self.settings)
        m["spec"]["template"]["metadata"]["annotations"]["testground.modelops.serving/ready-delay"] = self.ready_delay
        return m

    def selector(self):
        return "app=" + self.name

    def create(self):
        from kubernetes import client

        client.AppsV1Api(self.api).create_namespaced_deployment(NAMESPACE, self.manifest(self.image))
        client.CoreV1Api(self.api).create_namespaced_service(NAMESPACE, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": self.name},
            "spec": {"selector": {"app": self.name}, "ports": [{"port": 80, "targetPort": 8080, "name": "http"}]}})
        self.observer = PeerObserver(self.api, self.name, self.selector(), self.custom).start()
        self.adopt()
        return self

    def adopt(self):
        """Hand the Deployment to the peer (nothing for model_rollout)."""

    def steady(self):
        return self.observer.settled_now(self.image, self.replicas)

    def settle(self, timeout=180):
        """Wait until the app serves ``self.image`` on exactly its replicas; put it back if a run left it elsewhere."""
        if self.observer.wait_for(lambda o: self.steady(), timeout):
            return True
        benchrun.log("  %s not steady on %s; the bench restores it" % (self.name, self.image))
        self.restore()
        return bool(self.observer.wait_for(lambda o: self.steady(), timeout))

    def generation(self):
        from kubernetes import client

        return client.AppsV1Api(self.api).read_namespaced_deployment(self.name, NAMESPACE).metadata.generation


class ArgoSubject(PeerSubject):
    """The Deployment referenced by an Argo ``Rollout`` (``workloadRef``, ``scaleDown: onsuccess``), as users migrate.

    ``steps`` makes it a canary (no steps: a rolling canary straight to 100%); ``prometheus_url`` makes
    it a blue/green whose pre-promotion analysis is an AnalysisTemplate on that Prometheus.
    """

    custom = ARGO_API

    def __init__(self, *args, steps=None, prometheus_url=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = steps
        self.prometheus_url = prometheus_url

    @property
    def preview(self):
        return self.name + "-preview"

    def strategy(self):
        if self.prometheus_url:
            # The same checks as model_rollout's gate before the switch; promotion is automatic.
            return {"blueGreen": {"activeService": self.name, "previewService": self.preview,
                                  "prePromotionAnalysis": {"templates": [{"templateName": METRIC_NAME}]}}}
        canary = {"maxSurge": self.surge, "maxUnavailable": self.unavailable}
        if self.steps:
            canary["steps"] = self.steps
        return {"canary": canary}

    def rollout(self):
        return {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": self.name, "namespace": NAMESPACE},
            "spec": {
                "replicas": self.replicas, "revisionHistoryLimit": 3,
                "selector": {"matchLabels": {"app": self.name}},
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name,
                                "scaleDown": "onsuccess"},
                # Argo's own fail-fast: abort (scale the canary down, the stable back up) at the deadline.
                "progressDeadlineSeconds": self.settings.progress_deadline, "progressDeadlineAbort": True,
                "strategy": self.strategy(),
            },
        }

    def analysis_template(self):
        from testground.modelserver.metrics import ERROR_RATIO_QUERY

        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                "metadata": {"name": METRIC_NAME, "namespace": NAMESPACE},
                "spec": {"metrics": [{
                    "name": METRIC_NAME, "successCondition": "result[0] <= %s" % METRIC_THRESHOLD,
                    "failureLimit": 0,
                    "provider": {"prometheus": {"address": self.prometheus_url, "query": ERROR_RATIO_QUERY}}}]}}

    def adopt(self):
        from kubernetes import client

        custom = client.CustomObjectsApi(self.api)
        if self.prometheus_url:
            client.CoreV1Api(self.api).create_namespaced_service(NAMESPACE, {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": self.preview},
                "spec": {"selector": {"app": self.name}, "ports": [{"port": 80, "targetPort": 8080, "name": "http"}]}})
            custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", NAMESPACE, "analysistemplates",
                                                   self.analysis_template())
        custom.create_namespaced_custom_object(*_api_args(ARGO_API), self.rollout())

    def steady(self):
        return super().steady() and self.observer.phase() == "Healthy"


class FlaggerSubject(PeerSubject):
    """The Deployment behind a Flagger ``Canary`` (Kubernetes provider, blue/green by iterations)."""

    custom = FLAGGER_API

    def __init__(self, *args, prometheus_url=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.prometheus_url = prometheus_url

    def selector(self):
        # Flagger serves from <name>-primary, whose pods it labels app=<name>-primary.
        return "app in (%s,%s-primary)" % (self.name, self.name)

    def metric_template(self):
        from testground.modelserver.metrics import ERROR_RATIO_QUERY

        return {"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
                "metadata": {"name": METRIC_NAME, "namespace": NAMESPACE},
                "spec": {"provider": {"type": "prometheus", "address": self.prometheus_url},
                         "query": ERROR_RATIO_QUERY}}

    def canary(self):
        return {
            "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
            "metadata": {"name": self.name, "namespace": NAMESPACE},
            "spec": {
                "provider": "kubernetes",
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name},
                "progressDeadlineSeconds": self.settings.progress_deadline,
                "service": {"port": 80, "targetPort": 8080},
                # Blue/green: no traffic steps, a number of checks, then the switch; one failed check rolls back.
                "analysis": {"interval": FLAGGER_INTERVAL, "threshold": 1, "iterations": 2,
                             "metrics": [{"name": METRIC_NAME, "templateRef": {"name": METRIC_NAME},
                                          "thresholdRange": {"max": METRIC_THRESHOLD}, "interval": "4s"}]},
            },
        }

    def adopt(self):
        from kubernetes import client

        custom = client.CustomObjectsApi(self.api)
        custom.create_namespaced_custom_object("flagger.app", "v1beta1", NAMESPACE, "metrictemplates",
                                               self.metric_template())
        custom.create_namespaced_custom_object(*_api_args(FLAGGER_API), self.canary())

    def steady(self):
        return super().steady() and self.observer.phase() in ("Initialized", "Succeeded", "Failed")


def _api_args(api):
    group, version, plural = api
    return group, version, NAMESPACE, plural


# -- contenders ----------------------------------------------------------------------------------
class ModelRolloutWith(contenders.ModelRollout):
    """model_rollout, one task, with the strategy options of a scenario."""

    def __init__(self, workdir, options, name="model_rollout"):
        super().__init__(workdir)
        self.options = options
        self.name = name
        self.label = "modelops.serving.model_rollout %s" % " ".join("%s=%s" % kv for kv in sorted(options.items())
                                                                    if kv[0] != "gates")

    def launch(self, targets, failure_wait=None):
        del failure_wait
        args = {"kubeconfig": "{{ bench_kubeconfig }}", "context": "{{ bench_context }}",
                "name": "{{ bench_name }}", "namespace": "{{ bench_namespace }}", "image": "{{ bench_image }}"}
        args.update(self.options)
        tasks = [{"name": "Roll out", "modelops.serving.model_rollout": args}]
        return self.run_playbook(self.play(tasks), targets)

    # Its own requests: the Python client, and the port-forward WebSocket (no user agent).
    agents = ("python-client", "no-user-agent")

    def cause_named(self, said, kind):
        del kind
        return said["reason"] not in UNNAMED

    def controller_cpu(self):
        return 0.0


class _Script:
    """A contender that is a shell script around kubectl (and a peer's client)."""

    name = "?"
    controller = None

    def __init__(self, workdir, controller):
        self.workdir = workdir
        self.controller = controller

    def kubectl(self, subject):
        c = subject.cluster
        return "%s --kubeconfig %s --context %s -n %s" % (contenders.kubectl_path(), c.kubeconfig, c.context,
                                                          NAMESPACE)

    def script(self, lines):
        path = os.path.join(self.workdir, "%s.sh" % self.name)
        with open(path, "w") as f:
            f.write("set -u\n" + "\n".join(lines) + "\n")
        return contenders.Process(["bash", path])

    def controller_cpu(self):
        return self.controller.cpu_seconds()


class ArgoRollouts(_Script):
    """`kubectl set image` on the referenced Deployment, then `kubectl argo rollouts status` until Healthy/Degraded.

    Before `status`, the script waits for the controller to record the Deployment's new generation
    (``status.workloadObservedGeneration``): asked earlier, `status` can answer ``Healthy`` for the
    previous revision and exit before the rollout has started.
    """

    name = "argo-rollouts"
    label = "Argo Rollouts (workloadRef) + kubectl argo rollouts status"
    agents = ("kubectl", "kubectl-argo-rollouts", "rollouts-controller")

    def launch(self, subject, image):
        k = self.kubectl(subject)
        c = subject.cluster
        generation = subject.generation() + 1
        return self.script([
            "%s set image deployment/%s server=%s >/dev/null || exit 2" % (k, subject.name, image),
            "%s wait rollout/%s --for=jsonpath='{.status.workloadObservedGeneration}'=%d --timeout=60s >/dev/null"
            " || exit 3" % (k, subject.name, generation),
            "exec %s status %s --kubeconfig %s --context %s -n %s --timeout 300s" % (
                self.controller.plugin(), subject.name, c.kubeconfig, c.context, NAMESPACE),
        ])

    @staticmethod
    def report(proc, subject):
        del subject
        for t, line in proc.lines:
            if line.strip() == "Healthy":
                return {"verdict": "complete", "t": t, "message": line, "reason": None, "result": None}
            if line.startswith("Degraded"):
                return {"verdict": "failed", "t": t, "message": line, "reason": None, "result": None}
        return {"verdict": "none", "t": None, "message": proc.text()[-300:], "reason": None, "result": None}

    @staticmethod
    def cause_named(said, kind):
        text = (said["message"] or "").lower()
        return any(word in text for word in CAUSE_WORDS[kind])


class Flagger(_Script):
    """`kubectl set image` on the Canary's target Deployment; the verdict is Flagger's Canary status write."""

    name = "flagger"
    label = "Flagger (Kubernetes provider, blue/green) + its Canary status"
    agents = ("kubectl", "flagger")

    def launch(self, subject, image):
        return self.script(["exec %s set image deployment/%s server=%s" % (self.kubectl(subject), subject.name, image)])

    @staticmethod
    def report(proc, subject):
        """Flagger's own verdict: the first Succeeded/Failed after it took up the change."""
        obs = subject.observer
        started, _p, _m = obs.first_phase(proc.start, ("Progressing",))
        if started is None:
            return {"verdict": "none", "t": None, "message": "Flagger never started the analysis", "reason": None,
                    "result": None}
        t, phase, message = obs.first_phase(started, ("Succeeded", "Failed"))
        if t is None:
            return {"verdict": "none", "t": None, "message": "no verdict", "reason": None, "result": None}
        events = canary_events(subject)
        return {"verdict": "complete" if phase == "Succeeded" else "failed", "t": t,
                "message": "%s; events: %s" % (message, " | ".join(events[-4:])), "reason": None, "result": None}

    @staticmethod
    def cause_named(said, kind):
        return ArgoRollouts.cause_named(said, kind)


def canary_events(subject):
    from kubernetes import client

    items = client.CoreV1Api(subject.api).list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.kind=Canary,involvedObject.name=%s" % subject.name).items
    return [e.message for e in sorted(items, key=lambda e: str(e.last_timestamp or e.event_time or ""))]


def report_of(contender, proc, subject):
    if isinstance(contender, _Script):
        return contender.report(proc, subject)
    return contender.report(proc)


def launch(contender, subject, image):
    if isinstance(contender, _Script):
        return contender.launch(subject, image)
    return contender.launch([subject.target(image)])


# -- one run -----------------------------------------------------------------------------------
def one_run(contender, subject, image, scenario, rep, kind=None, timeout=300):
    """Roll ``subject`` to ``image`` with ``contender``; every figure from the bench's own watches."""
    obs = subject.observer
    old = subject.image
    cluster = subject.cluster
    cluster.audit_mark()
    cpu_before = contender.controller_cpu()
    proc = launch(contender, subject, image)
    proc.wait(timeout)
    t0 = proc.start
    said = report_of(contender, proc, subject)
    if said["t"] is None and isinstance(contender, Flagger):
        # Flagger's verdict is a status write after the command has long ended.
        obs.wait_for(lambda o: report_of(contender, proc, subject)["t"] is not None, 180)
        said = report_of(contender, proc, subject)
    failed_case = kind is not None
    # The end state the case calls for, whoever brings it about: the old image back on every replica
    # after a failure, the new one after a success. Counted from the first new pod, as the old state
    # holds at the start.
    want = old if failed_case else image

    def settled(o):
        first = o.first_created(t0, image)
        return o.first_settled(first if first is not None else t0, want, subject.replicas)

    obs.wait_for(settled, 120)
    end = time.monotonic()
    controller_cpu = round(contender.controller_cpu() - cpu_before, 3)
    by_agent = cluster.audit_since_mark()
    settled_t = settled(obs)
    first_new = obs.first_created(t0, image)
    rec = {
        "scenario": scenario, "contender": contender.name, "rep": rep, "replicas": subject.replicas,
        "verdict": said["verdict"], "reason": said["reason"], "message": (said["message"] or "")[:400],
        "exit": proc.returncode, "wall_s": round(proc.end - proc.start, 3),
        "client_cpu_s": proc.cpu, "controller_cpu_s": controller_cpu, "cpu_s": round(proc.cpu + controller_cpu, 3),
        "requests": sum(n for agent, n in by_agent.items() if agent in contender.agents),
        "requests_by_agent": by_agent,
        "first_new_pod_s": _since(t0, first_new), "expected_floor": subject.floor(),
        "output_tail": proc.text()[-600:] if said["verdict"] == "none" else "",
    }
    if said["result"]:
        rec["module"] = benchrun.module_fields(said["result"])
    if failed_case:
        rec["failure_verdict_s"] = _since(t0, said["t"]) if said["verdict"] != "complete" else None
        rec["abort_s"] = _since(t0, obs.first_terminating(t0, image))
        rec["back_to_full_s"] = _since(t0, settled_t)
        rec["reason_named"] = bool(contender.cause_named(said, kind))
    else:
        rec["complete_s"] = _since(t0, settled_t)
        rec["verdict_latency_s"] = None if settled_t is None or said["t"] is None else round(said["t"] - settled_t, 3)
        rec["early_done"] = rec["verdict_latency_s"] is not None and rec["verdict_latency_s"] < -0.1
        if settled_t is not None:
            subject.image = image
    rec["floor"], rec["zero_ready_s"] = obs.endpoint_floor(t0, settled_t or end)
    rec["timeline"] = obs.pod_timeline(t0, (settled_t or end) + 1, image)
    return rec


def _since(t0, t):
    return None if t is None else round(t - t0, 3)


# -- the phase ---------------------------------------------------------------------------------
def ensure_built(notes):
    """Build the peers if missing; a note (and False) when they cannot be built here."""
    from testground.peers import build

    try:
        build.ensure()
    except build.BuildError as exc:
        notes.append("peers not measured: %s" % exc)
        benchrun.log(notes[-1])
        return False
    return True


def peer_versions():
    from testground.peers import versions

    return {"argo-rollouts": versions.ARGO_ROLLOUTS, "argo-rollouts go toolchain": versions.ARGO_ROLLOUTS_TOOLCHAIN,
            "flagger": versions.FLAGGER}


def idle_cpu(controllers, seconds):
    """CPU seconds per minute each resident controller spends with nothing to roll out."""
    before = {name: c.cpu_seconds() for name, c in controllers.items()}
    time.sleep(seconds)  # a measuring window, not a wait for anything to happen
    return {name: round((c.cpu_seconds() - before[name]) * 60.0 / seconds, 3) for name, c in controllers.items()}


def peers(bench_settings, workdir, records, notes, meta=None):
    """Run the peers scenarios; ``bench_settings`` only says whether this is a smoke run."""
    from testground.modelserver.metrics import ERROR_RATIO_QUERY, PROMETHEUS, Exporter, Prometheus
    from testground.peers import build as peerbuild
    from testground.peers import controllers as peerctl

    settings = Settings(bench_settings.smoke, bench_settings.reps)
    if meta is not None:
        meta.setdefault("peers", {})["settings"] = settings.describe()
        meta["peers"]["versions"] = peer_versions()
    if not ensure_built(notes):
        return
    have_prometheus = os.path.exists(PROMETHEUS)
    # Its kube-apiserver reports its release (Flagger refuses one that does not; testground/peers/build.py).
    cluster = ground.BenchCluster("peers", cpu_nodes=2, gpu_nodes=0, bin_dir=peerbuild.cluster_bin_dir())
    exporter = prom = None
    running = []
    subjects = []
    try:
        t = time.monotonic()
        ground.start([cluster])
        benchrun.create_namespace(cluster)
        argo = peerctl.ArgoRollouts(cluster).start()
        running.append(argo)
        fl = None
        if have_prometheus:
            exporter = Exporter().start()
            prom = Prometheus(exporter.port).start()
            fl = start_flagger(peerctl, cluster, prom.url, notes)
            if fl is not None:
                running.append(fl)
        else:
            notes.append("blue/green not measured: %s is missing (apt-get install prometheus)" % PROMETHEUS)
        argo_c = ArgoRollouts(workdir, argo)
        benchrun.log("peers: cluster and controllers up in %.1fs" % (time.monotonic() - t))
        idle = idle_cpu({c.command: c for c in running}, settings.idle_seconds)
        if meta is not None:
            meta["peers"]["idle_cpu_s_per_min"] = idle
        benchrun.log("peers: idle controller CPU per minute: %s" % idle)

        mr_canary = ModelRolloutWith(workdir, {"strategy": "canary", "canary_steps": settings.canary_steps,
                                               "canary_pause_seconds": settings.pause_seconds})
        n, s = settings.canary_replicas, settings
        steps = []
        for weight in s.canary_steps:
            steps += [{"setWeight": weight}, {"pause": {"duration": "%ds" % s.pause_seconds}}]
        canary = [(mr_canary, PeerSubject(cluster, "canary-mr", n, 1, 1, s)),
                  (argo_c, ArgoSubject(cluster, "canary-argo", n, 1, 1, s, steps=steps))]
        slow = [(ModelRolloutWith(workdir, {}), PeerSubject(cluster, "slow-mr", s.slow_replicas, "25%", "25%", s,
                                                            ready_delay=s.slow_ready_delay)),
                (argo_c, ArgoSubject(cluster, "slow-argo", s.slow_replicas, "25%", "25%", s,
                                     ready_delay=s.slow_ready_delay))]
        bg = {}
        if prom is not None:
            gates = {"runtime": "kserve_v2", "health_path": "", "model_path": "",
                     "prometheus": {"url": prom.url, "query": ERROR_RATIO_QUERY, "threshold": METRIC_THRESHOLD}}
            mr_bg = ModelRolloutWith(workdir, {"strategy": "blue_green", "service": "bg-mr", "gates": gates})
            mr_subject = PeerSubject(cluster, "bg-mr", s.bg_replicas, 1, 0, s)
            bg["peer-bluegreen-analysis"] = [
                (mr_bg, mr_subject),
                (argo_c, ArgoSubject(cluster, "bg-argo", s.bg_replicas, 1, 0, s, prometheus_url=prom.url))]
            if fl is not None:
                bg["peer-bluegreen-metric"] = [
                    (mr_bg, mr_subject),
                    (Flagger(workdir, fl), FlaggerSubject(cluster, "bg-flagger", s.bg_replicas, 1, 0, s,
                                                          prometheus_url=prom.url))]
        bg_pairs = list({id(x[1]): x for pairs in bg.values() for x in pairs}.values())
        for _c, subject in canary + slow + bg_pairs:
            subject.create()
            subjects.append(subject)
        for subject in subjects:
            if not subject.settle(240):
                raise RuntimeError("%s never became steady on %s" % (subject.name, subject.image))
        benchrun.log("peers: subjects steady: %s" % ", ".join(x.name for x in subjects))

        for rep in range(s.reps):
            for c, subject in benchrun.rotated(canary, rep):
                subject.settle()
                rec = one_run(c, subject, benchrun.next_image(), "peer-canary-%d" % n, rep)
                records.append(rec)
                _log(rec)
        for k, kind in enumerate(s.failures):
            for rep in range(s.failure_reps):
                for c, subject in benchrun.rotated(canary, k + rep):
                    subject.settle()
                    rec = one_run(c, subject, benchrun.failure_image(kind), "peer-failure-%s" % kind, rep, kind=kind)
                    records.append(rec)
                    _log(rec)
                    revert(subject)
        if bg:
            exporter.errors_per_scrape = 50  # half of the new version's requests fail, from the start
            wait_for_error_ratio(prom, ERROR_RATIO_QUERY)
            for scenario, pairs in sorted(bg.items()):
                for rep in range(s.failure_reps):
                    for c, subject in benchrun.rotated(pairs, rep):
                        subject.settle()
                        rec = one_run(c, subject, benchrun.next_image(), scenario, rep, kind="metric")
                        records.append(rec)
                        _log(rec)
                        if isinstance(subject, ArgoSubject):
                            revert(subject)
            exporter.errors_per_scrape = 0
        for rep in range(s.reps):
            for c, subject in benchrun.rotated(slow, rep):
                subject.settle()
                rec = one_run(c, subject, benchrun.next_image(), "peer-slow-%d" % s.slow_replicas, rep)
                records.append(rec)
                _log(rec)
    finally:
        for subject in subjects:
            if subject.observer:
                subject.observer.stop()
        for c in running:
            c.stop()
        cluster.stop()
        if prom is not None:
            prom.stop()
        if exporter is not None:
            exporter.stop()
        notes.append("peers work directory: %s" % cluster.workdir)


def start_flagger(peerctl, cluster, prometheus_url, notes):
    """Flagger on the cluster, or None with a note saying why it did not start."""
    from testground.process import ProcessError

    try:
        return peerctl.Flagger(cluster, prometheus_url).start()
    except ProcessError as exc:
        notes.append("blue/green not measured: Flagger did not start: %s" % exc)
        benchrun.log(notes[-1])
        return None


def wait_for_error_ratio(prom, query, timeout=60):
    """Until Prometheus has scraped enough to see the failing ratio (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = [float(r["value"][1]) for r in prom.query(query)]
        if values and min(values) > METRIC_THRESHOLD:
            benchrun.log("peers: error ratio of the new version %s" % values)
            return
        time.sleep(0.5)
    raise RuntimeError("Prometheus never saw the error ratio above %s" % METRIC_THRESHOLD)


def revert(subject):
    """After a failed run, the Deployment's template back on the serving image (Argo leaves the bad one there)."""
    from kubernetes import client

    dep = client.AppsV1Api(subject.api).read_namespaced_deployment(subject.name, NAMESPACE)
    if dep.spec.template.spec.containers[0].image != subject.image:
        subject.restore()


def _log(rec):
    if "failure_verdict_s" in rec:
        benchrun.log("%-14s %-24s rep %d: %s after %s s (abort %s s), named=%s, back to full %s s, floor %s" % (
            rec["contender"], rec["scenario"], rec["rep"], rec["verdict"], rec["failure_verdict_s"], rec["abort_s"],
            rec["reason_named"], rec["back_to_full_s"], rec["floor"]))
    else:
        benchrun.log("%-14s %-24s rep %d: %s, complete %s s, latency %s s, floor %s, %d requests, cpu %.2f s" % (
            rec["contender"], rec["scenario"], rec["rep"], rec["verdict"], rec["complete_s"],
            rec["verdict_latency_s"], rec["floor"], rec["requests"], rec["cpu_s"]))
