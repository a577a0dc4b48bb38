"""Command line of the test ground: local Kubernetes control planes on loopback.

  python -m testground build                 build (or confirm cached) binaries
  python -m testground start [--clusters 3]  start clusters, wait until ready, keep them running
                                             in the background; the output is safe to eval:
                                             eval "$(python -m testground start --clusters 3)"
  python -m testground status                what is running, with pids and log paths (JSON)
  python -m testground kubeconfig            path of the merged kubeconfig
  python -m testground stop                  stop what `start` started

Every command takes --state-dir DIR to keep a fleet of its own there (molecule does), instead of
the checkout's shared one. start --json prints the fleet's state as JSON instead of shell lines.

start --eks also starts the AWS emulator, has every cluster's apiserver authenticate bearer tokens
through the EKS token webhook (testground/eks_authenticator.py; --eks-token-lifetime SECONDS, EKS's
900 by default) and creates one EKS cluster per test-ground cluster in the emulator, pointing at it
(tags app=model-serving, rollout-wave 1 for the first cluster and 2 for the others); the output
then also exports the AWS_* variables that point clients at the emulator (docs/testing.md).
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

from testground import build, cluster

STATE = "fleet.json"


def _state_dir(args):
    path = os.path.abspath(args.state_dir) if getattr(args, "state_dir", None) else cluster.run_root()
    os.makedirs(path, exist_ok=True)
    return path


def _state_path(args):
    return os.path.join(_state_dir(args), STATE)


def _read_state(args):
    try:
        with open(_state_path(args)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(args):
    state = _read_state(args)
    return state if state and _alive(state.get("supervisor_pid", -1)) else None


def _names(args):
    if args.names:
        return args.names.split(",")
    return ["tg%d" % (i + 1) for i in range(args.clusters)]


def _shape(args):
    return ["--cpu-nodes", str(args.cpu_nodes), "--gpu-nodes", str(args.gpu_nodes),
            "--gpus-per-node", str(args.gpus_per_node)]


def cmd_supervise(args):
    """Foreground: start the fleet, publish its state, hold it until signalled."""
    workdir = os.path.join(args.state_dir, "fleet") if args.state_dir else None
    emulator = _start_emulator(args) if args.eks else None
    eks = emulator.eks_authenticator_config(None, lifetime_seconds=args.eks_token_lifetime) if emulator else None
    fleet = cluster.Fleet(_names(args), workdir=workdir, cpu_nodes=args.cpu_nodes, gpu_nodes=args.gpu_nodes,
                          gpus_per_node=args.gpus_per_node, eks=eks)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    path = _state_path(args)
    try:
        fleet.start()
        state = fleet.describe()
        state["supervisor_pid"] = os.getpid()
        if emulator:
            emulator.create_eks_clusters(fleet.clusters, tags=dict(
                (c.eks_cluster_id, {"app": "model-serving", "rollout-wave": "1" if i == 0 else "2"})
                for i, c in enumerate(fleet.clusters)))
            state["aws"] = {"url": emulator.url, "environ": emulator.environ()}
        with open(path + ".tmp", "w") as f:
            json.dump(state, f, indent=2)
        os.replace(path + ".tmp", path)
        while not stopping:
            time.sleep(0.5)
    finally:
        fleet.stop()
        if emulator:
            emulator.stop()
        try:
            os.unlink(path)
        except OSError:
            pass
    return 0


def _start_emulator(args):
    from testground.aws import AwsEmulator

    workdir = os.path.join(_state_dir(args), "aws-emulator")
    os.makedirs(workdir, exist_ok=True)
    return AwsEmulator(workdir=workdir).start()


def _print_started(args, state):
    if args.json:
        print(json.dumps(state))
        return
    # Comments and exports only: `eval "$(python -m testground start)"` works as is.
    for c in state["clusters"]:
        print("# cluster %-6s context %-6s %s  (ready in %.1fs)"
              % (c["name"], c["context"], c["server"], c["ready_seconds"] or 0))
    print("export KUBECONFIG=%s" % shlex.quote(state["kubeconfig"]))
    if state.get("aws"):
        print("# AWS emulator on %s with an EKS cluster per test-ground cluster (its test credentials below)"
              % state["aws"]["url"])
        for key, value in sorted(state["aws"]["environ"].items()):
            print("export %s=%s" % (key, shlex.quote(value)))


def cmd_start(args):
    state = _running(args)
    if state:
        if set(c["name"] for c in state["clusters"]) == set(_names(args)):
            _print_started(args, state)
            return 0
        print("# a test-ground fleet with other clusters is already running; `python -m testground stop` first",
              file=sys.stderr)
        return 1
    build.ensure()
    path = _state_path(args)
    if os.path.exists(path):
        os.unlink(path)
    log = os.path.join(_state_dir(args), "supervisor.log")
    argv = [sys.executable, "-m", "testground", "supervise", "--names", ",".join(_names(args))] + _shape(args)
    if args.eks:
        argv += ["--eks", "--eks-token-lifetime", str(args.eks_token_lifetime)]
    if args.state_dir:
        argv += ["--state-dir", _state_dir(args)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, cwd=cluster.REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    started = time.monotonic()
    while time.monotonic() - started < args.timeout:
        if proc.poll() is not None:
            print("# the test ground failed to start; see %s" % log, file=sys.stderr)
            with open(log, "rb") as f:
                sys.stderr.write(f.read().decode(errors="replace")[-3000:])
            return 1
        state = _read_state(args)
        if state and state.get("supervisor_pid") == proc.pid:
            _print_started(args, state)
            return 0
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    print("# the test ground did not become ready in %ss; see %s" % (args.timeout, log), file=sys.stderr)
    return 1


def cmd_stop(args):
    state = _running(args)
    if not state:
        print("# no test-ground fleet is running")
        return 0
    pid = state["supervisor_pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    print("# stopped")
    return 0


def cmd_status(args):
    state = _running(args)
    if not state:
        print("no test-ground fleet is running", file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2))
    return 0


def cmd_kubeconfig(args):
    state = _running(args)
    if not state:
        print("no test-ground fleet is running", file=sys.stderr)
        return 1
    print(state["kubeconfig"])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m testground", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build").set_defaults(func=lambda a: build.main([]))
    for name, func in (("start", cmd_start), ("supervise", cmd_supervise)):
        p = sub.add_parser(name)
        p.add_argument("--clusters", type=int, default=1)
        p.add_argument("--names", help="comma-separated cluster (and context) names")
        p.add_argument("--cpu-nodes", type=int, default=2)
        p.add_argument("--gpu-nodes", type=int, default=1)
        p.add_argument("--gpus-per-node", type=int, default=1)
        p.add_argument("--json", action="store_true", help="print the fleet's state as JSON")
        p.add_argument("--timeout", type=float, default=180, help="seconds to wait for the clusters")
        p.add_argument("--eks", action="store_true",
                       help="EKS token authentication and the AWS emulator's EKS clusters pointing at the clusters")
        p.add_argument("--eks-token-lifetime", type=float, default=900,
                       help="seconds an EKS token is accepted after it was signed (EKS: 900)")
        p.set_defaults(func=func)
    for name, func in (("stop", cmd_stop), ("status", cmd_status), ("kubeconfig", cmd_kubeconfig)):
        sub.add_parser(name).set_defaults(func=func)
    for p in sub.choices.values():
        p.add_argument("--state-dir", help="keep this fleet's state (and clusters) in DIR")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
