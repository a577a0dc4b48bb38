"""Demo on the local test ground; run through scripts/demo (which installs and builds first)."""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from testground.cluster import Fleet  # noqa: E402  (the checkout is the import root)
from testground.collection import ansible_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORTS = os.path.join(ROOT, "demo-output")
MODEL = {
    "model_server_name": "llm",
    "model_server_namespace": "model-serving",
    "model_server_container_name": "server",
    "model_server_preset": "kserve_v2",
    "model_server_model_name": "tiny",
    "model_server_replicas": 3,
    "model_server_env": {"MODEL_VERSION": "1"},
    "model_server_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
}


def play(env, playbook, *extra):
    cmd = ["ansible-playbook", "-i", os.path.join(ROOT, "inventory", "testground.yml"),
           os.path.join(ROOT, "playbooks", playbook)] + list(extra)
    print("\n$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode


def extra_vars(values):
    import json

    return ["-e", json.dumps(values)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the clusters running")
    args = parser.parse_args()
    fleet = Fleet(["tg1", "tg2", "tg3"], cpu_nodes=2, gpu_nodes=1)
    started = time.monotonic()
    print("starting 3 local clusters (real kube-apiserver, controller-manager, scheduler, etcd + kwok nodes)...",
          flush=True)
    fleet.start()
    print("clusters ready in %.1fs; KUBECONFIG=%s" % (time.monotonic() - started, fleet.kubeconfig), flush=True)
    env = ansible_env()
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    env["TESTGROUND_KUBECONFIG"] = fleet.kubeconfig
    os.makedirs(REPORTS, exist_ok=True)
    rc = 1
    try:
        steps = [
            ("deploy.yml", dict(MODEL, model_server_image="registry.local/team/llm:v1")),
            ("rollout.yml", dict(MODEL, model_server_image="registry.local/team/llm:v2",
                                 model_server_env={"MODEL_VERSION": "2"}, rollout_waves=[1, 2],
                                 rollout_bake_seconds=2, rollout_report_dir=REPORTS)),
            ("status.yml", dict(MODEL, rollout_report_dir=REPORTS)),
        ]
        for playbook, values in steps:
            rc = play(env, playbook, *extra_vars(values))
            if rc != 0:
                print("\n%s failed (exit %d)" % (playbook, rc), flush=True)
                break
        reports = sorted(os.listdir(REPORTS))
        print("\nreport files in %s:\n  %s" % (REPORTS, "\n  ".join(reports) or "(none)"))
    finally:
        if args.keep:
            print("clusters stay up while this runs: export KUBECONFIG=%s (Ctrl-C stops them)" % fleet.kubeconfig)
        else:
            fleet.stop()
    if args.keep and rc == 0:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            fleet.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
