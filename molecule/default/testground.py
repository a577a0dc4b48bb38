"""Start or stop this scenario's own test-ground cluster.

  python molecule/default/testground.py start STATE_DIR   start, wait until ready, return
  python molecule/default/testground.py stop STATE_DIR    stop what `start` started

The cluster's processes die with their parent, so `start` leaves a small supervisor process
running that holds the cluster until `stop` signals it. State (kubeconfig, context, supervisor
pid) lives in STATE_DIR (molecule's ephemeral directory), never in the shared CLI state file.
"""

import json
import os
import signal
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

CLUSTER = "molecule-model-server"
# One GPU node with one GPU: a GPU model server of one replica leaves no room for a surge pod.
SHAPE = {"cpu_nodes": 2, "gpu_nodes": 1, "gpus_per_node": 1}


def state_file(state_dir):
    return os.path.join(state_dir, "testground.json")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(state_dir):
    try:
        with open(state_file(state_dir)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def supervise(state_dir):
    from tests.testground.cluster import Cluster

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    cluster = Cluster(CLUSTER, workdir=os.path.join(state_dir, "cluster"), **SHAPE)
    try:
        cluster.start()
        state = {"supervisor_pid": os.getpid(), "kubeconfig": cluster.kubeconfig, "context": cluster.context,
                 "workdir": cluster.workdir, "ready_seconds": cluster.ready_seconds}
        with open(state_file(state_dir) + ".tmp", "w") as f:
            json.dump(state, f, indent=2)
        os.replace(state_file(state_dir) + ".tmp", state_file(state_dir))
        while not stopping:
            time.sleep(0.5)
    finally:
        cluster.stop()
    return 0


def start(state_dir, timeout=180):
    state = read_state(state_dir)
    if state and alive(state["supervisor_pid"]):
        print(json.dumps(state))
        return 0
    os.makedirs(state_dir, exist_ok=True)
    log = os.path.join(state_dir, "testground.log")
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "supervise", state_dir], cwd=REPO_ROOT,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log, "rb") as f:
                sys.stderr.write(f.read().decode(errors="replace")[-3000:])
            return 1
        state = read_state(state_dir)
        if state and state["supervisor_pid"] == proc.pid:
            print(json.dumps(state))
            return 0
        time.sleep(0.3)
    proc.terminate()
    sys.stderr.write("test-ground cluster not ready after %ss; see %s\n" % (timeout, log))
    return 1


def stop(state_dir):
    state = read_state(state_dir)
    if state and alive(state["supervisor_pid"]):
        os.kill(state["supervisor_pid"], signal.SIGTERM)
        for _tick in range(300):
            if not alive(state["supervisor_pid"]):
                break
            time.sleep(0.1)
    try:
        os.unlink(state_file(state_dir))
    except OSError:
        pass
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop", "supervise"):
        sys.stderr.write(__doc__)
        return 2
    return {"start": start, "stop": stop, "supervise": supervise}[argv[1]](argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
