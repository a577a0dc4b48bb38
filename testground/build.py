"""Build the test ground's binaries from the Go module proxy, once.

kube-apiserver, kube-controller-manager, kube-scheduler and kubectl come from
k8s.io/kubernetes; etcd from go.etcd.io/etcd/server/v3 at the release that
Kubernetes pins; kwok from sigs.k8s.io/kwok. Everything lands in a cache under
the home directory keyed by the versions in ``versions.py``; a second build is
a no-op. Nothing built here is ever written inside the repository.

k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, ...) at
v0.0.0 and only works inside its own tree thanks to ``replace`` lines. Built as
a dependency, the builder module needs a replace line for each of them to the
published v0.X.Y release; the list is generated from Kubernetes' own go.mod.

Usage: python -m testground.build [--force] [--only NAME ...]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from testground import versions


class BuildError(RuntimeError):
    """A build step failed; the message names the step and its log."""


def cache_root():
    root = os.environ.get("MODELOPS_TESTGROUND_CACHE")
    if not root:
        root = os.path.join(os.path.expanduser("~"), ".cache", "modelops-serving", "testground")
    return os.path.join(root, versions.cache_key())


def bin_dir():
    return os.path.join(cache_root(), "bin")


def binary(name):
    return os.path.join(bin_dir(), name)


def missing_binaries():
    return [n for n in versions.ALL_BINARIES if not _usable(binary(n))]


def _usable(path):
    if os.path.basename(path) == "kwok" and not os.path.isdir(kwok_crd_dir()):
        return False
    return os.path.isfile(path) and os.access(path, os.X_OK) and os.path.isfile(path + ".ok")


def _say(msg):
    print("[testground build] %s" % msg, flush=True)


def _go_env():
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env.setdefault("GOTOOLCHAIN", "local")
    # Keep the builder modules outside any workspace the user may have.
    env["GOWORK"] = "off"
    return env


def _run(step, cmd, cwd, log_path, env=None):
    """Run one build step, tell the user it is alive, keep its log."""
    started = time.monotonic()
    _say("%s: %s" % (step, " ".join(cmd)))
    with open(log_path, "ab") as log:
        log.write(("\n$ %s\n" % " ".join(cmd)).encode())
        log.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or _go_env(), stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def heartbeat():
            while not done.wait(30):
                _say("%s: still working, %ds elapsed (log: %s)" % (step, time.monotonic() - started, log_path))

        t = threading.Thread(target=heartbeat, daemon=True)
        t.start()
        try:
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            done.set()
    elapsed = time.monotonic() - started
    if rc != 0:
        tail = _tail(log_path, 30)
        raise BuildError(
            "step '%s' failed (exit %d after %.0fs). Log kept at %s; its last lines:\n%s"
            % (step, rc, elapsed, log_path, tail)
        )
    _say("%s: done in %.0fs" % (step, elapsed))


def _tail(path, n):
    with open(path, "rb") as f:
        lines = f.read().decode(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def _module_gomod(module, version, workdir, log_path):
    """Download a module's go.mod from the proxy and return its text."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", "%s@%s" % (module, version)],
        cwd=workdir,
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    with open(log_path, "a") as log:
        log.write(out.stdout + out.stderr)
    if out.returncode != 0:
        raise BuildError("downloading %s@%s failed; log kept at %s:\n%s" % (module, version, log_path, out.stderr))
    info = json.loads(out.stdout)
    with open(info["GoMod"]) as f:
        return f.read()


def staging_replaces(kubernetes_gomod, staging_version):
    """Replace lines for every k8s.io staging module Kubernetes requires at v0.0.0."""
    names = sorted(set(re.findall(r"^\s*(k8s\.io/[\w.\-/]+) v0\.0\.0\s*$", kubernetes_gomod, re.M)))
    return ["%s => %s %s" % (n, n, staging_version) for n in names]


def _fresh_module(path, name, log_path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    _run("init %s" % name, ["go", "mod", "init", name], path, log_path)


def _mark(path):
    with open(path + ".ok", "w") as f:
        f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def build_kubernetes(wanted, logs):
    src = os.path.join(cache_root(), "src", "kubernetes")
    log_path = os.path.join(logs, "kubernetes.log")
    _fresh_module(src, "modelops.serving/testground/kubernetes", log_path)
    gomod = _module_gomod("k8s.io/kubernetes", versions.KUBERNETES, src, log_path)
    replaces = staging_replaces(gomod, versions.KUBERNETES_STAGING)
    if not replaces:
        raise BuildError("no k8s.io staging modules found in k8s.io/kubernetes %s go.mod" % versions.KUBERNETES)
    with open(os.path.join(src, "go.mod"), "a") as f:
        f.write("\nreplace (\n%s\n)\n" % "\n".join("\t" + r for r in replaces))
    _run(
        "resolve k8s.io/kubernetes %s" % versions.KUBERNETES,
        ["go", "get", "k8s.io/kubernetes@" + versions.KUBERNETES, "go.etcd.io/etcd/server/v3@" + versions.ETCD],
        src,
        log_path,
    )
    packages = {n: "k8s.io/kubernetes/cmd/" + n for n in versions.KUBERNETES_COMMANDS}
    # etcd builds beside Kubernetes so that both use the dependency versions
    # Kubernetes was released and tested with.
    packages["etcd"] = "go.etcd.io/etcd/server/v3"
    for i, name in enumerate(wanted, 1):
        _run(
            "build %s (%d/%d)" % (name, i, len(wanted)),
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary(name), packages[name]],
            src,
            log_path,
        )
        _mark(binary(name))


def build_kwok(logs):
    src = os.path.join(cache_root(), "src", "kwok")
    log_path = os.path.join(logs, "kwok.log")
    _fresh_module(src, "modelops.serving/testground/kwok", log_path)
    _run("resolve sigs.k8s.io/kwok %s" % versions.KWOK, ["go", "get", "sigs.k8s.io/kwok@" + versions.KWOK], src, log_path)
    _run(
        "build kwok",
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary("kwok"), "sigs.k8s.io/kwok/cmd/kwok"],
        src,
        log_path,
    )
    _copy_kwok_crds(src, log_path)
    _mark(binary("kwok"))


KWOK_CRDS = ("clusterportforwards", "portforwards", "clusterlogs", "logs")


def kwok_crd_dir():
    return os.path.join(cache_root(), "kwok-crds")


def _copy_kwok_crds(src, log_path):
    """Keep the CRDs of kwok's port-forward and logs APIs beside the binary.

    The launcher installs them so that tests can route a pod's port-forward or
    logs at runtime (PortForward / Logs objects) through kwok's kubelet API.
    """
    module_dir = kwok_module_dir(src)
    if not module_dir:
        raise BuildError("cannot locate sigs.k8s.io/kwok@%s in the module cache; log: %s" % (versions.KWOK, log_path))
    os.makedirs(kwok_crd_dir(), exist_ok=True)
    for name in KWOK_CRDS:
        path = os.path.join(module_dir, "kustomize", "crd", "bases", "kwok.x-k8s.io_%s.yaml" % name)
        if not os.path.isfile(path):
            raise BuildError("kwok %s has no CRD file %s" % (versions.KWOK, path))
        shutil.copyfile(path, os.path.join(kwok_crd_dir(), name + ".yaml"))


def kwok_module_dir(cwd=None):
    """Where kwok's source (and its kustomize/stage examples) sit in the module cache."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", "sigs.k8s.io/kwok@" + versions.KWOK],
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
    if out.returncode != 0:
        return None
    return json.loads(out.stdout).get("Dir")


def ensure(force=False, only=None):
    """Build whatever is missing; return the bin directory."""
    if shutil.which("go") is None:
        raise BuildError("Go is not installed (the test ground builds Kubernetes from the Go module proxy)")
    wanted = list(only or versions.ALL_BINARIES)
    if not force:
        wanted = [n for n in wanted if not _usable(binary(n))]
    if not wanted:
        return bin_dir()
    os.makedirs(bin_dir(), exist_ok=True)
    logs = os.path.join(cache_root(), "logs")
    os.makedirs(logs, exist_ok=True)
    started = time.monotonic()
    _say(
        "building %s into %s (first time only; about 15-30 minutes on 2 cores)"
        % (", ".join(wanted), bin_dir())
    )
    k8s = [n for n in wanted if n != "kwok"]
    if k8s:
        build_kubernetes(k8s, logs)
    if "kwok" in wanted:
        build_kwok(logs)
    _say("all built in %.0fs" % (time.monotonic() - started))
    return bin_dir()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--only", nargs="*", choices=versions.ALL_BINARIES)
    parser.add_argument("--print-bin-dir", action="store_true")
    args = parser.parse_args(argv)
    try:
        path = ensure(force=args.force, only=args.only)
    except BuildError as exc:
        print("[testground build] FAILED: %s" % exc, file=sys.stderr)
        return 1
    if args.print_bin_dir:
        print(path)
    else:
        _say("binaries ready in %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
