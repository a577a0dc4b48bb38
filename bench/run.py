"""Run every contender on the same rollouts of the test ground and write the results.

    python -m bench            # full run (about 15 minutes on 2 cores)
    python -m bench --smoke    # one tiny case per contender (under a minute); what CI runs

Writes bench/results/<date>.json, bench/results/<date>.md and timeline plots
bench/results/<date>-<scenario>.png. See bench/README.md for what each number means.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from bench import contenders, fleet, ground, report, sagemaker
from bench.observe import Observer
from testground import versions as tgversions

NAMESPACE = "bench"
IMAGE_REPO = "registry.local/team/model-server"
FAILURE_KINDS = ("broken", "crash", "pullfail", "gpu")
# What a failure message must mention to count as naming the cause (kubectl and kubernetes.core).
CAUSE_WORDS = {
    "broken": ("never became ready", "not ready", "readiness"),
    "crash": ("crashloopbackoff", "crash"),
    "pullfail": ("imagepullbackoff", "errimagepull", "image pull"),
    "gpu": ("insufficient nvidia.com/gpu", "unschedulable"),
    "quota": ("exceeded quota",),
}
UNNAMED_REASONS = (None, "", "timeout", "progress_deadline_exceeded")
# The gate-overhead phase: the tiny model MLServer serves (testground/modelserver/), and the
# smoke inference the gates send to every new pod (the model answers 2 * x).
SMOKE_BODY = {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]}


class Settings:
    """Sizes of one run; ``smoke`` keeps it to seconds."""

    def __init__(self, smoke, reps=None):
        self.smoke = smoke
        self.reps = reps
        self.ready_delay = "500ms" if smoke else "2s"
        self.progress_deadline = 5 if smoke else 20
        # kubernetes.core's wait_timeout defaults to 120 s; on failure cases it is capped at this.
        self.k8s_wait_cap = 8 if smoke else 30
        self.sizes = [(3, 1, 1, 1)] if smoke else [(3, 1, 1, reps or 3), (30, "25%", "25%", 2), (100, "25%", "25%", 1)]
        self.failures = ("pullfail",) if smoke else FAILURE_KINDS
        self.failure_reps = 1 if smoke else (reps or 1)
        self.fleet_sizes = () if smoke else fleet.SIZES
        self.gate_reps = 1 if smoke else (reps or 5)
        self.warmup = not smoke

    def describe(self):
        return {
            "smoke": self.smoke, "ready_delay": self.ready_delay,
            "progress_deadline_seconds": self.progress_deadline, "k8s_wait_timeout_on_failure": self.k8s_wait_cap,
            "sizes": [{"replicas": r, "max_surge": s, "max_unavailable": u, "reps": n} for r, s, u, n in self.sizes],
            "failure_kinds": list(self.failures), "failure_reps": self.failure_reps,
            "fleet_sizes": list(self.fleet_sizes), "gate_reps": self.gate_reps,
        }


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# -- objects under test ---------------------------------------------------------------------------
def manifest(name, image, replicas, surge, unavailable, settings, gpu=False):
    labels = {"app": name}
    container = {"name": "server", "image": image, "ports": [{"containerPort": 8080, "name": "http"}]}
    pod_spec = {"containers": [container], "terminationGracePeriodSeconds": 5}
    if gpu:
        container["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas, "progressDeadlineSeconds": settings.progress_deadline,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "template": {"metadata": {"labels": labels, "annotations": {
                "testground.modelops.serving/ready-delay": settings.ready_delay}}, "spec": pod_spec},
        },
    }


def resolve(value, replicas, round_up):
    """An int-or-percent strategy value as a number of pods, rounded as the controller does."""
    if isinstance(value, str) and value.endswith("%"):
        exact = replicas * int(value[:-1]) / 100.0
        return int(-(-exact // 1)) if round_up else int(exact)
    return int(value)


class Subject:
    """One Deployment + Service on one cluster, watched by the bench."""

    def __init__(self, cluster, name, replicas, surge, unavailable, settings, gpu=False):
        self.cluster = cluster
        self.name = name
        self.replicas = replicas
        self.surge = surge
        self.unavailable = unavailable
        self.settings = settings
        self.gpu = gpu
        self.image = next_image()
        self.api = cluster.bench_api()
        self.observer = None

    def floor(self):
        return self.replicas - resolve(self.unavailable, self.replicas, round_up=False)

    def manifest(self, image):
        return manifest(self.name, image, self.replicas, self.surge, self.unavailable, self.settings, self.gpu)

    def create(self):
        from kubernetes import client

        apps = client.AppsV1Api(self.api)
        core = client.CoreV1Api(self.api)
        apps.create_namespaced_deployment(NAMESPACE, self.manifest(self.image))
        core.create_namespaced_service(NAMESPACE, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": self.name},
            "spec": {"selector": {"app": self.name}, "ports": [{"port": 80, "targetPort": 8080, "name": "http"}]}})
        self.observer = Observer(self.api, NAMESPACE, self.name, "app=" + self.name).start()
        return self

    def settle(self, timeout=120):
        """Wait until the Deployment serves ``self.image`` on every replica with nothing else left."""
        def steady(o):
            if not o.complete_with(self.image):
                return False
            return len(o.pods) == self.replicas
        if self.observer.wait_for(steady, timeout):
            return True
        # A contender left it elsewhere: put it back so the next run starts equal.
        log("  %s not steady on %s; the bench restores it" % (self.name, self.image))
        self.restore()
        return bool(self.observer.wait_for(steady, timeout))

    def restore(self):
        from kubernetes import client

        apps = client.AppsV1Api(self.api)
        apps.patch_namespaced_deployment(self.name, NAMESPACE, {"spec": {"paused": False, "template": {"spec": {
            "containers": [{"name": "server", "image": self.image}]}}}})

    def target(self, image):
        return contenders.Target(self.cluster, NAMESPACE, self.name, self.manifest(image), image)


_IMAGE_COUNTER = [1]


def next_image():
    _IMAGE_COUNTER[0] += 1
    return "%s:v%d" % (IMAGE_REPO, _IMAGE_COUNTER[0])


def failure_image(kind):
    return next_image() if kind == "gpu" else "%s:%s" % (IMAGE_REPO, kind)


# -- one run of one contender ---------------------------------------------------------------------
def measure(contender, subjects, image_for, failure_wait=None, timeout=300):
    """Start ``contender`` on every subject at once; return the process and per-subject marks."""
    marks = []
    for s in subjects:
        state = s.observer.latest()
        marks.append({"generation": state["generation"], "old_image": s.image, "new_image": image_for(s)})
        s.cluster.audit_mark()
    totals = [s.cluster.request_total() for s in subjects]
    proc = contender.launch([s.target(m["new_image"]) for s, m in zip(subjects, marks)], failure_wait=failure_wait)
    proc.wait(timeout)
    for s, m, before in zip(subjects, marks, totals):
        m["requests"] = s.cluster.audit_since_mark()
        after = s.cluster.request_total()
        m["apiserver_request_total_delta"] = None if before is None or after is None else int(after - before)
    return proc, marks


def success_run(contender, subject, scenario, rep):
    proc, marks = measure(contender, [subject], lambda s: next_image())
    mark = marks[0]
    new = mark["new_image"]
    obs = subject.observer
    obs.wait_for(lambda o: o.complete_with(new), 120 if proc.returncode == 0 else 10)
    said = contender.report(proc)
    change_t, _state = obs.first_write(proc.start, mark["generation"])
    complete_t = obs.first_complete(change_t or proc.start, new)
    done_t = said["t"]
    rec = base_record(contender, scenario, rep, proc, mark, subject)
    rec.update(verdict=said["verdict"], reason=said["reason"])
    if complete_t is not None:
        subject.image = new
    if change_t is not None and complete_t is not None:
        rec["rollout_s"] = round(complete_t - change_t, 3)
        rec["floor"], rec["zero_ready_s"] = obs.endpoint_floor(change_t, complete_t)
        rec["timeline"] = obs.timeline(change_t, max(complete_t, done_t or complete_t) + 1)
    if done_t is not None and complete_t is not None:
        rec["verdict_latency_s"] = round(done_t - complete_t, 3)
        rec["overhead_s"] = round((done_t - proc.start) - (complete_t - change_t), 3)
        rec["early_done"] = report.early(rec["verdict_latency_s"], obs.old_ready_at(done_t, new))
        rec["old_ready_at_done"] = obs.old_ready_at(done_t, new)
    if said["result"]:
        rec["module"] = module_fields(said["result"])
    return rec


def failure_run(contender, subject, kind, rep, settings):
    bad = failure_image(kind)
    proc, marks = measure(contender, [subject], lambda s: bad, failure_wait=settings.k8s_wait_cap, timeout=240)
    mark = marks[0]
    obs = subject.observer
    old = mark["old_image"]
    said = contender.report(proc)
    change_t, changed = obs.first_write(proc.start, mark["generation"])
    rollback_t = None
    if changed is not None:
        rollback_t, _state = obs.first_write(change_t, changed["generation"])
    back = obs.wait_for(lambda o: o.complete_with(old), 90)
    back_t = obs.first_complete(rollback_t, old) if (back and rollback_t) else None
    rec = base_record(contender, f"failure-{kind}", rep, proc, mark, subject)
    rec.update(verdict=said["verdict"], reason=said["reason"], message=(said["message"] or "")[:300])
    # The module decides and rolls back in one process: its rollback write is its verdict.
    fail_t = said["t"] if contender.name in ("kubectl", "k8s") or rollback_t is None else rollback_t
    if said["verdict"] == "complete":
        fail_t = None
    if change_t is None and fail_t is not None:
        # Refused before any change (a preflight): counted from the start of the command.
        rec["failure_latency_s"] = round(fail_t - proc.start, 3)
        rec["refused_before_change"] = True
        rec["back_to_full_s"] = 0.0 if back else None
    if change_t is not None:
        rec["failure_latency_s"] = None if fail_t is None else round(fail_t - change_t, 3)
        rec["back_to_full_s"] = None if back_t is None else round(back_t - change_t, 3)
        rec["floor"], rec["zero_ready_s"] = obs.endpoint_floor(change_t, rollback_t or proc.end)
        if rollback_t is not None and back_t is not None:
            rec["rollback_floor"], rec["rollback_zero_ready_s"] = obs.endpoint_floor(rollback_t, back_t)
        rec["timeline"] = obs.timeline(change_t, (back_t or proc.end) + 1)
    rec["reason_named"] = reason_named(contender.name, kind, said)
    rec["rolled_back_by_contender"] = back_t is not None
    if said["result"]:
        rec["module"] = module_fields(said["result"])
    if not back:
        subject.settle()
    return rec


def reason_named(contender_name, kind, said):
    if contender_name in ("model_rollout", "rollout.yml"):
        return said["reason"] not in UNNAMED_REASONS
    text = (said["message"] or "").lower()
    return any(word in text for word in CAUSE_WORDS[kind])


def base_record(contender, scenario, rep, proc, mark, subject):
    return {
        "scenario": scenario, "contender": contender.name, "rep": rep, "replicas": subject.replicas,
        "wall_s": round(proc.end - proc.start, 3), "cpu_s": proc.cpu, "exit": proc.returncode,
        "requests": sum(mark["requests"].values()), "requests_by_agent": mark["requests"],
        "apiserver_request_total_delta": mark["apiserver_request_total_delta"],
        "expected_floor": subject.floor(), "output_tail": proc.text()[-600:] if proc.returncode not in (0, 2) else "",
    }


def module_fields(result):
    keep = {}
    for key in ("verdict", "reason", "message", "durations", "api", "rolled_back_to", "changed", "gates"):
        if key in result:
            keep[key] = result[key]
    if isinstance(keep.get("message"), str):
        keep["message"] = keep["message"][:300]
    return keep


def rotated(items, n):
    n %= len(items)
    return items[n:] + items[:n]


# -- phases -------------------------------------------------------------------------------------
def single_cluster(settings, runners, records, notes):
    cluster = ground.BenchCluster("bench", cpu_nodes=2, gpu_nodes=1, gpus_per_node=1)
    subjects = []
    try:
        t = time.monotonic()
        ground.start([cluster])
        log("cluster up in %.1fs" % (time.monotonic() - t))
        create_namespace(cluster)
        sized = []
        for replicas, surge, unavailable, reps in settings.sizes:
            s = Subject(cluster, "srv-%d" % replicas, replicas, surge, unavailable, settings).create()
            subjects.append(s)
            sized.append((s, reps))
        gpu = None
        if "gpu" in settings.failures:
            gpu = Subject(cluster, "gpu-srv", 1, 1, 0, settings, gpu=True).create()
            subjects.append(gpu)
        for s in subjects:
            if not s.settle(180):
                raise RuntimeError("Deployment %s never became ready" % s.name)
        log("Deployments ready: %s" % ", ".join("%s (%d)" % (s.name, s.replicas) for s in subjects))
        if settings.warmup:
            for c in runners:
                log("warm-up %s" % c.name)
                measure(c, [sized[0][0]], lambda s: next_image())
                sized[0][0].image = sized[0][0].observer.latest()["image"]
                sized[0][0].settle()
        for s, reps in sized:
            for rep in range(reps):
                for c in rotated(runners, rep):
                    s.settle()
                    rec = success_run(c, s, "rollout-%d" % s.replicas, rep)
                    if c.name in ("model_rollout", "rollout.yml", "k8s"):
                        rec["peak_rss_mb"] = kb_to_mb(c.peak_rss_kb(
                            "AnsiballZ_model_rollout.py" if c.name != "k8s" else "AnsiballZ_k8s.py"))
                    records.append(rec)
                    log("%-14s rollout-%-3d rep %d: %s latency %s s, wall %.1f s, %d requests%s" % (
                        c.name, s.replicas, rep, rec.get("verdict"), rec.get("verdict_latency_s"), rec["wall_s"],
                        rec["requests"], " EARLY" if rec.get("early_done") else ""))
        small = sized[0][0]
        for k, kind in enumerate(settings.failures):
            subject = gpu if kind == "gpu" else small
            for rep in range(settings.failure_reps):
                for c in rotated(runners, k + rep):
                    subject.settle()
                    rec = failure_run(c, subject, kind, rep, settings)
                    records.append(rec)
                    log("%-14s failure-%-8s rep %d: %s/%s after %s s, named=%s, back to full at %s s" % (
                        c.name, kind, rep, rec.get("verdict"), rec.get("reason"), rec.get("failure_latency_s"),
                        rec["reason_named"], rec.get("back_to_full_s")))
    finally:
        for s in subjects:
            if s.observer:
                s.observer.stop()
        cluster.stop()
        notes.append("single-cluster work directory: %s" % cluster.workdir)


def gate_settings(model):
    """What the gated contender passes as ``gates``: readiness, model readiness and a smoke inference."""
    return {"runtime": "kserve_v2", "model": model, "port": 8080,
            "smoke": {"body": SMOKE_BODY, "json_path": "$.outputs[0].data", "expect": [2, 4, 6]}}


def route_pods(cluster, port):
    """Port 8080 of every pod in the bench namespace is 127.0.0.1:``port``, through kwok's kubelet API.

    The same ClusterPortForward tests/integration/test_gates.py creates (its ``route``).
    """
    from kubernetes import client

    client.CustomObjectsApi(cluster.bench_api()).create_cluster_custom_object(
        "kwok.x-k8s.io", "v1alpha1", "clusterportforwards", {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterPortForward",
            "metadata": {"name": "bench-gates"},
            "spec": {"selector": {"matchNamespaces": [NAMESPACE]},
                     "forwards": [{"ports": [8080], "target": {"address": "127.0.0.1", "port": port}}]},
        })


def gate_overhead(settings, workdir, records, notes):
    """The same 3-replica rollout by model_rollout without and with model gates, in alternating order.

    Every new pod's port 8080 reaches a real MLServer serving the tiny model, so each gate request
    travels API server -> kubelet API (kwok) -> MLServer, as in tests/integration/test_gates.py.
    """
    try:
        from testground.modelserver.server import MODEL, ModelServer
    except ImportError as e:
        notes.append("gate overhead not measured: %s (mlserver is a test requirement)" % e)
        log(notes[-1])
        return
    runners = [contenders.ModelRollout(workdir), contenders.GatedModelRollout(workdir, gate_settings(MODEL))]
    cluster = ground.BenchCluster("gates", cpu_nodes=2, gpu_nodes=0)
    server = ModelServer("good")
    subject = None
    try:
        t = time.monotonic()
        server.start(timeout=120)
        log("MLServer serving %r on %s in %.1fs" % (MODEL, server.url, time.monotonic() - t))
        ground.start([cluster])
        create_namespace(cluster)
        route_pods(cluster, server.port)
        subject = Subject(cluster, "gated-3", 3, 1, 1, settings).create()
        if not subject.settle(180):
            raise RuntimeError("Deployment %s never became ready" % subject.name)
        log("gates: cluster and Deployment ready in %.1fs" % (time.monotonic() - t))
        if settings.warmup:
            for c in runners:
                log("warm-up %s" % c.name)
                measure(c, [subject], lambda s: next_image())
                subject.image = subject.observer.latest()["image"]
                subject.settle()
                c.peak_rss_kb("AnsiballZ_model_rollout.py")  # the warm-up's peak is not a run's
        for rep in range(settings.gate_reps):
            for c in rotated(runners, rep):
                subject.settle()
                rec = success_run(c, subject, "gates-3", rep)
                rec["peak_rss_mb"] = kb_to_mb(c.peak_rss_kb("AnsiballZ_model_rollout.py"))
                module = rec.get("module") or {}
                rec["gate_s"] = (module.get("durations") or {}).get("gate")
                rec["gate_checks"] = len(module.get("gates") or [])
                records.append(rec)
                log("%-20s gates-3 rep %d: %s, gates %s s (%d checks), wall %.1f s" % (
                    c.name, rep, rec.get("verdict"), rec["gate_s"], rec["gate_checks"], rec["wall_s"]))
    finally:
        if subject is not None and subject.observer:
            subject.observer.stop()
        cluster.stop()
        server.stop()
        notes.append("gate-overhead work directory: %s" % cluster.workdir)


def fleet_subject(cluster, settings):
    create_namespace(cluster)
    return Subject(cluster, "srv-3", 3, 1, 1, settings).create()


def create_namespace(cluster):
    from kubernetes import client

    core = client.CoreV1Api(cluster.bench_api())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(NAMESPACE).items):
            return
        time.sleep(0.2)


def kb_to_mb(kb):
    return None if kb is None else round(kb / 1024.0, 1)


def machine():
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/meminfo") as f:
            info["memory_gb"] = round(int(f.readline().split()[1]) / 1024.0 / 1024.0, 1)
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["loadavg_start"] = list(os.getloadavg())
    return info


def versions():
    import kubernetes

    from ansible.release import __version__ as core_version

    out = {"ansible_core": core_version, "kubernetes_client": kubernetes.__version__,
           "kubernetes.core": collection_version("kubernetes", "core")}
    try:
        import yaml

        from testground.collection import REPO_ROOT

        with open(os.path.join(REPO_ROOT, "galaxy.yml")) as f:
            out["modelops.serving"] = yaml.safe_load(f).get("version")
    except OSError:
        pass
    # The test ground builds kubectl and the control plane from this tag.
    out["kubernetes"] = tgversions.KUBERNETES
    return out


def collection_version(namespace, name):
    import ansible_collections  # pylint: disable=import-error

    for base in ansible_collections.__path__:
        path = os.path.join(base, namespace, name, "MANIFEST.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)["collection_info"]["version"]
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny case per contender (CI)")
    parser.add_argument("--reps", type=int, help="repetitions of the small cases (default 3; failures 1)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="directory for <date>.json, <date>.md and plots")
    parser.add_argument("--name", help="file name stem instead of the date")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--render", metavar="JSON", help="only rewrite the table of an earlier results file")
    parser.add_argument("--phases", default="single,fleet,gates,sagemaker",
                        help="comma-separated: single (one cluster), fleet (waves), gates (gate overhead), "
                             "sagemaker (verdicts on SageMaker updates), "
                             "peers (Argo Rollouts and Flagger; builds them first if missing, so not a default), "
                             "regimes (a quota refusing the surge pod, a slow load of many pods)")
    parser.add_argument("--append", metavar="JSON", help="add this run's records to an earlier results file")
    args = parser.parse_args(argv)
    if args.render:
        log("wrote %s" % report.render(args.render))
        return 0
    settings = Settings(args.smoke, args.reps)
    workdir = tempfile.mkdtemp(prefix="bench-")
    runners = []
    missing = {}
    for c in contenders.make(workdir):
        ok, why = c.available()
        if ok:
            runners.append(c)
        else:
            missing[c.name] = why
            log("contender %s missing: %s" % (c.name, why))
    started = datetime.datetime.now(datetime.timezone.utc)
    meta = {"started": started.isoformat(timespec="seconds"), "machine": machine(), "versions": versions(),
            "settings": settings.describe(), "contenders": {c.name: c.label for c in runners},
            "missing": missing, "reference": "kubectl", "notes": []}
    log("load average at start: %s" % " ".join("%.2f" % x for x in meta["machine"]["loadavg_start"]))
    records = []
    t0 = time.monotonic()
    try:
        phases = args.phases.split(",")
        if "single" in phases:
            single_cluster(settings, runners, records, meta["notes"])
        if "fleet" in phases:
            fleet.run(settings, runners, records, meta["notes"], measure, lambda c: fleet_subject(c, settings), log,
                      rotated)
        if "gates" in phases:
            gate_overhead(settings, workdir, records, meta["notes"])
        if "peers" in phases:
            # Imported here: bench.peers builds on this module.
            from bench import peers  # pylint: disable=import-outside-toplevel

            peers.peers(settings, workdir, records, meta["notes"], meta)
        if "sagemaker" in phases:
            sagemaker.phase(settings.smoke, records, meta, args.reps)
        if "regimes" in phases:
            from bench import regimes  # pylint: disable=import-outside-toplevel

            regimes.regimes(settings, runners, records, meta["notes"])
    finally:
        meta["machine"]["loadavg_end"] = list(os.getloadavg())
        meta["duration_s"] = round(time.monotonic() - t0, 1)
        stem = args.name or started.strftime("%Y-%m-%d") + ("-smoke" if args.smoke else "")
        if args.append:
            meta, records = report.appended(args.append, meta, records)
            args.out, stem = os.path.dirname(args.append), os.path.basename(args.append)[:-len(".json")]
        paths = report.write(args.out, stem, meta, records, plots=not args.no_plots)
        log("wrote %s" % ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
