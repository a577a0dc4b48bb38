"""Start and stop real Kubernetes control planes on loopback, with kwok nodes.

Each cluster is etcd + kube-apiserver + kube-controller-manager +
kube-scheduler (the real ones, built by ``build.py``) and one kwok process that
plays the kubelet of every node: it moves pods through the stages in
``stages/`` and serves the kubelet API (port-forward, logs) to the
apiserver. Every cluster has its own PKI, ports, kubeconfig context and work
directory, so several run side by side independently.

Processes are started from the calling thread with a parent-death signal, so
a test run that is killed (even with SIGKILL) takes its clusters with it.
"""

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

from testground import build, certs
from testground.process import Process, ProcessError, free_port, release_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
STAGES_DIR = os.path.join(HERE, "stages")
ANNOTATION_PREFIX = "testground.modelops.serving/"
GPU_RESOURCE = "nvidia.com/gpu"


class TestgroundError(ProcessError):
    """A cluster did not come up; the message names the component and its log."""


def run_root():
    root = os.environ.get("MODELOPS_TESTGROUND_RUN_DIR") or os.path.join(REPO_ROOT, ".testground")
    os.makedirs(root, exist_ok=True)
    return root


class Cluster:
    """One test-ground cluster. Use ``Fleet`` to start several at once."""

    def __init__(self, name, workdir=None, cpu_nodes=2, gpu_nodes=1, gpus_per_node=1, bin_dir=None, eks=None):
        self.name = name
        # The EKS token webhook's settings (testground/eks_authenticator.py), or None for no webhook.
        self.eks = dict(eks, cluster_id=eks.get("cluster_id") or name) if eks else None
        self.bin_dir = bin_dir or build.bin_dir()
        self.workdir = workdir or tempfile.mkdtemp(prefix=name + "-", dir=run_root())
        self.log_dir = os.path.join(self.workdir, "logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.cpu_nodes = cpu_nodes
        self.gpu_nodes = gpu_nodes
        self.gpus_per_node = gpus_per_node
        self.ports = {}
        self.take_new_ports()
        self.pki = None
        self.components = {}
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")
        self.pod_log = os.path.join(self.workdir, "pod.log")
        self.started_at = None
        self.ready_seconds = None
        self._api = None

    PORT_NAMES = ("etcd", "etcd_peer", "apiserver", "cm", "scheduler", "kwok")

    def take_new_ports(self):
        for port in self.ports.values():
            release_port(port)
        self.ports = {k: free_port() for k in self.PORT_NAMES + (("eks_authn",) if self.eks else ())}

    def lost_a_port(self):
        """Whether a component died because something else bound its port first."""
        return any(not c.alive() and "address already in use" in c.output_of_this_start()
                   for c in self.components.values())

    # -- addresses -----------------------------------------------------------------------------
    @property
    def server(self):
        return "https://127.0.0.1:%d" % self.ports["apiserver"]

    @property
    def context(self):
        return self.name

    @property
    def eks_cluster_id(self):
        """The EKS cluster name tokens must be signed for (the webhook's cluster), or None."""
        return self.eks["cluster_id"] if self.eks else None

    def ca_data(self):
        """The cluster CA as EKS's DescribeCluster returns one: base64 of the PEM."""
        with open(self.pki["ca_crt"], "rb") as f:
            return base64.b64encode(f.read()).decode()

    def _bin(self, name):
        return os.path.join(self.bin_dir, name)

    # -- stages of start-up (Fleet runs each stage for all clusters before the next) ------------
    def prepare(self):
        self.started_at = time.monotonic()
        self.pki = certs.make_pki(os.path.join(self.workdir, "pki"))
        self._write_kubeconfig()
        if self.eks:
            self._write_eks_authenticator_files()
        write_cri_log(self.pod_log, ["model server starting", "loading model weights", "model loaded, serving on :8080"])

    def start_etcd(self):
        p = self.ports
        data = os.path.join(self.workdir, "etcd")
        self._start(
            "etcd",
            [
                self._bin("etcd"),
                "--name=testground",
                "--data-dir=" + data,
                "--listen-client-urls=http://127.0.0.1:%d" % p["etcd"],
                "--advertise-client-urls=http://127.0.0.1:%d" % p["etcd"],
                "--listen-peer-urls=http://127.0.0.1:%d" % p["etcd_peer"],
                "--initial-advertise-peer-urls=http://127.0.0.1:%d" % p["etcd_peer"],
                "--initial-cluster=testground=http://127.0.0.1:%d" % p["etcd_peer"],
                "--listen-metrics-urls=",
                # A test ground keeps nothing worth an fsync; this keeps 2 cores free for the controllers.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

    def wait_etcd(self, timeout=30):
        url = "http://127.0.0.1:%d/health" % self.ports["etcd"]
        self._wait("etcd", lambda: json.loads(urllib.request.urlopen(url, timeout=1).read()).get("health") == "true",
                   timeout)

    def start_apiserver(self):
        k = self.pki
        p = self.ports
        self._start(
            "kube-apiserver",
            [
                self._bin("kube-apiserver"),
                "--etcd-servers=http://127.0.0.1:%d" % p["etcd"],
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--secure-port=%d" % p["apiserver"],
                "--tls-cert-file=" + k["apiserver_crt"],
                "--tls-private-key-file=" + k["apiserver_key"],
                "--client-ca-file=" + k["ca_crt"],
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file=" + k["sa_pub"],
                "--service-account-signing-key-file=" + k["sa_key"],
                "--service-cluster-ip-range=10.96.0.0/16",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-client-certificate=" + k["apiserver-kubelet-client_crt"],
                "--kubelet-client-key=" + k["apiserver-kubelet-client_key"],
                "--profiling=false",
                "--v=1",
            ] + self._token_webhook_flags(),
        )

    def _token_webhook_flags(self):
        if not self.eks:
            return []
        # No webhook cache: a token is reviewed again whenever the apiserver's own success cache (10 s,
        # not a flag) has let it go, so an expired token is refused at the first review after its expiry.
        return ["--authentication-token-webhook-config-file=" + self._eks_path("webhook-kubeconfig"),
                "--authentication-token-webhook-cache-ttl=0s",
                "--authentication-token-webhook-version=v1"]

    def _eks_path(self, what):
        return os.path.join(self.workdir, "eks-authenticator-" + what)

    def _write_eks_authenticator_files(self):
        from testground import eks_authenticator

        config = dict(self.eks)
        config.setdefault("access_entries", dict((arn, [eks_authenticator.ADMIN_GROUP])
                                                 for arn in set(k["arn"] for k in config["access_keys"].values())))
        with open(self._eks_path("config"), "w") as f:
            json.dump(config, f)
        os.chmod(self._eks_path("config"), 0o600)
        with open(self._eks_path("webhook-kubeconfig"), "w") as f:
            yaml.safe_dump(eks_authenticator.apiserver_kubeconfig(self.ports["eks_authn"], self.pki["ca_crt"]), f)

    def start_eks_authenticator(self):
        if not self.eks:
            return
        self._start("eks-authenticator",
                    [sys.executable, "-m", "testground.eks_authenticator", "--port", str(self.ports["eks_authn"]),
                     "--cert", self.pki["eks-authenticator_crt"], "--key", self.pki["eks-authenticator_key"],
                     "--config", self._eks_path("config")],
                    env=dict(os.environ, PYTHONPATH=REPO_ROOT))

    def wait_eks_authenticator(self, timeout=30):
        if self.eks:
            self._wait("EKS token webhook", lambda: self._get("/", port=self.ports["eks_authn"], auth=False) == 200,
                       timeout)

    def install_access_entries(self):
        """RBAC for the webhook's groups: an access entry with AmazonEKSClusterAdminPolicy is cluster-admin."""
        if not self.eks:
            return
        from testground import eks_authenticator

        self.kubectl("create", "clusterrolebinding", "eks-access-entry-cluster-admins", "--clusterrole=cluster-admin",
                     "--group=" + eks_authenticator.ADMIN_GROUP)

    # -- the EKS token webhook's record and settings ----------------------------------------------
    def eks_reviews(self):
        """The webhook's record: {tokens: {digest: {accepted, rejected, reasons, signed_at}}, reviews: [...]}."""
        return json.loads(self._get("/reviews", port=self.ports["eks_authn"], auth=False, body=True))

    def eks_settings(self, **changes):
        """Change the webhook's lifetime_seconds / skew_seconds; returns the settings in force."""
        if changes:
            return self._post_json("/settings", changes)
        return json.loads(self._get("/settings", port=self.ports["eks_authn"], auth=False, body=True))

    def eks_reset(self):
        return self._post_json("/reset", {})

    def _post_json(self, path, body):
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.ports["eks_authn"], path),
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self._ssl(auth=False, verify=True), timeout=10) as resp:
            return json.loads(resp.read())

    def wait_apiserver(self, timeout=60):
        self._wait("kube-apiserver", lambda: self._get("/readyz") == 200, timeout)

    def start_controllers(self):
        k = self.pki
        p = self.ports
        self._start(
            "kube-controller-manager",
            [
                self._bin("kube-controller-manager"),
                "--kubeconfig=" + self.kubeconfig,
                "--bind-address=127.0.0.1",
                "--secure-port=%d" % p["cm"],
                "--leader-elect=false",
                "--service-account-private-key-file=" + k["sa_key"],
                "--root-ca-file=" + k["ca_crt"],
                "--use-service-account-credentials=false",
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                "--v=1",
            ],
        )
        self._start(
            "kube-scheduler",
            [
                self._bin("kube-scheduler"),
                "--kubeconfig=" + self.kubeconfig,
                "--bind-address=127.0.0.1",
                "--secure-port=%d" % p["scheduler"],
                "--leader-elect=false",
                "--v=1",
            ],
        )

    def install_kwok_objects(self):
        """kwok's CRDs for port-forward and logs, the nodes, and the default pod log."""
        from kubernetes import client

        api = self.api()
        ext = client.ApiextensionsV1Api(api)
        for name in build.KWOK_CRDS:
            with open(os.path.join(build.kwok_crd_dir(), name + ".yaml")) as f:
                ext.create_custom_resource_definition(yaml.safe_load(f))
        core = client.CoreV1Api(api)
        for node in self.node_manifests():
            core.create_node(node)

    def node_manifests(self):
        nodes = []
        for i in range(self.cpu_nodes):
            nodes.append(self._node("cpu-%d" % i, "cpu", {"cpu": "32", "memory": "128Gi", "pods": "250"}, []))
        for i in range(self.gpu_nodes):
            nodes.append(
                self._node(
                    "gpu-%d" % i,
                    "gpu",
                    {"cpu": "16", "memory": "64Gi", "pods": "110", GPU_RESOURCE: str(self.gpus_per_node)},
                    [{"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}],
                    {"nvidia.com/gpu.present": "true", "node.kubernetes.io/instance-type": "g5.xlarge"},
                )
            )
        return nodes

    @staticmethod
    def _node(name, pool, capacity, taints, extra_labels=None):
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
            ANNOTATION_PREFIX + "pool": pool,
            "node.kubernetes.io/instance-type": "m5.8xlarge",
            "topology.kubernetes.io/zone": "zone-%s" % name[-1],
        }
        labels.update(extra_labels or {})
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {"taints": taints},
            "status": {"capacity": dict(capacity), "allocatable": dict(capacity)},
        }

    def start_kwok(self):
        k = self.pki
        p = self.ports
        env = dict(os.environ)
        # kwok reads ~/.kwok/kwok.yaml first if present; a private HOME keeps a stray one out.
        env["HOME"] = self.workdir
        self._start(
            "kwok",
            [
                self._bin("kwok"),
                "--kubeconfig=" + self.kubeconfig,
            ]
            + ["--config=" + os.path.join(STAGES_DIR, f) for f in sorted(os.listdir(STAGES_DIR)) if f.endswith(".yaml")]
            + [
                "--manage-all-nodes=true",
                "--node-ip=127.0.0.1",
                "--node-port=%d" % p["kwok"],
                "--server-address=127.0.0.1:%d" % p["kwok"],
                "--tls-cert-file=" + k["kubelet_crt"],
                "--tls-private-key-file=" + k["kubelet_key"],
                "--cidr=10.0.0.1/16",
                "--node-lease-duration-seconds=40",
                "--enable-crds=ClusterPortForward,PortForward,ClusterLogs,Logs",
            ],
            env=env,
        )

    def install_default_logs(self):
        """Every pod's container log, unless a test routes it elsewhere with a Logs object."""
        from kubernetes import client

        client.CustomObjectsApi(self.api()).create_cluster_custom_object(
            "kwok.x-k8s.io",
            "v1alpha1",
            "clusterlogs",
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": "default-pod-log"},
                "spec": {"logs": [{"containers": [], "logsFile": self.pod_log, "follow": False}]},
            },
        )

    def wait_ready(self, timeout=60):
        """Nodes Ready and the controller-manager at work (default ServiceAccount exists)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core = client.CoreV1Api(self.api())
        want = self.cpu_nodes + self.gpu_nodes

        def ready():
            nodes = core.list_node().items
            ok = [n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
            if len(ok) < want:
                return False
            try:
                core.read_namespaced_service_account("default", "default")
            except ApiException:
                return False
            return self._get("/healthz", port=self.ports["scheduler"], auth=False) == 200

        self._wait("cluster %s" % self.name, ready, timeout)
        self.ready_seconds = time.monotonic() - self.started_at

    # -- whole-cluster operations ---------------------------------------------------------------
    def start(self):
        Fleet.start_clusters([self])
        return self

    def stop(self):
        for name in ("admission", "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver",
                     "eks-authenticator", "etcd"):
            comp = self.components.get(name)
            if comp:
                comp.stop()
        for port in self.ports.values():
            release_port(port)
        self._api = None
        shutil.rmtree(os.path.join(self.workdir, "etcd"), ignore_errors=True)

    def kill_apiserver(self):
        """Kill kube-apiserver hard (SIGKILL), as a crash would."""
        self.components["kube-apiserver"].kill()
        self._api = None

    def restart_apiserver(self, down_seconds=0.0):
        self.kill_apiserver()
        if down_seconds:
            time.sleep(down_seconds)
        self.start_apiserver()
        self.wait_apiserver()

    def api(self):
        """A kubernetes.client ApiClient for this cluster (admin)."""
        if self._api is None:
            from kubernetes import config

            self._api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
        return self._api

    def admission(self):
        """Start the denying admission webhook (testground/admission.py) once, registered with the apiserver.

        Returns the namespace label (key, value) that sends a namespace's pod creates through it.
        """
        from testground import admission

        if "admission" not in self.components or not self.components["admission"].alive():
            port = free_port()
            self._start("admission", [sys.executable, "-m", "testground.admission", "--port", str(port),
                                      "--cert", self.pki["admission_crt"], "--key", self.pki["admission_key"]],
                        env=dict(os.environ, PYTHONPATH=REPO_ROOT))
            self._wait("admission webhook", lambda: self._get("/", port=port, auth=False) == 200, 30)
            with open(self.pki["ca_crt"], "rb") as f:
                ca = base64.b64encode(f.read()).decode()
            self.kubectl("apply", "-f", "-", input=json.dumps(admission.webhook_configuration(port, ca)))
        return admission.NAMESPACE_LABEL, "deny"

    def kubectl(self, *args, check=True, timeout=120, input=None):
        cmd = [self._bin("kubectl"), "--kubeconfig", self.kubeconfig, "--context", self.context] + list(args)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, check=False)
        if check and out.returncode != 0:
            raise subprocess.CalledProcessError(out.returncode, cmd, out.stdout, out.stderr)
        return out

    def metrics(self):
        """kube-apiserver's own Prometheus metrics, as text."""
        return self._get("/metrics", body=True)

    def describe(self):
        return {
            "name": self.name,
            "context": self.context,
            "server": self.server,
            "kubeconfig": self.kubeconfig,
            "workdir": self.workdir,
            "logs": {n: c.log_path for n, c in self.components.items()},
            "pids": {n: c.proc.pid for n, c in self.components.items() if c.alive()},
            "ready_seconds": self.ready_seconds,
            "eks": ({"cluster_name": self.eks_cluster_id, "webhook": "https://127.0.0.1:%d" % self.ports["eks_authn"],
                     "lifetime_seconds": self.eks.get("lifetime_seconds")} if self.eks else None),
        }

    # -- helpers --------------------------------------------------------------------------------
    def _start(self, name, argv, env=None):
        comp = Process(name, argv, os.path.join(self.log_dir, name + ".log"), env=env)
        self.components[name] = comp
        comp.start()

    def _wait(self, what, predicate, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for comp in self.components.values():
                comp.check_alive()
            try:
                if predicate():
                    return
            except Exception as exc:  # not up yet: connection refused, 503, ...
                last = exc
            time.sleep(0.1)
        logs = "\n".join("--- %s (%s)\n%s" % (c.name, c.log_path, c.tail(10)) for c in self.components.values())
        raise TestgroundError("%s not ready after %ss (last error: %s)\n%s" % (what, timeout, last, logs))

    def _ssl(self, auth=True, verify=False):
        ctx = ssl.create_default_context(cafile=self.pki["ca_crt"])
        if auth:
            ctx.load_cert_chain(self.pki["admin_crt"], self.pki["admin_key"])
        elif verify:
            pass  # a server with a certificate of the cluster's CA (the EKS token webhook)
        else:
            # kube-scheduler serves /healthz with a self-signed certificate of its own.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _get(self, path, port=None, auth=True, body=False):
        url = "https://127.0.0.1:%d%s" % (port or self.ports["apiserver"], path)
        try:
            with urllib.request.urlopen(url, context=self._ssl(auth), timeout=10 if body else 2) as resp:
                return resp.read().decode() if body else resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def _write_kubeconfig(self):
        write_kubeconfig(self.kubeconfig, [self])

    def kubeconfig_entry(self):
        def b64(path):
            with open(path, "rb") as f:
                return base64.b64encode(f.read()).decode()

        return (
            {"name": self.name, "cluster": {"server": self.server, "certificate-authority-data": b64(self.pki["ca_crt"])}},
            {"name": self.name + "-admin",
             "user": {"client-certificate-data": b64(self.pki["admin_crt"]), "client-key-data": b64(self.pki["admin_key"])}},
            {"name": self.context, "context": {"cluster": self.name, "user": self.name + "-admin", "namespace": "default"}},
        )


def write_cri_log(path, lines):
    """Write container log lines in the CRI format kwok serves (``<time> stdout F <line>``)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
    with open(path, "w") as f:
        for line in lines:
            f.write("%s stdout F %s\n" % (stamp, line))


def write_kubeconfig(path, clusters):
    doc = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": [],
           "current-context": clusters[0].context, "preferences": {}}
    for c in clusters:
        cl, user, ctx = c.kubeconfig_entry()
        doc["clusters"].append(cl)
        doc["users"].append(user)
        doc["contexts"].append(ctx)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Fleet:
    """Several independent clusters, started together, with one merged kubeconfig."""

    def __init__(self, names, workdir=None, **cluster_args):
        self.workdir = workdir or tempfile.mkdtemp(prefix="fleet-", dir=run_root())
        self.clusters = [Cluster(n, workdir=os.path.join(self.workdir, n), **cluster_args) for n in names]
        for c in self.clusters:
            os.makedirs(c.workdir, exist_ok=True)
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")

    def __getitem__(self, name):
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def __iter__(self):
        return iter(self.clusters)

    def __len__(self):
        return len(self.clusters)

    # Reserved ports make a lost port rare (only a program outside the test ground can take one);
    # a start that still loses one is retried whole, on fresh ports, rather than failing a test.
    PORT_ATTEMPTS = 3

    @classmethod
    def start_clusters(cls, clusters):
        """Bring clusters up stage by stage, so their slow parts overlap."""
        build.ensure()
        for attempt in range(1, cls.PORT_ATTEMPTS + 1):
            try:
                cls._start_stages(clusters)
                return
            except BaseException as exc:
                lost = isinstance(exc, ProcessError) and any(c.lost_a_port() for c in clusters)
                for c in clusters:
                    c.stop()
                if not lost or attempt == cls.PORT_ATTEMPTS:
                    raise
                for c in clusters:
                    c.take_new_ports()
                    c.components = {}

    @staticmethod
    def _start_stages(clusters):
        for c in clusters:
            c.prepare()
            c.start_etcd()
            c.start_eks_authenticator()
        for c in clusters:
            c.wait_etcd()
            c.wait_eks_authenticator()
            c.start_apiserver()
        for c in clusters:
            c.wait_apiserver()
            c.start_controllers()
            c.install_kwok_objects()
            c.start_kwok()
        for c in clusters:
            c.wait_ready()
            c.install_default_logs()
            c.install_access_entries()

    def start(self):
        self.start_clusters(self.clusters)
        write_kubeconfig(self.kubeconfig, self.clusters)
        return self

    def stop(self):
        for c in self.clusters:
            c.stop()

    def describe(self):
        return {"kubeconfig": self.kubeconfig, "clusters": [c.describe() for c in self.clusters]}
