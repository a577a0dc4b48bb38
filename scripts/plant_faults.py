"""Plant known faults one at a time in a scratch copy of this checkout and run the tests that must catch each.

Usage: .venv/bin/python scripts/plant_faults.py [--list] [--keep] [fault ...]

Each fault is a small edit of production code that once survived the whole unit suite (issue 16).
For each, the script copies the tracked and untracked-but-not-ignored files of the checkout into a
scratch directory, applies the edit there (refusing if the text to replace is not found exactly
once, so a fault that no longer applies is reported, never silently skipped), runs the tests named
as its catchers (first proven green on an unchanged copy), and says whether they failed (caught) or passed (survived). Exit status is 0 only
when every fault planted was caught. The checkout itself is never written to.

The catchers are unit tests, so the whole run takes about a minute; it is not part of the default
``scripts/test`` run (``scripts/test faults`` runs it).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RU = "plugins/module_utils/rollout/"
UNIT = "tests/unit/plugins/module_utils/"

# name: (file, text, replacement, catchers, what the fault does)
FAULTS = {
    "bake_ignores_pod_watch": (
        RU + "gates.py",
        'HoldJudge("bake", baseline, ctx.standing_template(view.deployment))',
        "Quiet()",
        [UNIT + "rollout/test_gates.py"],
        "the gate bake ignores the pod watch (a restart during the bake goes unnoticed)",
    ),
    "gates_ask_first_pod_only": (
        RU + "gates.py",
        'PodTarget(ctx.api, ctx.namespace, p["metadata"]["name"], ports,',
        'PodTarget(ctx.api, ctx.namespace, chosen[0]["metadata"]["name"], ports,',
        [UNIT + "rollout/test_gates.py"],
        "every gate request is sent to the first pod only",
    ),
    "prometheus_le_is_lt": (
        RU + "gates.py",
        '"le": ("<=", lambda v, t: v <= t),',
        '"le": ("<=", lambda v, t: v < t),',
        [UNIT + "rollout/test_gates.py"],
        "the Prometheus `le` comparison turned into `<`",
    ),
    "smoke_tolerance_ten_percent": (
        RU + "runtimes.py",
        "rel_tol=1e-6",
        "rel_tol=0.1",
        [UNIT + "rollout/test_gates.py"],
        "the smoke answer's float tolerance widened to 10 %",
    ),
    "failed_pods_hold_gpus": (
        RU + "capacity.py",
        'in ("Succeeded", "Failed") or node not in free',
        'in ("Succeeded",) or node not in free',
        [UNIT + "rollout/test_capacity.py"],
        "pods in phase Failed still counted as holding GPUs",
    ),
    "eks_renewal_not_hooked": (
        "plugins/module_utils/eks/client.py",
        "configuration.refresh_api_key_hook = renewer",
        "pass  # planted: renewal never hooked",
        [UNIT + "eks/test_client.py"],
        "EKS token renewal never hooked into the API client (refresh_api_key_hook unset)",
    ),
}


def scratch_copy():
    """The checkout's files as git sees them (committed or not), in a fresh directory."""
    dest = tempfile.mkdtemp(prefix="plant-faults-")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in files:
        if not name:
            continue
        rel = name.decode()
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel))
    return dest


def plant(tree, path, text, replacement):
    full = os.path.join(tree, path)
    with open(full) as f:
        source = f.read()
    count = source.count(text)
    if count != 1:
        raise SystemExit("cannot plant in %s: %r occurs %d times (the code moved; update the fault)"
                         % (path, text, count))
    with open(full, "w") as f:
        f.write(source.replace(text, replacement))


def run_catchers(tree, catchers):
    env = dict(os.environ)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # the scratch copy gets its own link farm
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider"] + catchers,
                         cwd=tree, env=env, capture_output=True, text=True, check=False)
    failed = [line[len("FAILED "):].split(" - ")[0] for line in out.stdout.splitlines() if line.startswith("FAILED ")]
    return out.returncode, failed, out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("faults", nargs="*", help="names of faults to plant (default: all)")
    parser.add_argument("--list", action="store_true", help="list the faults and their catchers")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    args = parser.parse_args()
    if args.list:
        for name, (path, _t, _r, catchers, what) in FAULTS.items():
            print("%-28s %s\n%28s in %s, caught by %s" % (name, what, "", path, " ".join(catchers)))
        return 0
    names = args.faults or list(FAULTS)
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise SystemExit("unknown fault(s): %s (see --list)" % ", ".join(unknown))
    # A catcher that fails without any fault would "catch" every one: prove them green first.
    catchers = sorted({c for n in names for c in FAULTS[n][3]})
    tree = scratch_copy()
    try:
        rc, failed, output = run_catchers(tree, catchers)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    if rc != 0:
        print("the catchers fail without a planted fault (pytest exit %d):\n%s" % (rc, output[-3000:]))
        return 2
    print("catchers pass on the unchanged copy: %s" % " ".join(catchers))
    survived = []
    for name in names:
        path, text, replacement, catchers, what = FAULTS[name]
        t0 = time.monotonic()
        tree = scratch_copy()
        try:
            plant(tree, path, text, replacement)
            rc, failed, output = run_catchers(tree, catchers)
        finally:
            if not args.keep:
                shutil.rmtree(tree, ignore_errors=True)
        seconds = time.monotonic() - t0
        if rc == 1 and failed:
            caught_by = "\n          ".join(failed)
            print("caught    %-28s in %.0fs by %d test(s):\n          %s" % (name, seconds, len(failed), caught_by))
        else:
            survived.append(name)
            print("SURVIVED  %-28s (%s; pytest exit %d)\n%s" % (name, what, rc, output[-2000:]))
    print("%d of %d planted faults caught" % (len(names) - len(survived), len(names)))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
