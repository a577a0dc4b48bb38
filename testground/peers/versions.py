"""Pinned releases of the peer controllers the benchmark measures model_rollout against.

Each peer has a cache directory of its own, keyed by its release and the Go toolchain that builds
it, beside (never inside) the Kubernetes build's, so a new Argo Rollouts release never rebuilds
Kubernetes and the everyday test run never builds a peer.

Argo Rollouts: v1.10.2 is the newest release the module proxy serves. Its go.mod declares
``go 1.26.10``, newer than the machine's Go 1.26.8, so it builds with the approved go1.27.3
toolchain, set in the build step's environment only (GOTOOLCHAIN), never globally. v1.10.1 and
v1.10.0 declare go 1.26.1 and would build with the local Go, with the same Kubernetes 0.34.5
client libraries; the newest release is the one users install, so that is the one measured.

Flagger: v1.36.1 is the only release the module proxy serves; it declares go 1.21 and builds
with the local Go.
"""

ARGO_ROLLOUTS = "v1.10.2"
ARGO_ROLLOUTS_TOOLCHAIN = "go1.27.3"
FLAGGER = "v1.36.1"
FLAGGER_TOOLCHAIN = "local"


def cache_key(peer, version, toolchain):
    return "%s-%s_go-%s" % (peer, version, toolchain)
