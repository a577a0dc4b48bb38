"""Build the peer controllers (Argo Rollouts, Flagger) from the Go module proxy, once per release.

Each peer is built as its own main module: its source comes from the module proxy
(``go mod download``), is copied into the peer's cache directory and built there, so the
release's own go.mod, replace lines and go.sum apply exactly as in the project's own build.
Nothing built or downloaded here is ever written inside the repository, and nothing here runs
unless asked: only the benchmark's ``peers`` phase and its smoke test call ``ensure``.

One change is made to the copied source before it is built, the same for both peers: the
address their metrics and health servers listen on. Argo Rollouts hard-codes ``0.0.0.0`` (a
constant, so no flag or link-time setting reaches it) and Flagger prepends ``:`` to its ``-port``
flag; on the test ground every server listens on 127.0.0.1 only, so the literal is rewritten to
127.0.0.1. The build fails, naming the file, if a release no longer has the literal.

Usage: python -m testground.peers.build [--only argo-rollouts|flagger] [--force]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from testground import build as tgbuild
from testground import versions as tgversions
from testground.peers import versions

BuildError = tgbuild.BuildError


class Peer:
    """One peer release: where its source comes from, what to build, which CRDs to keep."""

    def __init__(self, name, module, version, toolchain, commands, crds, loopback, ldflags_x=None):
        self.name = name
        self.module = module
        self.version = version
        self.toolchain = toolchain
        self.commands = commands          # binary name -> package inside the module
        self.crds = crds                  # paths inside the module
        self.loopback = loopback          # (path inside the module, literal, replacement)
        self.ldflags_x = ldflags_x or {}

    @property
    def root(self):
        return os.path.join(_cache_base(), versions.cache_key(self.name, self.version, self.toolchain))

    def binary(self, command):
        return os.path.join(self.root, "bin", command)

    @property
    def crd_dir(self):
        return os.path.join(self.root, "crds")

    def crd_files(self):
        return [os.path.join(self.crd_dir, os.path.basename(p)) for p in self.crds]

    def missing(self):
        """What of this peer is not built yet (binaries and CRDs), by name."""
        out = [c for c in self.commands if not _usable(self.binary(c))]
        if not all(os.path.isfile(p) for p in self.crd_files()):
            out.append("CRDs")
        return out

    def env(self):
        env = tgbuild._go_env()  # pylint: disable=protected-access
        # The toolchain a release declares it needs, for this build only; "local" is the machine's Go.
        env["GOTOOLCHAIN"] = self.toolchain
        return env


def _cache_base():
    root = os.environ.get("MODELOPS_TESTGROUND_CACHE")
    if not root:
        root = os.path.join(os.path.expanduser("~"), ".cache", "modelops-serving", "testground")
    return root


def _usable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK) and os.path.isfile(path + ".ok")


ARGO_MODULE = "github.com/argoproj/argo-rollouts"
PEERS = {
    "argo-rollouts": Peer(
        "argo-rollouts", ARGO_MODULE, versions.ARGO_ROLLOUTS, versions.ARGO_ROLLOUTS_TOOLCHAIN,
        {"rollouts-controller": "./cmd/rollouts-controller", "kubectl-argo-rollouts": "./cmd/kubectl-argo-rollouts"},
        ["manifests/crds/%s-crd.yaml" % k for k in
         ("rollout", "analysis-template", "cluster-analysis-template", "analysis-run", "experiment")],
        [("controller/controller.go", '"0.0.0.0:%d"', '"127.0.0.1:%d"')],
        {ARGO_MODULE + "/utils/version.version": versions.ARGO_ROLLOUTS.lstrip("v")},
    ),
    "flagger": Peer(
        "flagger", "github.com/fluxcd/flagger", versions.FLAGGER, versions.FLAGGER_TOOLCHAIN,
        {"flagger": "./cmd/flagger"},
        ["artifacts/flagger/crd.yaml"],
        [("pkg/server/server.go", '":" + port', '"127.0.0.1:" + port')],
    ),
}


def peer(name):
    return PEERS[name]


# -- a kube-apiserver that says which release it is -------------------------------------------------
# The test ground builds Kubernetes without the version stamp of Kubernetes' own release build, so
# its apiserver reports v0.0.0-master+$Format:%H$. Flagger refuses to start against a version that
# is not semantic ("Error parsing kubernetes version"). The peers' cluster therefore runs the same
# kube-apiserver, from the same builder module and build cache, linked with the release's version
# stamp; every other binary is the test ground's own.
STAMPED = "kube-apiserver"


def stamped_root():
    return os.path.join(_cache_base(), "%s-%s-stamped" % (STAMPED, tgversions.KUBERNETES))


def cluster_bin_dir():
    """A bin directory for a peers cluster: the stamped kube-apiserver, the test ground's others."""
    return os.path.join(stamped_root(), "bin")


def _stamp_ldflags():
    major, minor = tgversions.KUBERNETES.lstrip("v").split(".")[:2]
    stamp = {"gitVersion": tgversions.KUBERNETES, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += ["-X %s.%s=%s" % (package, k, v) for k, v in sorted(stamp.items())]
    return " ".join(flags)


def _stamped_missing():
    bins = cluster_bin_dir()
    return not (_usable(os.path.join(bins, STAMPED))
                and all(os.path.exists(os.path.join(bins, n)) for n in tgversions.ALL_BINARIES))


def build_stamped_apiserver():
    src = os.path.join(tgbuild.cache_root(), "src", "kubernetes")
    if not os.path.isfile(os.path.join(src, "go.mod")):
        raise BuildError("the test ground's Kubernetes builder module %s is missing; run `python -m testground build`"
                         % src)
    bins = cluster_bin_dir()
    os.makedirs(bins, exist_ok=True)
    logs = os.path.join(stamped_root(), "logs")
    os.makedirs(logs, exist_ok=True)
    # Same flags as the test ground's build, so the compiled packages come from the build cache.
    tgbuild._run(  # pylint: disable=protected-access
        "link %s with the version stamp %s" % (STAMPED, tgversions.KUBERNETES),
        ["nice", "-n", "10", "go", "build", "-trimpath", "-ldflags=" + _stamp_ldflags(), "-o",
         os.path.join(bins, STAMPED), "k8s.io/kubernetes/cmd/" + STAMPED],
        src, os.path.join(logs, "build.log"))
    tgbuild._mark(os.path.join(bins, STAMPED))  # pylint: disable=protected-access
    for name in tgversions.ALL_BINARIES:
        link = os.path.join(bins, name)
        if name != STAMPED and not os.path.exists(link):
            os.symlink(tgbuild.binary(name), link)
    return bins


def missing(names=None):
    """{peer: [what is missing]} for the peers not fully built (and the stamped kube-apiserver)."""
    out = {}
    for name in names or PEERS:
        gone = PEERS[name].missing()
        if gone:
            out[name] = gone
    if _stamped_missing():
        out[STAMPED] = ["version-stamped build"]
    return out


def _say(msg):
    print("[testground peers build] %s" % msg, flush=True)


def _download(p, log_path):
    """The release's source directory in the module cache (downloaded from the proxy if missing)."""
    out = subprocess.run(["go", "mod", "download", "-json", "%s@%s" % (p.module, p.version)],
                         cwd=p.root, env=p.env(), capture_output=True, text=True, check=False)
    with open(log_path, "a") as log:
        log.write(out.stdout + out.stderr)
    try:
        info = json.loads(out.stdout)
    except ValueError:
        info = {}
    if out.returncode != 0 or info.get("Error") or not info.get("Dir"):
        raise BuildError("downloading %s@%s failed: %s (log: %s)"
                         % (p.module, p.version, info.get("Error") or out.stderr.strip(), log_path))
    return info["Dir"]


def _copy_source(p, module_dir):
    src = os.path.join(p.root, "src")
    if os.path.isdir(src):
        shutil.rmtree(src)
    shutil.copytree(module_dir, src)
    # The module cache is read-only; the copy is built and patched in place.
    for base, dirs, files in os.walk(src):
        for n in dirs + files:
            os.chmod(os.path.join(base, n), 0o755 if n in dirs else 0o644)
    return src


def _listen_on_loopback(p, src):
    for rel, literal, replacement in p.loopback:
        path = os.path.join(src, rel)
        with open(path) as f:
            text = f.read()
        if text.count(literal) != 1:
            raise BuildError("%s %s: expected the listen address %r once in %s, found it %d times; "
                             "the loopback rewrite needs updating for this release"
                             % (p.name, p.version, literal, rel, text.count(literal)))
        with open(path, "w") as f:
            f.write(text.replace(literal, replacement))


def _keep_crds(p, src):
    os.makedirs(p.crd_dir, exist_ok=True)
    for rel in p.crds:
        path = os.path.join(src, rel)
        if not os.path.isfile(path):
            raise BuildError("%s %s has no CRD file %s" % (p.name, p.version, rel))
        shutil.copyfile(path, os.path.join(p.crd_dir, os.path.basename(rel)))


def build_peer(p):
    os.makedirs(os.path.join(p.root, "bin"), exist_ok=True)
    logs = os.path.join(p.root, "logs")
    os.makedirs(logs, exist_ok=True)
    log_path = os.path.join(logs, "build.log")
    started = time.monotonic()
    _say("building %s %s (%s) into %s; first time only, several minutes per binary on 2 cores"
         % (p.name, p.version, ", ".join(p.commands), p.root))
    src = _copy_source(p, _download(p, log_path))
    _listen_on_loopback(p, src)
    _keep_crds(p, src)
    ldflags = " ".join(["-s", "-w"] + ["-X %s=%s" % kv for kv in sorted(p.ldflags_x.items())])
    for i, (name, package) in enumerate(sorted(p.commands.items()), 1):
        # nice: the machine's other work (control planes, colleagues' tests) goes first.
        tgbuild._run(  # pylint: disable=protected-access
            "build %s %s (%d/%d)" % (p.name, name, i, len(p.commands)),
            ["nice", "-n", "10", "go", "build", "-trimpath", "-ldflags=" + ldflags, "-o", p.binary(name), package],
            src, log_path, env=p.env())
        tgbuild._mark(p.binary(name))  # pylint: disable=protected-access
    _say("%s %s built in %.0fs" % (p.name, p.version, time.monotonic() - started))


def ensure(names=None, force=False):
    """Build whatever of the named peers (all by default) is missing."""
    if shutil.which("go") is None:
        raise BuildError("Go is not installed (the peers are built from the Go module proxy)")
    tgbuild.ensure()
    for name in names or PEERS:
        p = PEERS[name]
        if force or p.missing():
            build_peer(p)
    if force or _stamped_missing():
        build_stamped_apiserver()
    roots = {name: PEERS[name].root for name in names or PEERS}
    roots[STAMPED] = stamped_root()
    return roots


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(PEERS))
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    try:
        roots = ensure(args.only, force=args.force)
    except BuildError as exc:
        print("[testground peers build] FAILED: %s" % exc, file=sys.stderr)
        return 1
    for name, root in sorted(roots.items()):
        _say("%s ready in %s" % (name, root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
