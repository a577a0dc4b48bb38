"""Command line of the test ground.

  python -m tests.testground build                 build (or confirm cached) binaries
  python -m tests.testground start [--clusters 3]  start clusters, wait until ready, keep them
                                                   running in the background; prints KUBECONFIG
  python -m tests.testground status                what is running, with log paths
  python -m tests.testground kubeconfig            path of the merged kubeconfig
  python -m tests.testground stop                  stop what `start` started
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from tests.testground import build, cluster

STATE = "fleet.json"


def _state_path():
    return os.path.join(cluster.run_root(), STATE)


def _read_state():
    try:
        with open(_state_path()) as f:
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


def _names(args):
    if args.names:
        return args.names.split(",")
    return ["tg%d" % (i + 1) for i in range(args.clusters)]


def cmd_supervise(args):
    """Foreground: start the fleet, publish its state, hold it until signalled."""
    fleet = cluster.Fleet(_names(args), cpu_nodes=args.cpu_nodes, gpu_nodes=args.gpu_nodes,
                          gpus_per_node=args.gpus_per_node)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    try:
        fleet.start()
        state = fleet.describe()
        state["supervisor_pid"] = os.getpid()
        with open(_state_path() + ".tmp", "w") as f:
            json.dump(state, f, indent=2)
        os.replace(_state_path() + ".tmp", _state_path())
        while not stopping:
            time.sleep(0.5)
    finally:
        fleet.stop()
        try:
            os.unlink(_state_path())
        except OSError:
            pass
    return 0


def cmd_start(args):
    state = _read_state()
    if state and _alive(state.get("supervisor_pid", -1)):
        print("a test-ground fleet is already running; `python -m tests.testground stop` first", file=sys.stderr)
        print("KUBECONFIG=%s" % state["kubeconfig"])
        return 1
    build.ensure()
    if os.path.exists(_state_path()):
        os.unlink(_state_path())
    log = os.path.join(cluster.run_root(), "supervisor.log")
    argv = [sys.executable, "-m", "tests.testground", "supervise", "--names", ",".join(_names(args)),
            "--cpu-nodes", str(args.cpu_nodes), "--gpu-nodes", str(args.gpu_nodes),
            "--gpus-per-node", str(args.gpus_per_node)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, cwd=cluster.REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    started = time.monotonic()
    while time.monotonic() - started < 180:
        if proc.poll() is not None:
            print("the test ground failed to start; see %s" % log, file=sys.stderr)
            with open(log, "rb") as f:
                sys.stderr.write(f.read().decode(errors="replace")[-3000:])
            return 1
        state = _read_state()
        if state:
            for c in state["clusters"]:
                print("cluster %-6s context %-6s %s  (ready in %.1fs)"
                      % (c["name"], c["context"], c["server"], c["ready_seconds"]))
            print("export KUBECONFIG=%s" % state["kubeconfig"])
            return 0
        time.sleep(0.3)
    proc.terminate()
    print("the test ground did not become ready in 180s; see %s" % log, file=sys.stderr)
    return 1


def cmd_stop(_args):
    state = _read_state()
    if not state or not _alive(state.get("supervisor_pid", -1)):
        print("no test-ground fleet is running")
        return 0
    pid = state["supervisor_pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    print("stopped")
    return 0


def cmd_status(_args):
    state = _read_state()
    if not state or not _alive(state.get("supervisor_pid", -1)):
        print("no test-ground fleet is running")
        return 1
    print(json.dumps(state, indent=2))
    return 0


def cmd_kubeconfig(_args):
    state = _read_state()
    if not state:
        print("no test-ground fleet is running", file=sys.stderr)
        return 1
    print(state["kubeconfig"])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.testground", description=__doc__,
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
        p.set_defaults(func=func)
    sub.add_parser("stop").set_defaults(func=cmd_stop)
    sub.add_parser("status").set_defaults(func=cmd_status)
    sub.add_parser("kubeconfig").set_defaults(func=cmd_kubeconfig)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
