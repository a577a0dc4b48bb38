"""Each pod's port-forward to a server of its own: kwok PortForward objects, one per pod, proven before use.

``PodRoutes(k8s, namespace, choose)`` watches the namespace's pods for the whole of a ``with``
block. A pod the test ground holds not Ready (template annotation
``testground.modelops.serving/ready: "false"``) gets a ``PodServer`` of the behaviour
``choose(image, index)`` names (index: how many pods of that image came before), a kwok PortForward (named after the pod) from its port 8080 to that
server, a request through the API server's real port-forward that must reach *that* server, and
only then its Ready. So no gate can ask a pod before its route stands, on any machine.
"""

import json
import ssl
import threading

from kubernetes import client, watch
from kubernetes.stream import portforward

from testground.modelserver.pods import WHOAMI, PodServer
from tests.helpers.kube import wait_for

HELD = {"testground.modelops.serving/ready": "false"}
PORT = 8080


def whoami(core, namespace, pod, tls=False):
    """The name the pod's port 8080 answers with, through the API server's port-forward (or None).

    With ``tls`` the request goes over TLS inside the forward (the certificate is not checked here:
    only which server answers).

    ``core`` must be a CoreV1Api on an ApiClient of its own: the kubernetes client's stream helpers
    swap the ApiClient's ``request`` while they run, which would break other threads' calls.
    """
    try:
        pf = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(PORT))
        sock = pf.socket(PORT)
        sock.settimeout(5)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        sock.sendall(("GET %s HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n" % WHOAMI).encode())
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                break
        sock.close()
        pf.close()
        return json.loads(data.split(b"\r\n\r\n", 1)[1]).get("name")
    except Exception:  # pylint: disable=broad-exception-caught  # not routed yet: kwok has not seen it
        return None


class PodRoutes:
    """Routes every held pod of ``namespace`` to its own server, then releases it.

    ``tls`` ({"crt", "key"} paths) makes every server speak HTTPS only.
    """

    def __init__(self, k8s, namespace, choose, tls=None):
        self.k8s = k8s
        self.namespace = namespace
        self.choose = choose
        self.tls = tls
        self.servers = {}       # pod name -> PodServer
        self.order = []         # pod names in the order they were routed
        self.images = {}        # pod name -> image
        self._stop = threading.Event()
        self._thread = None
        self._errors = []
        self._forward_core = client.CoreV1Api(client.ApiClient(configuration=k8s.raw.configuration))

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(15)
        for name, server in self.servers.items():
            server.stop()
            try:
                self.k8s.custom.delete_namespaced_custom_object("kwok.x-k8s.io", "v1alpha1", self.namespace,
                                                                "portforwards", name)
            except Exception:  # pylint: disable=broad-exception-caught  # the namespace may be gone already
                pass
        assert not self._errors, self._errors

    def _run(self):
        rv = None
        while not self._stop.is_set():
            try:
                kwargs = {"timeout_seconds": 2}
                if rv:
                    kwargs["resource_version"] = rv
                for event in watch.Watch().stream(self.k8s.core.list_namespaced_pod, self.namespace, **kwargs):
                    pod = event["object"]
                    rv = pod.metadata.resource_version
                    if event["type"] != "DELETED" and self._held(pod) and pod.metadata.name not in self.servers:
                        self._route(pod)
                    if self._stop.is_set():
                        break
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self._errors.append("routing pods of %s: %r" % (self.namespace, exc))
                return

    @staticmethod
    def _held(pod):
        return (pod.metadata.annotations or {}).get("testground.modelops.serving/ready") == "false" \
            and pod.metadata.deletion_timestamp is None

    def _route(self, pod):
        name = pod.metadata.name
        image = pod.spec.containers[0].image
        index = sum(1 for n in self.order if self.images[n] == image)
        self.images[name] = image
        server = PodServer(name, self.choose(image, index), tls=self.tls).start()
        self.servers[name] = server
        self.order.append(name)
        self.k8s.custom.create_namespaced_custom_object("kwok.x-k8s.io", "v1alpha1", self.namespace, "portforwards", {
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"forwards": [{"ports": [PORT], "target": {"address": "127.0.0.1", "port": server.port}}]},
        })
        if server.behaviour != "down":
            wait_for(lambda: whoami(self._forward_core, self.namespace, name, tls=bool(self.tls)) == name, 30,
                     "the route of pod %s" % name)
        self.k8s.core.patch_namespaced_pod(name, self.namespace, {"metadata": {"annotations": {
            "testground.modelops.serving/ready": "true"}}})

    # -- answers ----------------------------------------------------------------------------------
    def asked(self, path_part=""):
        """{pod: number of requests whose path contains ``path_part``}, for every routed pod."""
        return {name: len(server.asked(path_part)) for name, server in self.servers.items()}
