"""The fleet phase: one wave over 1, 6 and 12 clusters, every contender side by side, and the forks effect.

Each cluster runs the same 3-replica Deployment; only as many clusters run as the largest wave measured so
far (an idle control plane costs CPU too). A wave is one command over all of its clusters:
kubectl runs one script per cluster in parallel; the Ansible contenders one host per cluster, with
forks as large as the wave (forks 5 for the variants that say so: Ansible's default). rollout.yml
runs as the user guide runs it, report and picture included, bake off.

What the issue asks of rollout.yml is computed from the same run (``goals``): one cluster within
1.5x kubectl's wall time; at most 0.7 s per wave above model_rollout; one wave of 6 within 1.3x
one cluster; at most kubectl's API requests + 6 per cluster.
"""

import os
import time

from bench import contenders, ground

SIZES = (1, 6, 12)
REPS = {1: 3, 6: 2, 12: 1}
# Waves of one cluster each, over this many clusters: what each further wave costs.
ONE_AT_A_TIME = 3
# Ansible's default forks, for the variants that show what a wave wider than forks costs.
DEFAULT_FORKS = 5
GOALS = {"wall_vs_kubectl_1": 1.5, "overhead_above_model_rollout_s": 0.7, "wave_6_vs_1": 1.3,
         "requests_per_cluster_above_kubectl": 6}


def contenders_for(runners, workdir):
    """The phase's contenders: everyone, plus model_rollout and rollout.yml held to forks 5."""
    extra = [contenders.ModelRollout(workdir, forks=DEFAULT_FORKS), contenders.RolloutPlaybook(workdir, forks=DEFAULT_FORKS)]
    return list(runners) + [c for c in extra if c.available()[0]]


def run(settings, runners, records, notes, measure, subject, log, rotated):
    """Measure every wave size with every contender; ``measure``/``subject`` come from bench.run."""
    if not settings.fleet_sizes:
        return
    phase = contenders_for(runners, runners[0].workdir)
    clusters, subjects = [], []
    try:
        one_at_a_time_done = False
        for n in settings.fleet_sizes:
            # Only as many clusters run as the wave needs: idle control planes cost CPU too.
            more = [ground.BenchCluster("wave%d" % i, cpu_nodes=1, gpu_nodes=0) for i in range(len(clusters), n)]
            if more:
                t = time.monotonic()
                clusters += more
                ground.start(more)
                for c in more:
                    subjects.append(subject(c))
                for s in subjects[-len(more):]:
                    s.settle(180)
                log("%d clusters up (%d new in %.1fs)" % (len(clusters), len(more), time.monotonic() - t))
            if not one_at_a_time_done and len(subjects) >= ONE_AT_A_TIME:
                waves_of_one(runners[0].workdir, subjects[:ONE_AT_A_TIME], records, measure, log, rotated)
                one_at_a_time_done = True
            for rep in range(REPS.get(n, 1)):
                for c in rotated(phase, n + rep):
                    if (c.name.endswith("(forks %d)" % DEFAULT_FORKS)) and n <= DEFAULT_FORKS:
                        continue  # the same run as the plain one: forks are the wave's size already
                    records.append(one_wave(c, subjects[:n], rep, measure))
                    r = records[-1]
                    log("%-24s wave of %2d rep %d: wall %.1f s, %d/%d complete, %s requests" % (
                        c.name, n, rep, r["wall_s"], r["completed"], n, r["requests"]))
    finally:
        for s in subjects:
            if s.observer:
                s.observer.stop()
        for c in clusters:
            c.stop()
        if clusters:
            notes.append("fleet work directory: %s" % os.path.dirname(clusters[0].workdir))


def waves_of_one(workdir, subjects, records, measure, log, rotated):
    """The same clusters one after the other: kubectl scripted so, model_rollout with serial 1, rollout.yml
    with waves of one. The difference per wave is what the fleet's steps add to a wave."""
    runners = [contenders.Kubectl(workdir, one_at_a_time=True), contenders.ModelRollout(workdir, one_at_a_time=True),
               contenders.RolloutPlaybook(workdir, one_at_a_time=True)]
    for rep in range(2):
        for c in rotated(runners, rep):
            r = one_wave(c, subjects, rep, measure)
            r["scenario"] = "waves-%dx1" % len(subjects)
            records.append(r)
            log("%-28s %d waves of 1 rep %d: wall %.1f s, %d/%d complete" % (
                c.name, len(subjects), rep, r["wall_s"], r["completed"], len(subjects)))


def one_wave(contender, wave, rep, measure):
    from bench.run import next_image

    for s in wave:
        s.settle()
    image = next_image()  # one image for the whole wave, as one playbook run takes it
    proc, marks = measure(contender, wave, lambda s, img=image: img)
    ends = []
    for s, m in zip(wave, marks):
        s.observer.wait_for(lambda o, img=m["new_image"]: o.complete_with(img), 120)
        change_t, _state = s.observer.first_write(proc.start, m["generation"])
        done = s.observer.first_complete(change_t or proc.start, m["new_image"])
        if done is not None:
            s.image = m["new_image"]
            ends.append((change_t, done))
    requests = sum(sum(m["requests"].values()) for m in marks)
    return {
        "scenario": "wave-%d" % len(wave), "contender": contender.name, "rep": rep, "clusters": len(wave),
        "forks": contender.forks_for(len(wave)) if hasattr(contender, "forks_for") else None,
        "wall_s": round(proc.end - proc.start, 3), "cpu_s": proc.cpu, "exit": proc.returncode,
        "completed": len(ends), "requests": requests, "requests_per_cluster": round(requests / float(len(wave)), 2),
        "slowest_rollout_s": round(max(d - ch for ch, d in ends), 3) if ends else None,
        "first_change_s": round(min(ch for ch, _d in ends) - proc.start, 3) if ends else None,
        "verdict_latency_s": round(proc.end - max(d for _ch, d in ends), 3) if ends else None,
        "output_tail": proc.text()[-600:] if proc.returncode != 0 else "",
    }


def _median(summary, scenario, contender, field):
    row = (summary.get(scenario) or {}).get(contender) or {}
    value = row.get(field)
    return value["median"] if value else None


def goals(summary):
    """rollout.yml against the issue's goals, from this run's medians; None where a figure is missing."""
    def m(scenario, contender, field="wall_s"):
        return _median(summary, scenario, contender, field)

    def div(a, b):
        return None if a is None or not b else round(a / b, 2)

    def sub(a, b):
        return None if a is None or b is None else round(a - b, 2)

    waves = "waves-%dx1" % ONE_AT_A_TIME
    per_wave = sub(m(waves, "rollout.yml (one at a time)"), m(waves, "model_rollout (one at a time)"))
    out = {
        "wall_vs_kubectl_1": div(m("wave-1", "rollout.yml"), m("wave-1", "kubectl")),
        "overhead_above_model_rollout_s": None if per_wave is None else round(per_wave / ONE_AT_A_TIME, 2),
        "run_above_model_rollout_1_s": sub(m("wave-1", "rollout.yml"), m("wave-1", "model_rollout")),
        "wave_6_vs_1": div(m("wave-6", "rollout.yml"), m("wave-1", "rollout.yml")),
        "requests_per_cluster_above_kubectl": sub(m("wave-1", "rollout.yml", "requests_per_cluster"),
                                                  m("wave-1", "kubectl", "requests_per_cluster")),
        "wave_12_vs_1": div(m("wave-12", "rollout.yml"), m("wave-1", "rollout.yml")),
        "forks_effect_12": div(m("wave-12", "rollout.yml (forks %d)" % DEFAULT_FORKS), m("wave-12", "rollout.yml")),
    }
    out["met"] = dict((k, None if v is None else v <= GOALS[k]) for k, v in out.items() if k in GOALS)
    return out


def markdown(summary):
    """The goals as a table, for the results page."""
    g = goals(summary)
    if all(v is None for k, v in g.items() if k != "met"):
        return []
    rows = [
        ("rollout.yml, 1 cluster: wall / kubectl's", "wall_vs_kubectl_1", "≤ %.1f×" % GOALS["wall_vs_kubectl_1"], "×"),
        ("rollout.yml above model_rollout per wave (%d waves of 1 against serial 1): wall s" % ONE_AT_A_TIME,
         "overhead_above_model_rollout_s", "≤ %.1f s" % GOALS["overhead_above_model_rollout_s"], " s"),
        ("rollout.yml above model_rollout, a whole run of 1 wave of 1: wall s", "run_above_model_rollout_1_s", "–",
         " s"),
        ("rollout.yml, 1 wave of 6 / 1 wave of 1: wall", "wave_6_vs_1", "≤ %.1f×" % GOALS["wave_6_vs_1"], "×"),
        ("rollout.yml API requests per cluster above kubectl's", "requests_per_cluster_above_kubectl",
         "≤ %d" % GOALS["requests_per_cluster_above_kubectl"], ""),
        ("rollout.yml, 1 wave of 12 / 1 wave of 1: wall", "wave_12_vs_1", "–", "×"),
        ("rollout.yml, 12 clusters: wall with forks 5 / forks 12", "forks_effect_12", "–", "×"),
    ]
    lines = ["### rollout.yml against its goals (this run)", "", "| figure | reached | goal | met |", "|---|---|---|---|"]
    for label, key, goal, unit in rows:
        value = g.get(key)
        met = g["met"].get(key)
        lines.append("| %s | %s | %s | %s |" % (label, "–" if value is None else ("%.2f%s" % (value, unit)), goal,
                                                "–" if met is None else ("yes" if met else "no")))
    return lines + [""]
