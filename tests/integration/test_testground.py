"""The test ground itself: what Kubernetes really does on it.

Every later claim (waits, fail-fast, rollback, capacity) rests on these facts,
so each test asserts what the real controllers did, read back from the API.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.integration.conftest import (
    deployment_manifest,
    deployment_ready,
    ready_endpoints,
    service_manifest,
    wait_for,
)
from tests.helpers.witness import Witness
from testground import cluster as tgcluster
from testground.process import free_port


def _pods(k8s, ns, selector):
    return k8s.core.list_namespaced_pod(ns, label_selector=selector).items


def _waiting_reasons(pod):
    return [cs.state.waiting.reason for cs in pod.status.container_statuses or [] if cs.state and cs.state.waiting]


def test_rolling_update_via_kubectl_completes_and_old_pods_go(tg, k8s, namespace):
    k8s.apps.create_namespaced_deployment(namespace, deployment_manifest("web", "repo/model:v1"))
    k8s.core.create_namespaced_service(namespace, service_manifest("web"))
    wait_for(lambda: deployment_ready(k8s, namespace, "web", "repo/model:v1"), 60, "web on v1")
    old_hash = {p.metadata.labels["pod-template-hash"] for p in _pods(k8s, namespace, "app=web")}
    assert len(old_hash) == 1
    # The EndpointSlice controller may mark the last v1 pod ready after the Deployment says available.
    wait_for(lambda: ready_endpoints(k8s, namespace, "web") == 3, 60, "3 ready endpoints on v1")

    # New pods take 3 s to be Ready, so the controller's one unavailable pod is a dip that lasts.
    patch = json.dumps({"spec": {"template": {
        "metadata": {"annotations": {"testground.modelops.serving/ready-delay": "3s"}},
        "spec": {"containers": [{"name": "server", "image": "repo/model:v2"}]}}}})
    with Witness(k8s, namespace) as witness:
        tg.kubectl("-n", namespace, "patch", "deployment/web", "-p", patch)
        out = tg.kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=120s")
        witness.catch_up(lambda s: s.serving_images("web") == {"repo/model:v2": 3})
    assert 'deployment "web" successfully rolled out' in out.stdout

    d = k8s.apps.read_namespaced_deployment("web", namespace)
    assert d.spec.template.spec.containers[0].image == "repo/model:v2"
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    # Old pods are gone for real (kwok deletes them once the controller asks).
    wait_for(lambda: all(p.metadata.labels["pod-template-hash"] not in old_hash
                         for p in _pods(k8s, namespace, "app=web")), 30, "old pods deleted")
    pods = _pods(k8s, namespace, "app=web")
    assert len(pods) == 3
    assert {p.spec.containers[0].image for p in pods} == {"repo/model:v2"}
    # EndpointSlices follow readiness: exactly replicas - maxUnavailable ready at the lowest (the
    # witness sees the dip the controller is allowed, and nothing deeper).
    assert witness.floor("web") == 2, witness.ready_counts("web")
    assert witness.mixes("web")[0] == {"repo/model:v1": 3}
    wait_for(lambda: ready_endpoints(k8s, namespace, "web") == 3, 30, "3 ready endpoints")


def test_broken_image_stalls_until_progress_deadline_exceeded(tg, k8s, namespace):
    k8s.apps.create_namespaced_deployment(
        namespace, deployment_manifest("web", "repo/model:v1", progress_deadline=8))
    wait_for(lambda: deployment_ready(k8s, namespace, "web", "repo/model:v1"), 60, "web on v1")
    tg.kubectl("-n", namespace, "set", "image", "deployment/web", "server=repo/model:broken")

    def deadline_exceeded():
        d = k8s.apps.read_namespaced_deployment("web", namespace)
        for c in d.status.conditions or []:
            if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded":
                return c
        return None

    cond = wait_for(deadline_exceeded, 60, "ProgressDeadlineExceeded")
    assert cond.status == "False"
    out = tg.kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=5s", check=False)
    assert out.returncode != 0
    assert "exceeded its progress deadline" in out.stderr
    broken = [p for p in _pods(k8s, namespace, "app=web") if p.spec.containers[0].image.endswith(":broken")]
    assert broken
    for p in broken:
        assert p.status.phase == "Running"
        assert [c.status for c in p.status.conditions if c.type == "Ready"] == ["False"]


def test_crash_image_crash_loops_with_rising_restarts(k8s, namespace):
    k8s.core.create_namespaced_pod(namespace, {
        "metadata": {"name": "crasher", "annotations": {"testground.modelops.serving/crash-interval": "1s"}},
        "spec": {"containers": [{"name": "server", "image": "repo/model:crash"},
                                {"name": "sidecar", "image": "repo/proxy:v1"}]},
    })

    def restarts():
        p = k8s.core.read_namespaced_pod("crasher", namespace)
        by_name = {cs.name: cs for cs in p.status.container_statuses or []}
        return by_name if "server" in by_name and by_name["server"].restart_count >= 3 else None

    statuses = wait_for(restarts, 30, "3 restarts")
    server = statuses["server"]
    assert server.state.waiting.reason == "CrashLoopBackOff"
    assert server.last_state.terminated.exit_code == 1
    assert server.ready is False
    # Only the crashing container crashes.
    assert statuses["sidecar"].restart_count == 0
    assert statuses["sidecar"].state.running is not None
    first = server.restart_count
    later = wait_for(lambda: k8s.core.read_namespaced_pod("crasher", namespace).status.container_statuses[0]
                     .restart_count > first, 15, "restart count to keep rising")
    assert later
    events = k8s.core.list_namespaced_event(namespace, field_selector="involvedObject.name=crasher").items
    assert any(e.reason == "BackOff" and e.type == "Warning" for e in events)


def test_pullfail_image_shows_errimagepull_then_backoff(k8s, namespace):
    k8s.core.create_namespaced_pod(namespace, {
        "metadata": {"name": "puller"},
        "spec": {"containers": [{"name": "server", "image": "repo/model:pullfail"}]},
    })
    seen = set()

    def both_seen():
        p = k8s.core.read_namespaced_pod("puller", namespace)
        seen.update(_waiting_reasons(p))
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    wait_for(both_seen, 30, "ErrImagePull and ImagePullBackOff", interval=0.1)
    p = k8s.core.read_namespaced_pod("puller", namespace)
    assert p.status.phase == "Pending"
    assert p.status.container_statuses[0].restart_count == 0
    assert "repo/model:pullfail" in (p.status.container_statuses[0].state.waiting.message or "")


def test_gpu_request_beyond_any_node_stays_pending_with_reason(k8s, namespace):
    k8s.core.create_namespaced_pod(namespace, {
        "metadata": {"name": "big-gpu"},
        "spec": {
            "containers": [{"name": "server", "image": "repo/llm:v1",
                            "resources": {"limits": {"nvidia.com/gpu": "2"}}}],
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    })

    def failed_scheduling():
        evs = k8s.core.list_namespaced_event(namespace, field_selector="involvedObject.name=big-gpu").items
        return [e for e in evs if e.reason == "FailedScheduling"]

    events = wait_for(failed_scheduling, 30, "FailedScheduling event")
    assert "Insufficient nvidia.com/gpu" in events[0].message
    p = k8s.core.read_namespaced_pod("big-gpu", namespace)
    assert p.status.phase == "Pending"
    assert p.spec.node_name is None
    cond = [c for c in p.status.conditions if c.type == "PodScheduled"][0]
    assert (cond.status, cond.reason) == ("False", "Unschedulable")


def test_gpu_request_that_fits_lands_on_the_gpu_node(k8s, namespace):
    k8s.core.create_namespaced_pod(namespace, {
        "metadata": {"name": "one-gpu"},
        "spec": {
            "containers": [{"name": "server", "image": "repo/llm:v1",
                            "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    })
    p = wait_for(lambda: _ready_pod(k8s, namespace, "one-gpu"), 30, "GPU pod Ready")
    assert p.spec.node_name == "gpu-0"


def _ready_pod(k8s, ns, name):
    p = k8s.core.read_namespaced_pod(name, ns)
    if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []):
        return p
    return None


def test_ready_delay_annotation_is_honoured(k8s, namespace):
    k8s.core.create_namespaced_pod(namespace, {
        "metadata": {"name": "slow", "annotations": {"testground.modelops.serving/ready-delay": "4s"}},
        "spec": {"containers": [{"name": "server", "image": "repo/model:v1"}]},
    })
    p = wait_for(lambda: _ready_pod(k8s, namespace, "slow"), 15, "slow pod Ready")
    ready = [c for c in p.status.conditions if c.type == "Ready"][0]
    # kwok's own timestamps, not this test's clock: Ready came at least the delay after the start.
    assert (ready.last_transition_time - p.status.start_time).total_seconds() >= 3


def _pod_state(k8s, ns, name):
    p = k8s.core.read_namespaced_pod(name, ns)
    ready = [c.status for c in p.status.conditions or [] if c.type == "Ready"]
    restarts = [cs.restart_count for cs in p.status.container_statuses or []]
    return p.status.phase, (ready or [None])[0], restarts


def _annotate(k8s, ns, name, **values):
    k8s.core.patch_namespaced_pod(name, ns, {"metadata": {"annotations": {
        "testground.modelops.serving/" + k: v for k, v in values.items()}}})


def test_a_test_holds_readiness_and_restarts_a_pod_by_annotation(k8s, namespace):
    k8s.core.create_namespaced_pod(namespace, {
        "metadata": {"name": "held", "annotations": {"testground.modelops.serving/ready": "false"}},
        "spec": {"containers": [{"name": "server", "image": "repo/model:v1"}]},
    })
    # Held: running, not Ready, for as long as the annotation stays.
    wait_for(lambda: _pod_state(k8s, namespace, "held") == ("Running", "False", [0]), 30, "held pod running")
    _annotate(k8s, namespace, "held", ready="true")
    wait_for(lambda: _pod_state(k8s, namespace, "held") == ("Running", "True", [0]), 30, "released pod Ready")
    _annotate(k8s, namespace, "held", ready="false")
    wait_for(lambda: _pod_state(k8s, namespace, "held") == ("Running", "False", [0]), 30, "pod lost Ready")
    _annotate(k8s, namespace, "held", ready=None)
    wait_for(lambda: _pod_state(k8s, namespace, "held") == ("Running", "True", [0]), 30, "pod Ready again")
    _annotate(k8s, namespace, "held", restarts="2")
    wait_for(lambda: _pod_state(k8s, namespace, "held") == ("Running", "True", [2]), 30, "pod restarted twice")
    last = k8s.core.read_namespaced_pod("held", namespace).status.container_statuses[0].last_state.terminated
    assert (last.reason, last.exit_code) == ("Error", 1)


def test_pod_logs_and_port_forward_travel_through_the_apiserver(tg, k8s, namespace, tmp_path):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = b'{"ready": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        k8s.core.create_namespaced_pod(namespace, {
            "metadata": {"name": "model"},
            "spec": {"containers": [{"name": "server", "image": "repo/model:v1"}]},
        })
        wait_for(lambda: _ready_pod(k8s, namespace, "model"), 30, "pod Ready")
        logs = tg.kubectl("-n", namespace, "logs", "model").stdout
        assert "model loaded, serving on :8080" in logs

        k8s.custom.create_namespaced_custom_object("kwok.x-k8s.io", "v1alpha1", namespace, "portforwards", {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
            "metadata": {"name": "model", "namespace": namespace},
            "spec": {"forwards": [{"ports": [8080],
                                   "target": {"address": "127.0.0.1", "port": server.server_address[1]}}]},
        })
        local = free_port()
        pf = subprocess.Popen([tg._bin("kubectl"), "--kubeconfig", tg.kubeconfig, "-n", namespace,
                               "port-forward", "pod/model", "%d:8080" % local],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            import urllib.request

            def fetch():
                try:
                    return urllib.request.urlopen("http://127.0.0.1:%d/v2/health/ready" % local, timeout=2).read()
                except OSError:
                    return None

            assert wait_for(fetch, 20, "answer through port-forward") == b'{"ready": true}'
        finally:
            pf.terminate()
            pf.wait()
    finally:
        server.shutdown()


def test_three_clusters_run_at_once_and_are_independent():
    fleet = tgcluster.Fleet(["ind-a", "ind-b", "ind-c"], cpu_nodes=1, gpu_nodes=0)
    fleet.start()
    try:
        servers = {c.server for c in fleet}
        assert len(servers) == 3
        a, b, c = fleet.clusters
        a.kubectl("create", "namespace", "only-in-a")
        b.kubectl("create", "deployment", "web", "--image=repo/model:v1", "--replicas=2")
        assert a.kubectl("get", "namespace", "only-in-a", check=False).returncode == 0
        assert b.kubectl("get", "namespace", "only-in-a", check=False).returncode != 0
        assert c.kubectl("get", "namespace", "only-in-a", check=False).returncode != 0
        out = b.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert "successfully rolled out" in out.stdout
        assert "web" not in a.kubectl("get", "deployments", "-o", "name").stdout
        # Each context of the merged kubeconfig reaches its own cluster.
        for cl in fleet:
            out = subprocess.run([cl._bin("kubectl"), "--kubeconfig", fleet.kubeconfig, "--context", cl.context,
                                  "get", "nodes", "-o", "name"], capture_output=True, text=True, check=True)
            assert out.stdout.split() == ["node/cpu-0"]
        for cl in fleet:
            assert cl.ready_seconds is not None
    finally:
        fleet.stop()
    for cl in fleet:
        assert not any(comp.alive() for comp in cl.components.values())


def _processes_under(path):
    """Command lines of live processes that mention ``path`` (read from /proc, never truncated)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % pid) as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if path in args and not zombie and "-c" not in args.split()[1:2]:
            found.append(args)
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_runner_leaves_no_process_behind(tmp_path, sig):
    """A test run killed mid-way (even SIGKILL) takes its clusters down with it."""
    workdir = str(tmp_path / "killme")
    script = (
        "import sys, time\n"
        "from testground.cluster import Cluster\n"
        "c = Cluster('killme', workdir=%r, cpu_nodes=1, gpu_nodes=0)\n"
        "c.start()\n"
        "print('READY', flush=True)\n"
        "time.sleep(600)\n" % workdir
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tgcluster.REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 90
        while "READY" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "READY" in line, "cluster did not start: %s" % line
        running = _processes_under(workdir)
        names = " ".join(running)
        for binary in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
            assert binary in names
        os.kill(proc.pid, sig)
        proc.wait(30)
        wait_for(lambda: not _processes_under(workdir), 30, "no process left under %s" % workdir)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_cluster_whose_port_was_taken_starts_on_fresh_ports():
    """A program outside the test ground binds kwok's port first: the start is retried, not failed."""
    c = tgcluster.Cluster("squat", cpu_nodes=1, gpu_nodes=0)
    squatted = c.ports["kwok"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", squatted))
        squatter.listen()
        try:
            c.start()
            assert c.ports["kwok"] != squatted
            with open(c.components["kwok"].log_path) as f:
                assert "address already in use" in f.read()
            assert c.kubectl("get", "nodes", "-o", "name").stdout.split() == ["node/cpu-0"]
        finally:
            c.stop()
    assert not any(comp.alive() for comp in c.components.values())
