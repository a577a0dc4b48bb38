"""Pinned versions of everything the test ground builds.

One place, so that the cache key, the build and the docs agree. Changing a
version here changes the cache directory, so old binaries are never reused by
mistake.
"""

KUBERNETES = "v1.34.4"
# Staging modules (k8s.io/api, client-go, ...) are published as v0.X.Y for
# Kubernetes v1.X.Y.
KUBERNETES_STAGING = "v0." + KUBERNETES.split(".", 1)[1]
# The etcd server release that Kubernetes 1.34 itself requires in its go.mod.
ETCD = "v3.6.4"
# kwok v0.8.0 pins k8s.io/* v0.36 and needs Go 1.26, so it builds in a module
# of its own, never mixed with the Kubernetes build.
KWOK = "v0.8.0"

KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
)
ALL_BINARIES = KUBERNETES_COMMANDS + ("etcd", "kwok")


def cache_key():
    return "k8s-%s_etcd-%s_kwok-%s" % (KUBERNETES, ETCD, KWOK)
