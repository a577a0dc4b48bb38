"""Mutation testing of the pure judges with mutmut: how many planted changes the unit tests notice.

Usage: .venv/bin/python scripts/mutation.py [--files status.py ...] [--max-children N] [--show-survivors]

mutmut names a mutant after the dotted path of its file, and the unit tests import the collection as
``ansible_collections.modelops.serving...``; so the run happens in a stage outside the checkout
(~/.cache/modelops-serving/mutation/<key>/) where the collection sits at
``ansible_collections/modelops/serving/`` and ``tests/`` and ``testground/`` at the top, as the tests
expect. The checkout is never written to. The score per file is printed and written to
``<stage>/scores.json``; the surviving mutants can be shown with ``--show-survivors``.

Equivalent mutants that survive on purpose are listed in docs/testing.md with the reason.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTION = os.path.join("ansible_collections", "modelops", "serving")
RU = "plugins/module_utils/rollout/"
EKS = "plugins/module_utils/eks/"
UNIT = "tests/unit/plugins/module_utils/"

# The pure judges, and the unit tests that judge them.
JUDGES = [RU + "status.py", RU + "diagnose.py", RU + "capacity.py", RU + "spec.py", RU + "runtimes.py",
          RU + "gates.py", RU + "hold.py", RU + "judges.py", EKS + "token.py", EKS + "client.py"]
TESTS = [UNIT + "rollout/test_status.py", UNIT + "rollout/test_diagnose.py", UNIT + "rollout/test_capacity.py",
         UNIT + "rollout/test_spec.py", UNIT + "rollout/test_gates.py", UNIT + "rollout/test_hold.py",
         UNIT + "rollout/test_wait.py", UNIT + "rollout/test_refusals.py", UNIT + "eks/test_token.py",
         UNIT + "eks/test_client.py", UNIT + "rollout/test_runtimes.py", UNIT + "rollout/test_gate_verdicts.py"]
GOAL = 0.90


def stage_dir():
    key = hashlib.sha1(ROOT.encode()).hexdigest()[:12]
    return os.path.join(os.path.expanduser("~"), ".cache", "modelops-serving", "mutation", key)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return [f.decode() for f in out.split(b"\0") if f]


def build_stage(stage, files):
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    for rel in tracked_files():
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        top = rel.split("/", 1)[0]
        if top in ("tests", "testground"):
            dest = os.path.join(stage, rel)
        elif top == "plugins":
            dest = os.path.join(stage, COLLECTION, rel)
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(src, dest)
    # Namespace packages up to the collection, as ansible-core lays them out.
    with open(os.path.join(stage, "setup.cfg"), "w") as f:
        f.write("[mutmut]\n")
        f.write("source_paths=\n" + "".join("    %s\n" % os.path.join(COLLECTION, p) for p in files))
        f.write("also_copy=\n    %s\n    testground\n" % COLLECTION)
        f.write("pytest_add_cli_args_test_selection=\n" + "".join("    %s\n" % t for t in TESTS))
        f.write("pytest_add_cli_args=\n    -p\n    no:cacheprovider\n    -q\n")
    with open(os.path.join(stage, "pytest.ini"), "w") as f:
        f.write("[pytest]\naddopts = -p no:randomly\n")


def scores(stage, files):
    """{file: {killed, survived, other, total, score, survivors: [names]}} from mutmut's .meta files."""
    from mutmut.stats import status_by_exit_code  # pylint: disable=import-outside-toplevel

    result = {}
    for path in files:
        meta = os.path.join(stage, "mutants", COLLECTION, path + ".meta")
        with open(meta) as f:
            exit_codes = json.load(f)["exit_code_by_key"]
        counts = {"killed": 0, "survived": 0, "timeout": 0, "no tests": 0, "other": 0}
        survivors = []
        for name, code in sorted(exit_codes.items()):
            status = status_by_exit_code[code]
            if status in counts:
                counts[status] += 1
            else:
                counts["other"] += 1
            if status in ("survived", "no tests"):
                survivors.append(name)
        total = sum(counts.values())
        caught = counts["killed"] + counts["timeout"]
        result[path] = dict(counts, total=total, score=(caught / total) if total else 1.0, survivors=survivors)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", help="judge files to mutate, by base name (default: all)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs (default 2: two cores)")
    parser.add_argument("--show-survivors", action="store_true", help="print the diff of every surviving mutant")
    args = parser.parse_args()
    files = [f for f in JUDGES if not args.files or os.path.basename(f) in args.files]
    if not files:
        raise SystemExit("no judge file matches %s; judges: %s" % (args.files, " ".join(JUDGES)))
    stage = stage_dir()
    t0 = time.monotonic()
    build_stage(stage, files)
    mutmut = [sys.executable, "-m", "mutmut"]
    env = dict(os.environ)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    log_path = os.path.join(stage, "mutmut.log")
    print("mutating %d file(s) in %s (mutmut's own output: %s)" % (len(files), stage, log_path), flush=True)
    with open(log_path, "w") as log:
        run = subprocess.run(mutmut + ["run", "--max-children", str(args.max_children)], cwd=stage, env=env,
                             stdout=log, stderr=subprocess.STDOUT, check=False)
    if run.returncode != 0:
        with open(log_path, errors="replace") as log:
            print(log.read()[-3000:])
        print("mutmut run failed (exit %d) in %s" % (run.returncode, stage))
        return run.returncode
    result = scores(stage, files)
    seconds = time.monotonic() - t0
    with open(os.path.join(stage, "scores.json"), "w") as f:
        json.dump({"seconds": seconds, "files": result}, f, indent=1)
    print("\n%-44s %7s %7s %8s %7s %6s" % ("file", "mutants", "killed", "survived", "no test", "score"))
    below = []
    for path, r in result.items():
        print("%-44s %7d %7d %8d %7d %5.1f%%" % (path, r["total"], r["killed"] + r["timeout"], r["survived"],
                                                 r["no tests"], 100 * r["score"]))
        if r["score"] < GOAL:
            below.append(path)
    print("mutation run: %.0fs, %d mutants; scores in %s" % (
        seconds, sum(r["total"] for r in result.values()), os.path.join(stage, "scores.json")))
    if args.show_survivors:
        for r in result.values():
            for name in r["survivors"]:
                subprocess.run(mutmut + ["show", name], cwd=stage, env=env, check=False)
    if below:
        print("below the %d%% goal: %s" % (100 * GOAL, ", ".join(below)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
