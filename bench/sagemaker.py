"""The sagemaker phase: how soon, and how truly, each contender reports a SageMaker update's end.

On one AWS emulator (testground/aws: moto with UpdateEndpoint's deployment state machine), the
same endpoint is updated again and again, by one contender at a time, in rotating order:

1. **module**: a one-task playbook with ``modelops.serving.sagemaker_endpoint_rollout``.
2. **boto3 waiter**: ``update_endpoint`` then ``get_waiter("endpoint_in_service").wait()``
   (defaults: 30 s delay, 120 attempts), as most pipelines script it.
3. **aws CLI**: ``aws sagemaker update-endpoint`` then ``aws sagemaker wait endpoint-in-service``
   (the ``awscli`` package from PyPI).

Every update is a blue/green canary (1 of 2 instances) with one rollback alarm. In ``complete``
runs the bake is 2 s and nothing trips. In ``rollback`` runs the bench sets the alarm to ALARM as
soon as it sees the canary bake, and SageMaker (the emulator) rolls back to the old config; their
bake is 300 s, so it is still open when the alarm fires however slow a loaded machine answers (a
2 s bake could pass between two of the bench's reads, and then nothing rolled back). The alarm
ends that bake at once, so the long bake adds nothing to a run.

Figures per run, judged from the emulator's own record of each status change, never from what a
contender says: **verdict latency** (from the endpoint really being InService, on whichever config,
to the contender's verdict line), **wall**, **DescribeEndpoint calls**, and whether the contender
**noticed the rollback** (its verdict says the new version did not ship).
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

import yaml

from testground.aws import AwsEmulator
from testground.collection import ansible_env

ENDPOINT = "bench-llm"
ROLE = "arn:aws:iam::123456789012:role/bench-sagemaker"
ALARM = "bench-llm-5xx"
INSTANCES = 2
BAKE_SECONDS = 2
ROLLBACK_BAKE_SECONDS = 300  # held open until the alarm fires
EMULATOR = dict(create_seconds=1.0, provision_seconds=1.0, shift_seconds=0.2, rollback_seconds=1.0)
CONTENDERS = ("module", "boto3 waiter", "aws CLI")
REFERENCE = "boto3 waiter"
HARNESS_AGENT = "bench-harness"


def harness(emulator, service):
    """A client of the bench itself; its requests are told apart from the contenders' by user agent."""
    import botocore.config

    return emulator.client(service, config=botocore.config.Config(user_agent_extra=HARNESS_AGENT))


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def deployment_config(bake):
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": bake, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]}}


class Lines:
    """A process whose output lines are stamped with wall time on arrival."""

    def __init__(self, argv, env):
        self.started = time.time()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def wait(self, timeout):
        self.proc.wait(timeout)
        self.reader.join(10)
        self.ended = time.time()
        return self

    def first(self, predicate):
        for t, line in self.lines:
            if predicate(line):
                return t, line
        return None, None


class Contender:
    name = None

    def __init__(self, emulator, workdir):
        self.emulator = emulator
        self.workdir = workdir
        self.env = ansible_env(dict(os.environ, **emulator.environ()))
        self.env["ANSIBLE_NOCOLOR"] = "1"

    def available(self):
        return True, None

    def run(self, image, bake):
        """(process with stamped lines, verdict line time, ok: did it say the version shipped, said)"""
        raise NotImplementedError


class Module(Contender):
    name = "module"

    def run(self, image, bake):
        task = {"name": "ship", "modelops.serving.sagemaker_endpoint_rollout": {
            "name": ENDPOINT, "model": {"image": image, "execution_role_arn": ROLE},
            "variants": [{"instance_type": "ml.g5.xlarge", "instance_count": INSTANCES}],
            "deployment": {"traffic": "canary", "canary_size": 1, "wait_interval_seconds": bake,
                           "rollback_alarms": [ALARM]}}, "register": "shipped", "ignore_errors": True}
        show = {"name": "verdict", "ansible.builtin.debug": {"msg": "VERDICT {{ shipped.verdict }} {{ shipped.reason }}"}}
        path = os.path.join(self.workdir, "ship.yml")
        with open(path, "w") as f:
            yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task, show]}], f)
        env = dict(self.env, ANSIBLE_PYTHON_INTERPRETER=sys.executable)
        p = Lines([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c",
                   "local", path], env).wait(600)
        # The task's own result line is the verdict; the debug line says which one it was.
        t = p.first(lambda line: line.startswith(("changed: [localhost]", "ok: [localhost]",
                                                  "fatal: [localhost]", "failed: [localhost]")))[0]
        said = p.first(lambda line: "VERDICT " in line and "msg" in line)[1]
        verdict = said.split("VERDICT ", 1)[1].strip('" ') if said else "none"
        return p, t, verdict.startswith("complete"), verdict


WAITER = r"""
import sys, boto3, botocore.exceptions
sm = boto3.client("sagemaker")
sm.update_endpoint(EndpointName=sys.argv[1], EndpointConfigName=sys.argv[2], DeploymentConfig=%r)
try:
    sm.get_waiter("endpoint_in_service").wait(EndpointName=sys.argv[1])
    print("WAITER SUCCESS", flush=True)
except botocore.exceptions.WaiterError as e:
    print("WAITER FAILURE %%s" %% e, flush=True)
"""


class Boto3Waiter(Contender):
    name = "boto3 waiter"

    def run(self, image, bake):
        config = prepare_version(self.emulator, image)
        p = Lines([sys.executable, "-c", WAITER % (deployment_config(bake),), ENDPOINT, config], self.env).wait(900)
        t, said = p.first(lambda line: line.startswith("WAITER "))
        return p, t, bool(said and said.startswith("WAITER SUCCESS")), said or "none"


class AwsCli(Contender):
    name = "aws CLI"

    def available(self):
        aws = os.path.join(os.path.dirname(sys.executable), "aws")
        return (True, None) if os.path.exists(aws) else (False, "the awscli package is not installed (%s)" % aws)

    def run(self, image, bake):
        import json

        config = prepare_version(self.emulator, image)
        aws = os.path.join(os.path.dirname(sys.executable), "aws")
        script = ('"$AWS" sagemaker update-endpoint --endpoint-name "$EP" --endpoint-config-name "$CFG" '
                  '--deployment-config "$DC" --endpoint-url "$AWS_URL" >/dev/null && '
                  '"$AWS" sagemaker wait endpoint-in-service --endpoint-name "$EP" --endpoint-url "$AWS_URL" '
                  '&& echo "CLI SUCCESS" || echo "CLI FAILURE $?"')
        env = dict(self.env, AWS=aws, EP=ENDPOINT, CFG=config, DC=json.dumps(deployment_config(bake)))
        p = Lines(["bash", "-c", script], env).wait(900)
        t, said = p.first(lambda line: line.startswith("CLI "))
        return p, t, bool(said and said.startswith("CLI SUCCESS")), said or "none"


def prepare_version(emulator, image):
    """The Model and EndpointConfig a scripted pipeline would have made first (not timed)."""
    sm = harness(emulator, "sagemaker")
    name = "bench-" + image.rsplit(":", 1)[-1]
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.g5.xlarge",
        "InitialInstanceCount": INSTANCES}])
    return name


def make(emulator, workdir):
    return [Module(emulator, workdir), Boto3Waiter(emulator, workdir), AwsCli(emulator, workdir)]


class AlarmWhenBaking(threading.Thread):
    """Sets the rollback alarm to ALARM as soon as the canary bakes (read from the emulator)."""

    def __init__(self, emulator):
        super(AlarmWhenBaking, self).__init__(daemon=True)
        self.emulator = emulator
        self.stopping = threading.Event()
        self.fired_at = None

    def run(self):
        sm = harness(self.emulator, "sagemaker")
        while not self.stopping.wait(0.05):
            pending = sm.describe_endpoint(EndpointName=ENDPOINT).get("PendingDeploymentSummary") or {}
            statuses = [s.get("Status") for v in pending.get("ProductionVariants") or [] for s in v.get("VariantStatus")
                        or []]
            if "Baking" in statuses:
                harness(self.emulator, "cloudwatch").set_alarm_state(
                    AlarmName=ALARM, StateValue="ALARM", StateReason="bench: errors on the canary")
                self.fired_at = time.time()
                return


def in_service_at(emulator, since):
    """Wall time the endpoint became InService (on any config) after ``since``, and on which config."""
    for e in emulator.endpoint_events(since):
        if e["endpoint"] == ENDPOINT and e["status"] == "InService":
            return e["t"], e["config"]
    return None, None


def one_run(emulator, contender, scenario, rep, image, serving_before):
    sm = harness(emulator, "sagemaker")
    cw = harness(emulator, "cloudwatch")
    cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="bench: reset")
    watcher = AlarmWhenBaking(emulator) if scenario == "sagemaker-rollback" else None
    mark = emulator.mark()
    start = time.time()
    if watcher:
        watcher.start()
    p, said_at, said_ok, said = contender.run(image, ROLLBACK_BAKE_SECONDS if watcher else BAKE_SECONDS)
    if watcher:
        watcher.stopping.set()
        watcher.join(10)
    done_at, config = in_service_at(emulator, start)
    requests = [e for e in emulator.requests(mark)[0] if e["service"] == "sagemaker"
                and HARNESS_AGENT not in (e.get("agent") or "")]
    rolled_back = config == serving_before
    rec = {
        "scenario": scenario, "contender": contender.name, "rep": rep, "image": image,
        "wall_s": round(p.ended - p.started, 3),
        "verdict_latency_s": round(said_at - done_at, 3) if said_at and done_at else None,
        "said": said, "said_shipped": said_ok,
        "endpoint_rolled_back": rolled_back,
        # Truthful: says shipped exactly when the new config serves.
        "truthful": said_ok == (not rolled_back) if done_at else None,
        "noticed_rollback": (not said_ok) if rolled_back else None,
        "describe_calls": sum(1 for e in requests if e["action"] == "DescribeEndpoint"),
        "requests": len(requests),
        "exit_code": p.proc.returncode,
        "alarm_fired_at_s": round(watcher.fired_at - start, 3) if watcher and watcher.fired_at else None,
    }
    serving_now = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    return rec, serving_now


def phase(smoke, records, meta, reps=None):
    """Run the sagemaker phase; adds its records and its Markdown section to ``meta``."""
    reps = 1 if smoke else (reps or 3)
    workdir = tempfile.mkdtemp(prefix="bench-sagemaker-")
    emulator = AwsEmulator(workdir=workdir, settings=EMULATOR).start()
    notes = meta.setdefault("notes", [])
    try:
        contenders = []
        for c in make(emulator, workdir):
            ok, why = c.available()
            if ok:
                contenders.append(c)
            else:
                meta.setdefault("missing", {})[c.name] = why
                log("sagemaker contender %s missing: %s" % (c.name, why))
        harness(emulator, "cloudwatch").put_metric_alarm(
            AlarmName=ALARM, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
        serving = create_endpoint(emulator)
        version = 0
        # Smoke: the rollback case only, where the contenders differ in kind, not only in speed.
        scenarios = ("sagemaker-rollback",) if smoke else ("sagemaker-complete", "sagemaker-rollback")
        for scenario in scenarios:
            for rep in range(reps):
                for c in contenders[rep % len(contenders):] + contenders[:rep % len(contenders)]:
                    version += 1
                    rec, serving = one_run(emulator, c, scenario, rep, "repo/llm:v%d" % version, serving)
                    records.append(rec)
                    log("%-13s %s rep %d: said %r, latency %s s, wall %.1f s, %d DescribeEndpoint" % (
                        c.name, scenario, rep, rec["said"], rec["verdict_latency_s"], rec["wall_s"],
                        rec["describe_calls"]))
        summ = summarize(records)
        meta.setdefault("sections", {})["sagemaker"] = {"summary": summ, "markdown": markdown(summ)}
        notes.append("sagemaker phase: emulator settings %s, canary 1 of %d instances, %d s bake (rollback runs: %d s, "
                     "ended by the alarm); work directory %s"
                     % (EMULATOR, INSTANCES, BAKE_SECONDS, ROLLBACK_BAKE_SECONDS, workdir))
    finally:
        emulator.stop()


def create_endpoint(emulator):
    sm = harness(emulator, "sagemaker")
    config = prepare_version(emulator, "repo/llm:v0")
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config)
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] != "InService":
        if time.monotonic() > deadline:
            raise RuntimeError("the bench endpoint never came into service")
        time.sleep(0.1)
    return config


def summarize(records):
    from bench.stats import ratio, summary

    out = {}
    for scenario in ("sagemaker-complete", "sagemaker-rollback"):
        runs = [r for r in records if r["scenario"] == scenario]
        if not runs:
            continue
        table = {}
        for name in CONTENDERS:
            mine = [r for r in runs if r["contender"] == name]
            if not mine:
                continue
            table[name] = {
                "runs": len(mine),
                "verdict_latency_s": summary([r["verdict_latency_s"] for r in mine]),
                "wall_s": summary([r["wall_s"] for r in mine]),
                "describe_calls": summary([r["describe_calls"] for r in mine]),
                "truthful": sum(1 for r in mine if r["truthful"]),
                "noticed_rollback": sum(1 for r in mine if r["noticed_rollback"]),
                "rolled_back": sum(1 for r in mine if r["endpoint_rolled_back"]),
            }
        ref = table.get(REFERENCE, {})
        for row in table.values():
            row["ratio"] = {f: ratio(row[f], ref.get(f)) for f in ("verdict_latency_s", "wall_s", "describe_calls")}
        out[scenario] = table
    return out


def markdown(summ):
    from bench.stats import fmt

    lines = ["## SageMaker: verdict after the endpoint is really in service", "",
             "Same emulator, same endpoint, one update per run (blue/green canary, %d s bake, one rollback alarm; "
             "rollback runs bake up to %d s and the alarm, set as soon as the canary bakes, ends the bake). "
             "Ratios are to the boto3 waiter. *Noticed* counts runs whose verdict said the new version did not ship "
             "while SageMaker had rolled it back." % (BAKE_SECONDS, ROLLBACK_BAKE_SECONDS), ""]
    for scenario, table in summ.items():
        lines += ["### %s" % scenario, "",
                  "| contender | runs | verdict latency s (median) | × | wall s | × | DescribeEndpoint calls | truthful"
                  " | noticed rollback |", "|---|---|---|---|---|---|---|---|---|"]
        for name, row in table.items():
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %d/%d | %s |" % (
                name, row["runs"], fmt(row["verdict_latency_s"]), _r(row["ratio"]["verdict_latency_s"]),
                fmt(row["wall_s"], digits=1), _r(row["ratio"]["wall_s"]), fmt(row["describe_calls"], digits=0),
                row["truthful"], row["runs"],
                "%d/%d" % (row["noticed_rollback"], row["rolled_back"]) if row["rolled_back"] else "–"))
        lines.append("")
    return lines


def _r(value):
    return "–" if value is None else "%.2f×" % value
