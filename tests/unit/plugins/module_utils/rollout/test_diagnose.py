"""Fail-fast diagnosis from new pods and their events."""

import copy
import datetime
import os

import pytest
import yaml

from ansible_collections.modelops.serving.plugins.module_utils.rollout import diagnose

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
UTC = datetime.timezone.utc
# All fixtures were recorded between 09:10 and 09:13 on this day.
NOW = datetime.datetime(2026, 11, 25, 9, 12, 0, tzinfo=UTC)
PULLFAIL = "registry.example.com/models/server:pullfail"
PULL_ERR = (
    'rpc error: code = NotFound desc = failed to pull and unpack image "%s": failed to resolve reference "%s": '
    "%s: not found" % (PULLFAIL, PULLFAIL, PULLFAIL)
)


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return yaml.safe_load(handle)


def items(name):
    return load(name)["items"]


def at(seconds_after_10_01):
    """A moment relative to 09:10:01Z, when the fixture pods were created."""
    return datetime.datetime(2026, 11, 25, 9, 10, 1, tzinfo=UTC) + datetime.timedelta(seconds=seconds_after_10_01)


def container_status(pod, name="server", init=False):
    key = "initContainerStatuses" if init else "containerStatuses"
    return next(cs for cs in pod["status"][key] if cs["name"] == name)


def set_waiting(pod, reason, message=None, name="server"):
    cs = container_status(pod, name)
    cs["state"] = {"waiting": {"reason": reason}}
    if message is not None:
        cs["state"]["waiting"]["message"] = message
    return pod


def renamed(pod, name):
    pod = copy.deepcopy(pod)
    pod["metadata"]["name"] = name
    pod["metadata"]["uid"] = "uid-" + name
    return pod


def set_ready(pod, ready, changed_at):
    """A watch snapshot of pod with its Ready condition (and server readiness) set."""
    pod = copy.deepcopy(pod)
    condition = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    condition["status"] = ready
    condition["lastTransitionTime"] = changed_at
    container_status(pod)["ready"] = ready == "True"
    return pod


# --- parse_time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-25T09:00:00Z", datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)),
        ("2026-11-25T09:10:01.140282Z", datetime.datetime(2026, 11, 25, 9, 10, 1, 140282, tzinfo=UTC)),
        # Nanoseconds (some clients) truncate to microseconds.
        ("2026-11-25T09:10:01.123456789Z", datetime.datetime(2026, 11, 25, 9, 10, 1, 123456, tzinfo=UTC)),
        ("2026-11-25T09:10:01.5Z", datetime.datetime(2026, 11, 25, 9, 10, 1, 500000, tzinfo=UTC)),
        ("2026-11-25T11:00:00+02:00", datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)),
        ("2026-11-25T08:30:00-00:30", datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_rfc3339_into_utc(text, expected):
    parsed = diagnose.parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize("text", [None, "", "yesterday", "2026-11-25 09:00", "2026-11-25T09:00:00", "2026-13-25T09:00:00Z"])
def test_parse_time_returns_none_for_missing_or_malformed(text):
    assert diagnose.parse_time(text) is None


# --- Thresholds --------------------------------------------------------------------------


def test_threshold_defaults():
    assert diagnose.Thresholds() == (2, 1, 30, 3, None)
    assert diagnose.Thresholds()._asdict() == {
        "crash_restarts": 2, "image_pull_failures": 1, "unschedulable_seconds": 30, "flap_transitions": 3,
        "not_ready_seconds": None,
    }


def test_thresholds_accept_none_to_disable_and_zero_where_meaningful():
    thresholds = diagnose.Thresholds(crash_restarts=0, image_pull_failures=None, unschedulable_seconds=0, flap_transitions=None)
    assert thresholds.crash_restarts == 0
    assert thresholds.image_pull_failures is None


@pytest.mark.parametrize(
    "field, value",
    [("crash_restarts", -1), ("image_pull_failures", 0), ("unschedulable_seconds", -5),
     ("flap_transitions", 0), ("crash_restarts", "2"), ("flap_transitions", True)],
)
def test_thresholds_reject_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        diagnose.Thresholds(**{field: value})


# --- pod_problems: healthy and benign states ---------------------------------------------


def test_ready_pods_have_no_problems():
    for pod in items("pods_running.yaml"):
        assert diagnose.pod_problems(pod, NOW) == []


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing"])
def test_benign_waiting_reasons_are_not_problems(reason):
    pod = set_waiting(load("pod_config_error.yaml"), reason)
    assert diagnose.pod_problems(pod, NOW) == []


def test_pod_without_status_has_no_findings():
    assert diagnose.pod_problems({"metadata": {"name": "bare"}}, NOW) == []


# --- pod_problems: image pull ----------------------------------------------------------------


def test_image_pull_backoff_finding():
    backoff = items("pods_image_pull.yaml")[0]
    assert diagnose.pod_problems(backoff, NOW) == [{
        "pod": "web-6b8c9d7f4x-b5vkd",
        "container": "server",
        "init": False,
        "kind": "image_pull",
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "%s": ErrImagePull: %s' % (PULLFAIL, PULL_ERR),
        "restarts": 0,
        "seconds": None,
    }]


def test_err_image_pull_finding():
    [finding] = diagnose.pod_problems(items("pods_image_pull.yaml")[1], NOW)
    assert (finding["pod"], finding["kind"], finding["reason"], finding["message"]) == (
        "web-6b8c9d7f4x-h8ztq", "image_pull", "ErrImagePull", PULL_ERR)


def test_invalid_image_name_finding():
    [finding] = diagnose.pod_problems(load("pod_invalid_image.yaml"), NOW)
    assert finding["kind"] == "image_pull"
    assert finding["reason"] == "InvalidImageName"
    assert finding["message"].endswith("repository name (models/Server) must be lowercase")


@pytest.mark.parametrize("reason", ["ErrImageNeverPull", "RegistryUnavailable", "SignatureValidationFailed"])
def test_other_image_pull_reasons_are_image_pull(reason):
    pod = set_waiting(load("pod_config_error.yaml"), reason, "irrelevant")
    assert [(f["kind"], f["reason"]) for f in diagnose.pod_problems(pod, NOW)] == [("image_pull", reason)]


# --- pod_problems: config ----------------------------------------------------------------------


def test_create_container_config_error_finding():
    [finding] = diagnose.pod_problems(load("pod_config_error.yaml"), NOW)
    assert (finding["container"], finding["kind"], finding["reason"], finding["message"]) == (
        "server", "config", "CreateContainerConfigError", 'secret "hf-token" not found')


@pytest.mark.parametrize("reason", ["CreateContainerError", "RunContainerError"])
def test_other_config_reasons(reason):
    pod = set_waiting(load("pod_config_error.yaml"), reason, "failed to create containerd task")
    [finding] = diagnose.pod_problems(pod, NOW)
    assert (finding["kind"], finding["reason"], finding["message"]) == ("config", reason, "failed to create containerd task")


# --- pod_problems: crash loop -----------------------------------------------------------------


def test_crash_loop_names_only_the_failing_container():
    assert diagnose.pod_problems(load("pod_crash_loop_sidecar.yaml"), NOW) == [{
        "pod": "web-6b8c9d7f4x-t6rfx",
        "container": "server",
        "init": False,
        "kind": "crash_loop",
        "reason": "CrashLoopBackOff",
        "message": "last terminated: OOMKilled (exit code 137)",
        "restarts": 3,
        "seconds": None,
    }]


def test_crash_loop_without_last_state_keeps_kubelet_message():
    pod = load("pod_crash_loop_sidecar.yaml")
    container_status(pod)["lastState"] = {}
    [finding] = diagnose.pod_problems(pod, NOW)
    assert finding["message"].startswith("back-off 40s restarting failed container=server pod=web-6b8c9d7f4x-t6rfx_models(")


def test_restarted_running_container_that_is_not_ready_is_crash_loop():
    assert diagnose.pod_problems(load("pod_restarted_not_ready.yaml"), NOW) == [{
        "pod": "web-6b8c9d7f4x-f7hcb",
        "container": "server",
        "init": False,
        "kind": "crash_loop",
        "reason": "Error",
        "message": "last terminated: Error (exit code 1)",
        "restarts": 1,
        "seconds": None,
    }]


def test_restarted_container_that_is_ready_again_is_not_a_problem():
    pod = items("pods_running.yaml")[0]
    cs = container_status(pod)
    cs["restartCount"] = 4
    cs["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-25T09:10:11Z",
                                      "finishedAt": "2026-11-25T09:10:30Z"}}
    assert diagnose.pod_problems(pod, NOW) == []


def test_currently_terminated_regular_container_is_crash_loop_even_with_exit_zero():
    # restartPolicy Always: a model server that exits 0 will be restarted and back off.
    pod = load("pod_restarted_not_ready.yaml")
    container_status(pod)["state"] = {"terminated": {"exitCode": 0, "reason": "Completed",
                                                     "startedAt": "2026-11-25T09:11:12Z", "finishedAt": "2026-11-25T09:11:40Z"}}
    [finding] = diagnose.pod_problems(pod, NOW)
    assert (finding["kind"], finding["reason"], finding["message"]) == (
        "crash_loop", "Completed", "terminated: Completed (exit code 0)")


def test_termination_message_is_flattened_to_one_line():
    pod = load("pod_crash_loop_sidecar.yaml")
    container_status(pod)["lastState"]["terminated"]["message"] = "Traceback:\n  File x\nMemoryError\n"
    [finding] = diagnose.pod_problems(pod, NOW)
    assert finding["message"] == "last terminated: OOMKilled (exit code 137): Traceback: File x MemoryError"


def test_long_messages_keep_head_and_root_cause():
    text = "failed to create containerd task: " + "x" * 3000 + ": no such file or directory"
    pod = set_waiting(load("pod_config_error.yaml"), "CreateContainerError", text)
    [finding] = diagnose.pod_problems(pod, NOW)
    assert len(finding["message"]) == diagnose.MAX_MESSAGE
    assert finding["message"].startswith("failed to create containerd task: xxx")
    assert finding["message"].endswith("xxx: no such file or directory")
    assert " ... " in finding["message"]


def test_message_at_the_limit_is_kept_whole():
    pod = set_waiting(load("pod_config_error.yaml"), "CreateContainerError", "y" * diagnose.MAX_MESSAGE)
    [finding] = diagnose.pod_problems(pod, NOW)
    assert finding["message"] == "y" * diagnose.MAX_MESSAGE


# --- pod_problems: init containers --------------------------------------------------------------


def test_init_container_crash_loop():
    assert diagnose.pod_problems(load("pod_init_crash_loop.yaml"), NOW) == [{
        "pod": "web-6b8c9d7f4x-w8jxm",
        "container": "fetch-weights",
        "init": True,
        "kind": "crash_loop",
        "reason": "CrashLoopBackOff",
        "message": "last terminated: Error (exit code 1): botocore.exceptions.NoCredentialsError: Unable to locate credentials",
        "restarts": 2,
        "seconds": None,
    }]


def test_init_container_that_succeeded_is_not_a_problem():
    pod = load("pod_init_crash_loop.yaml")
    container_status(pod, "fetch-weights", init=True)["state"] = {
        "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-11-25T09:10:40Z", "finishedAt": "2026-11-25T09:11:40Z"}}
    container_status(pod, "fetch-weights", init=True)["lastState"] = {}
    assert diagnose.pod_problems(pod, NOW) == []


def test_init_container_that_just_failed_is_crash_loop():
    pod = load("pod_init_crash_loop.yaml")
    container_status(pod, "fetch-weights", init=True)["state"] = {
        "terminated": {"exitCode": 2, "reason": "Error", "startedAt": "2026-11-25T09:10:40Z", "finishedAt": "2026-11-25T09:10:41Z"}}
    [finding] = diagnose.pod_problems(pod, NOW)
    assert (finding["container"], finding["init"], finding["reason"], finding["message"]) == (
        "fetch-weights", True, "Error", "terminated: Error (exit code 2)")


def test_init_container_image_pull_is_reported():
    pod = load("pod_init_crash_loop.yaml")
    container_status(pod, "fetch-weights", init=True)["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}
    container_status(pod, "fetch-weights", init=True)["restartCount"] = 0
    [finding] = diagnose.pod_problems(pod, NOW)
    assert (finding["container"], finding["init"], finding["kind"]) == ("fetch-weights", True, "image_pull")


# --- pod_problems: unschedulable and not ready ---------------------------------------------------


def test_unschedulable_finding_measures_from_condition_transition():
    assert diagnose.pod_problems(load("pod_unschedulable.yaml"), at(45)) == [{
        "pod": "web-6b8c9d7f4x-z5nqd",
        "container": None,
        "init": False,
        "kind": "unschedulable",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. "
                   "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        "restarts": 0,
        "seconds": 45.0,
    }]


def test_unschedulable_duration_never_negative_under_clock_skew():
    [finding] = diagnose.pod_problems(load("pod_unschedulable.yaml"), at(-10))
    assert finding["seconds"] == 0.0


def test_unschedulable_without_transition_time_uses_creation():
    pod = load("pod_unschedulable.yaml")
    del pod["status"]["conditions"][0]["lastTransitionTime"]
    pod["metadata"]["creationTimestamp"] = "2026-11-25T09:10:00Z"
    [finding] = diagnose.pod_problems(pod, at(9))
    assert finding["seconds"] == 10.0


def test_scheduling_gated_pod_is_not_unschedulable():
    pod = load("pod_unschedulable.yaml")
    pod["status"]["conditions"][0].update(reason="SchedulingGated", message="Scheduling is blocked due to non-empty scheduling gates")
    assert diagnose.pod_problems(pod, NOW) == []


def test_running_but_not_ready_finding():
    assert diagnose.pod_problems(load("pod_not_ready.yaml"), at(30)) == [{
        "pod": "web-6b8c9d7f4x-d2vgs",
        "container": "server",
        "init": False,
        "kind": "not_ready",
        "reason": "ContainersNotReady",
        "message": "containers with unready status: [server]",
        "restarts": 0,
        "seconds": 30.0,
    }]


def test_readiness_gate_holding_a_pod_is_pod_level_not_ready():
    pod = items("pods_running.yaml")[0]
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    ready.update(status="False", reason="ReadinessGatesNotReady",
                 message="corresponding condition of pod readiness gate \"example.com/lb-ready\" does not exist.")
    [finding] = diagnose.pod_problems(pod, NOW)
    assert (finding["container"], finding["kind"], finding["reason"]) == (None, "not_ready", "ReadinessGatesNotReady")


def test_naive_and_offset_now_are_taken_as_utc():
    pod = load("pod_unschedulable.yaml")
    naive = datetime.datetime(2026, 11, 25, 9, 10, 31)
    plus_one = datetime.datetime(2026, 11, 25, 10, 10, 31, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert [diagnose.pod_problems(pod, now)[0]["seconds"] for now in (naive, plus_one)] == [30.0, 30.0]


def test_default_now_is_the_clock():
    # Recorded in 2026: by the time this runs the pod has waited at least 0s.
    [finding] = diagnose.pod_problems(load("pod_unschedulable.yaml"))
    assert finding["seconds"] >= 0.0


# --- is_pod_active ---------------------------------------------------------------------------------


def test_is_pod_active():
    pod = items("pods_running.yaml")[0]
    assert diagnose.is_pod_active(pod) is True
    deleting = copy.deepcopy(pod)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-25T09:12:00Z"
    assert diagnose.is_pod_active(deleting) is False
    for phase in ("Failed", "Succeeded"):
        finished = copy.deepcopy(pod)
        finished["status"]["phase"] = phase
        assert diagnose.is_pod_active(finished) is False


# --- FlapTracker --------------------------------------------------------------------------------------


def flapping_sequence(pod, statuses):
    """Snapshots of pod whose Ready condition takes each status at successive seconds."""
    return [set_ready(pod, value, "2026-11-25T09:11:%02dZ" % i) for i, value in enumerate(statuses)]


def test_flap_tracker_reports_at_threshold_not_before():
    pod = items("pods_running.yaml")[0]
    tracker = diagnose.FlapTracker()
    results = [tracker.observe(s) for s in flapping_sequence(pod, ["True", "False", "True", "False", "True", "False"])]
    assert [len(r) for r in results] == [0, 0, 0, 0, 0, 1]
    assert results[-1] == [{
        "pod": "web-6b8c9d7f4x-x2k9q",
        "container": "server",
        "init": False,
        "kind": "ready_flapping",
        "reason": "ReadyFlapping",
        "message": "Ready went from True to False 3 times",
        "restarts": 0,
        "seconds": None,
    }]


def test_flap_tracker_counts_only_true_to_false():
    pod = items("pods_running.yaml")[0]
    tracker = diagnose.FlapTracker()
    for snapshot in flapping_sequence(pod, ["False", "True", "False", "True"]):
        tracker.observe(snapshot)
    assert tracker.drops(pod) == 1


def test_flap_tracker_ignores_repeated_identical_snapshots():
    pod = items("pods_running.yaml")[0]
    tracker = diagnose.FlapTracker()
    down = set_ready(pod, "False", "2026-11-25T09:11:05Z")
    tracker.observe(set_ready(pod, "True", "2026-11-25T09:11:00Z"))
    for _repeat in range(5):
        tracker.observe(down)
    assert tracker.drops(pod) == 1


def test_flap_tracker_infers_a_drop_missed_between_ready_snapshots():
    pod = items("pods_running.yaml")[0]
    tracker = diagnose.FlapTracker()
    tracker.observe(set_ready(pod, "True", "2026-11-25T09:11:00Z"))
    tracker.observe(set_ready(pod, "True", "2026-11-25T09:11:30Z"))
    assert tracker.drops(pod) == 1


def test_flap_tracker_infers_a_drop_missed_between_unready_snapshots():
    pod = items("pods_running.yaml")[0]
    tracker = diagnose.FlapTracker()
    tracker.observe(set_ready(pod, "False", "2026-11-25T09:11:00Z"))
    tracker.observe(set_ready(pod, "False", "2026-11-25T09:11:30Z"))
    assert tracker.drops(pod) == 1


def test_flap_tracker_does_not_count_the_first_ready_report():
    # Before the kubelet reports, the pod has no Ready condition at all.
    pod = load("pod_unschedulable.yaml")
    tracker = diagnose.FlapTracker()
    tracker.observe(pod)
    scheduled = copy.deepcopy(pod)
    scheduled["status"]["conditions"].append({"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-25T09:10:30Z"})
    tracker.observe(scheduled)
    assert tracker.drops(pod) == 0


def test_flap_tracker_counts_unknown_as_not_ready():
    pod = items("pods_running.yaml")[0]
    tracker = diagnose.FlapTracker()
    for snapshot in flapping_sequence(pod, ["True", "Unknown"]):
        tracker.observe(snapshot)
    assert tracker.drops(pod) == 1


def test_flap_tracker_keeps_pods_apart():
    first, second = items("pods_running.yaml")[:2]
    tracker = diagnose.FlapTracker(diagnose.Thresholds(flap_transitions=2))
    for snapshot in flapping_sequence(first, ["True", "False", "True", "False"]):
        tracker.observe(snapshot)
    for snapshot in flapping_sequence(second, ["True", "False"]):
        tracker.observe(snapshot)
    assert (tracker.drops(first), tracker.drops(second)) == (2, 1)
    assert [f["pod"] for f in tracker.findings()] == ["web-6b8c9d7f4x-x2k9q"]


def test_flap_tracker_findings_sorted_by_pod():
    tracker = diagnose.FlapTracker(diagnose.Thresholds(flap_transitions=1))
    for pod in reversed(items("pods_running.yaml")):
        for snapshot in flapping_sequence(pod, ["True", "False"]):
            tracker.observe(snapshot)
    assert [f["pod"] for f in tracker.findings()] == [
        "web-6b8c9d7f4x-m4zpt", "web-6b8c9d7f4x-r7wbn", "web-6b8c9d7f4x-x2k9q"]


def test_flap_tracker_disabled():
    pod = items("pods_running.yaml")[0]
    tracker = diagnose.FlapTracker(diagnose.Thresholds(flap_transitions=None))
    results = [tracker.observe(s) for s in flapping_sequence(pod, ["True", "False"] * 5)]
    assert results[-1] == []
    assert tracker.drops(pod) == 5


# --- decide_failure -------------------------------------------------------------------------------------


def test_healthy_rollout_has_no_failure():
    assert diagnose.decide_failure(items("pods_running.yaml"), [], diagnose.Thresholds(), NOW) is None


def test_no_pods_no_failure():
    assert diagnose.decide_failure([], [], diagnose.Thresholds(), NOW) is None


def test_image_pull_on_all_new_pods():
    verdict = diagnose.decide_failure(items("pods_image_pull.yaml"), items("events_image_pull.yaml"), diagnose.Thresholds(), NOW)
    assert verdict["reason"] == "image_pull"
    assert verdict["message"] == (
        'pod web-6b8c9d7f4x-b5vkd container server: ImagePullBackOff (Back-off pulling image "%s": ErrImagePull: %s) '
        "on 2 of 2 new pods" % (PULLFAIL, PULL_ERR))
    assert [(f["pod"], f["reason"]) for f in verdict["evidence"]] == [
        ("web-6b8c9d7f4x-b5vkd", "ImagePullBackOff"), ("web-6b8c9d7f4x-h8ztq", "ErrImagePull")]


def test_image_pull_message_adds_the_registry_error_an_older_kubelet_omits():
    pods = items("pods_image_pull.yaml")
    set_waiting(pods[0], "ImagePullBackOff", 'Back-off pulling image "%s"' % PULLFAIL)
    verdict = diagnose.decide_failure(pods, items("events_image_pull.yaml"), diagnose.Thresholds(), NOW)
    assert verdict["message"] == (
        'pod web-6b8c9d7f4x-b5vkd container server: ImagePullBackOff (Back-off pulling image "%s") '
        "on 2 of 2 new pods; last pull error: %s" % (PULLFAIL, PULL_ERR))


def test_image_pull_message_ignores_pull_errors_of_another_container():
    pods = items("pods_image_pull.yaml")
    set_waiting(pods[0], "ImagePullBackOff", 'Back-off pulling image "%s"' % PULLFAIL)
    events = items("events_image_pull.yaml")
    for event in events:
        event["involvedObject"]["fieldPath"] = "spec.containers{metrics}"
    verdict = diagnose.decide_failure(pods, events, diagnose.Thresholds(), NOW)
    assert verdict["message"].endswith(") on 2 of 2 new pods")


def test_image_pull_threshold_counts_pods():
    pods = items("pods_image_pull.yaml")
    thresholds = diagnose.Thresholds(image_pull_failures=2)
    assert diagnose.decide_failure(pods[:1], [], thresholds, NOW) is None
    assert diagnose.decide_failure(pods, [], thresholds, NOW)["reason"] == "image_pull"


def test_invalid_image_name_fails_immediately_regardless_of_threshold():
    verdict = diagnose.decide_failure([load("pod_invalid_image.yaml")], [], diagnose.Thresholds(image_pull_failures=5), NOW)
    assert verdict["reason"] == "image_pull"
    assert verdict["message"].startswith("pod web-6b8c9d7f4x-q9w4c container server: InvalidImageName (Failed to apply default image tag")
    assert verdict["message"].endswith("must be lowercase) on 1 of 1 new pods")


def test_permanent_pull_error_is_the_representative_over_back_off():
    pods = items("pods_image_pull.yaml") + [renamed(load("pod_invalid_image.yaml"), "web-6b8c9d7f4x-zzzzz")]
    verdict = diagnose.decide_failure(pods, [], diagnose.Thresholds(), NOW)
    assert verdict["message"].startswith("pod web-6b8c9d7f4x-zzzzz container server: InvalidImageName")
    assert verdict["message"].endswith("on 3 of 3 new pods")
    assert [f["reason"] for f in verdict["evidence"]] == ["InvalidImageName", "ImagePullBackOff", "ErrImagePull"]


def test_image_pull_check_disabled():
    assert diagnose.decide_failure(items("pods_image_pull.yaml"), [], diagnose.Thresholds(image_pull_failures=None), NOW) is None


def test_crash_loop_over_threshold():
    verdict = diagnose.decide_failure([load("pod_crash_loop_sidecar.yaml")], items("events_crash_loop.yaml"), diagnose.Thresholds(), NOW)
    assert verdict == {
        "reason": "crash_loop",
        "message": "pod web-6b8c9d7f4x-t6rfx container server: CrashLoopBackOff "
                   "(last terminated: OOMKilled (exit code 137)) after 3 restarts on 1 of 1 new pods",
        "evidence": diagnose.pod_problems(load("pod_crash_loop_sidecar.yaml"), NOW),
    }


@pytest.mark.parametrize("restarts, threshold, fails", [(1, 2, False), (2, 2, True), (3, 2, True), (3, 4, False), (4, 4, True)])
def test_crash_restart_threshold_boundary(restarts, threshold, fails):
    pod = load("pod_crash_loop_sidecar.yaml")
    container_status(pod)["restartCount"] = restarts
    verdict = diagnose.decide_failure([pod], [], diagnose.Thresholds(crash_restarts=threshold), NOW)
    assert (verdict is not None) is fails


def test_crash_loop_of_an_init_container_says_init_container():
    verdict = diagnose.decide_failure([load("pod_init_crash_loop.yaml")], [], diagnose.Thresholds(), NOW)
    assert verdict["message"] == (
        "pod web-6b8c9d7f4x-w8jxm init container fetch-weights: CrashLoopBackOff "
        "(last terminated: Error (exit code 1): botocore.exceptions.NoCredentialsError: Unable to locate credentials) "
        "after 2 restarts on 1 of 1 new pods")


def test_single_restart_still_recovering_is_not_yet_a_failure():
    assert diagnose.decide_failure([load("pod_restarted_not_ready.yaml")], [], diagnose.Thresholds(), NOW) is None


def test_config_error_fails_immediately():
    verdict = diagnose.decide_failure([load("pod_config_error.yaml")], [], diagnose.Thresholds(), NOW)
    assert verdict["reason"] == "config"
    assert verdict["message"] == (
        'pod web-6b8c9d7f4x-k3pls container server: CreateContainerConfigError (secret "hf-token" not found) on 1 of 1 new pods')


@pytest.mark.parametrize("seconds, fails", [(0, False), (29, False), (30, True), (300, True)])
def test_unschedulable_grace_period(seconds, fails):
    verdict = diagnose.decide_failure([load("pod_unschedulable.yaml")], [], diagnose.Thresholds(), at(seconds))
    assert (verdict is not None) is fails


def test_unschedulable_message():
    verdict = diagnose.decide_failure([load("pod_unschedulable.yaml")], items("events_unschedulable.yaml"), diagnose.Thresholds(), at(42.7))
    assert verdict["reason"] == "unschedulable"
    assert verdict["message"] == (
        "pod web-6b8c9d7f4x-z5nqd: Unschedulable (0/3 nodes are available: 3 Insufficient nvidia.com/gpu. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.) for 42s on 1 of 1 new pods")


def test_unschedulable_zero_grace_is_immediate():
    verdict = diagnose.decide_failure([load("pod_unschedulable.yaml")], [], diagnose.Thresholds(unschedulable_seconds=0), at(0))
    assert verdict["reason"] == "unschedulable"


def test_not_ready_alone_is_left_to_the_progress_deadline():
    assert diagnose.decide_failure([load("pod_not_ready.yaml")], [], diagnose.Thresholds(), at(3600)) is None


def test_crash_loop_beats_unschedulable_surge_pod():
    pods = [load("pod_unschedulable.yaml"), load("pod_crash_loop_sidecar.yaml")]
    verdict = diagnose.decide_failure(pods, [], diagnose.Thresholds(), at(120))
    assert verdict["reason"] == "crash_loop"
    assert verdict["message"].endswith("after 3 restarts on 1 of 2 new pods")
    assert [f["kind"] for f in verdict["evidence"]] == ["crash_loop"]


def test_image_pull_beats_config_and_crash_loop():
    pods = [load("pod_config_error.yaml"), load("pod_crash_loop_sidecar.yaml"), items("pods_image_pull.yaml")[1]]
    verdict = diagnose.decide_failure(pods, [], diagnose.Thresholds(), NOW)
    assert verdict["reason"] == "image_pull"
    assert verdict["message"].endswith("on 1 of 3 new pods")


def test_config_beats_crash_loop():
    pods = [load("pod_crash_loop_sidecar.yaml"), load("pod_config_error.yaml")]
    assert diagnose.decide_failure(pods, [], diagnose.Thresholds(), NOW)["reason"] == "config"


def test_kind_below_threshold_does_not_block_a_lower_kind():
    # One pulling pod under a threshold of 2 must not hide a crash loop.
    pods = [items("pods_image_pull.yaml")[0], load("pod_crash_loop_sidecar.yaml")]
    verdict = diagnose.decide_failure(pods, [], diagnose.Thresholds(image_pull_failures=2), NOW)
    assert verdict["reason"] == "crash_loop"


def test_verdict_is_independent_of_input_order():
    pods = items("pods_image_pull.yaml") + [load("pod_config_error.yaml"), load("pod_unschedulable.yaml")]
    forward = diagnose.decide_failure(pods, [], diagnose.Thresholds(), NOW)
    backward = diagnose.decide_failure(list(reversed(pods)), [], diagnose.Thresholds(), NOW)
    assert forward == backward
    assert forward["message"].startswith("pod web-6b8c9d7f4x-b5vkd ")


def test_terminating_and_finished_pods_are_ignored():
    pulling, erring = items("pods_image_pull.yaml")
    erring["metadata"]["deletionTimestamp"] = "2026-11-25T09:11:50Z"
    failed = load("pod_config_error.yaml")
    failed["status"]["phase"] = "Failed"
    verdict = diagnose.decide_failure([pulling, erring, failed], [], diagnose.Thresholds(), NOW)
    assert verdict["message"].endswith("on 1 of 1 new pods")
    assert [f["pod"] for f in verdict["evidence"]] == ["web-6b8c9d7f4x-b5vkd"]


def test_ready_flapping_verdict_from_tracker():
    pods = items("pods_running.yaml")
    tracker = diagnose.FlapTracker()
    for snapshot in flapping_sequence(pods[1], ["True", "False", "True", "False", "True", "False"]):
        tracker.observe(snapshot)
    verdict = diagnose.decide_failure(pods, [], diagnose.Thresholds(), NOW, flapping=tracker.findings())
    assert verdict["reason"] == "ready_flapping"
    assert verdict["message"] == (
        "pod web-6b8c9d7f4x-m4zpt container server: ReadyFlapping (Ready went from True to False 3 times) on 1 of 3 new pods")


def test_defaults_for_thresholds_events_and_now():
    verdict = diagnose.decide_failure([load("pod_config_error.yaml")])
    assert verdict["reason"] == "config"


def test_decide_failure_does_not_mutate_inputs():
    pods = items("pods_image_pull.yaml")
    events = items("events_image_pull.yaml")
    before = copy.deepcopy((pods, events))
    diagnose.decide_failure(pods, events, diagnose.Thresholds(), NOW)
    assert (pods, events) == before


# --- summarize_pods -------------------------------------------------------------------------------------------


def test_summary_of_crash_looping_pod_with_sidecar():
    pod = load("pod_crash_loop_sidecar.yaml")
    uid = pod["metadata"]["uid"]
    server, metrics = diagnose.summarize_pods([pod], items("events_crash_loop.yaml"))
    assert server == {
        "pod": "web-6b8c9d7f4x-t6rfx",
        "container": "server",
        "phase": "Running",
        "ready": False,
        "waiting_reason": "CrashLoopBackOff",
        "waiting_message": "back-off 40s restarting failed container=server pod=web-6b8c9d7f4x-t6rfx_models(%s)" % uid,
        "last_terminated": "OOMKilled (exit code 137)",
        "restarts": 3,
        "last_events": [
            'Normal Pulled: Container image "registry.example.com/models/server:1.4.3" already present on machine (x4)',
            "Normal Created: Created container: server (x4)",
            "Normal Started: Started container server (x4)",
            'Warning Unhealthy: Readiness probe failed: Get "http://10.244.1.40:8080/v2/health/ready": '
            "dial tcp 10.244.1.40:8080: connect: connection refused (x9)",
            "Warning BackOff: Back-off restarting failed container server in pod web-6b8c9d7f4x-t6rfx_models(%s) (x6)" % uid,
        ],
        "log_tail": [],
    }
    assert metrics == {
        "pod": "web-6b8c9d7f4x-t6rfx",
        "container": "metrics",
        "phase": "Running",
        "ready": True,
        "waiting_reason": None,
        "waiting_message": None,
        "last_terminated": None,
        "restarts": 0,
        "last_events": [
            "Normal Scheduled: Successfully assigned models/web-6b8c9d7f4x-t6rfx to gpu-node-1",
            'Normal Pulled: Container image "registry.example.com/ops/metrics-exporter:0.9.1" already present on machine',
            "Normal Created: Created container: metrics",
            "Normal Started: Started container metrics",
        ],
        "log_tail": [],
    }


def test_summary_events_newest_last_and_capped_at_five():
    rows = diagnose.summarize_pods(items("pods_image_pull.yaml"), items("events_image_pull.yaml"))
    assert [row["pod"] for row in rows] == ["web-6b8c9d7f4x-b5vkd", "web-6b8c9d7f4x-h8ztq"]
    assert rows[0]["last_events"] == [
        'Normal Pulling: Pulling image "%s" (x3)' % PULLFAIL,
        'Warning Failed: Failed to pull image "%s": %s (x3)' % (PULLFAIL, PULL_ERR),
        "Warning Failed: Error: ErrImagePull (x3)",
        'Normal BackOff: Back-off pulling image "%s" (x5)' % PULLFAIL,
        "Warning Failed: Error: ImagePullBackOff (x5)",
    ]
    # Four events for the second pod, the scheduler's (eventTime only) first.
    assert rows[1]["last_events"][0] == "Normal Scheduled: Successfully assigned models/web-6b8c9d7f4x-h8ztq to gpu-node-2"
    assert len(rows[1]["last_events"]) == 4


def test_summary_ignores_events_of_a_same_named_earlier_pod():
    pod = load("pod_crash_loop_sidecar.yaml")
    events = items("events_crash_loop.yaml")
    for event in events:
        event["involvedObject"]["uid"] = "00000000-0000-4000-8000-000000000000"
    assert [row["last_events"] for row in diagnose.summarize_pods([pod], events)] == [[], []]


def test_summary_of_unscheduled_pod_uses_the_scheduling_condition():
    [row] = diagnose.summarize_pods([load("pod_unschedulable.yaml")], items("events_unschedulable.yaml"))
    assert row["phase"] == "Pending"
    assert row["ready"] is False
    assert row["waiting_reason"] == "Unschedulable"
    assert row["waiting_message"].startswith("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    assert row["restarts"] == 0
    # Count comes from the events.k8s.io series.
    assert row["last_events"] == [
        "Warning FailedScheduling: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu. "
        "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod. (x4)"]


def test_summary_lists_failing_init_container_first():
    rows = diagnose.summarize_pods([load("pod_init_crash_loop.yaml")])
    assert [(r["container"], r["waiting_reason"], r["restarts"]) for r in rows] == [
        ("fetch-weights", "CrashLoopBackOff", 2), ("server", "PodInitializing", 0)]
    assert rows[0]["last_terminated"] == (
        "Error (exit code 1): botocore.exceptions.NoCredentialsError: Unable to locate credentials\n")


def test_summary_omits_init_containers_that_succeeded():
    pod = load("pod_init_crash_loop.yaml")
    container_status(pod, "fetch-weights", init=True)["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    assert [r["container"] for r in diagnose.summarize_pods([pod])] == ["server"]


def test_summary_attaches_log_tails_by_pod_and_container():
    pod = load("pod_crash_loop_sidecar.yaml")
    tails = {
        ("web-6b8c9d7f4x-t6rfx", "server"): "loading weights\ntorch.OutOfMemoryError: CUDA out of memory\n",
        ("web-6b8c9d7f4x-t6rfx", "metrics"): ["listening on :9400"],
        ("another-pod", "server"): ["not mine"],
    }
    rows = diagnose.summarize_pods([pod], [], tails)
    assert [r["log_tail"] for r in rows] == [
        ["loading weights", "torch.OutOfMemoryError: CUDA out of memory"], ["listening on :9400"]]


def test_summary_rows_sorted_by_pod_name():
    pods = list(reversed(items("pods_running.yaml")))
    assert [r["pod"] for r in diagnose.summarize_pods(pods)] == [
        "web-6b8c9d7f4x-m4zpt", "web-6b8c9d7f4x-r7wbn", "web-6b8c9d7f4x-x2k9q"]


def test_summary_without_spec_falls_back_to_status_names():
    pod = load("pod_config_error.yaml")
    del pod["spec"]
    [row] = diagnose.summarize_pods([pod])
    assert (row["container"], row["waiting_reason"]) == ("server", "CreateContainerConfigError")


def test_event_count_of_one_is_not_shown():
    [row] = diagnose.summarize_pods([load("pod_config_error.yaml")], [{
        "involvedObject": {"kind": "Pod", "name": "web-6b8c9d7f4x-k3pls", "fieldPath": "spec.containers{server}"},
        "reason": "Failed", "message": 'Error: secret "hf-token" not found', "type": "Warning", "count": 1,
        "lastTimestamp": "2026-11-25T09:10:05Z", "metadata": {"name": "e1"},
    }])
    assert row["last_events"] == ['Warning Failed: Error: secret "hf-token" not found']


# --- find_new_replicaset / pods_of_replicaset -------------------------------------------------------------------


def test_new_replicaset_is_the_controlled_one_with_the_current_template():
    rs = diagnose.find_new_replicaset(load("deployment_updating.yaml"), items("replicasets_updating.yaml"))
    # The orphan has the same template and is older, but is not controlled by the Deployment.
    assert rs["metadata"]["name"] == "web-6b8c9d7f4x"


def test_new_replicaset_of_the_previous_revision():
    rs = diagnose.find_new_replicaset(load("deployment_complete.yaml"), items("replicasets_updating.yaml"))
    assert rs["metadata"]["name"] == "web-7d9f8c6b5d"


def test_no_new_replicaset_while_paused_template_is_pending():
    assert diagnose.find_new_replicaset(load("deployment_paused.yaml"), items("replicasets_updating.yaml")) is None


def test_new_replicaset_picks_the_oldest_duplicate():
    replicasets = items("replicasets_updating.yaml")
    twin = copy.deepcopy(replicasets[2])
    twin["metadata"].update(name="web-6b8c9d7f4y", creationTimestamp="2026-11-25T09:09:59Z")
    rs = diagnose.find_new_replicaset(load("deployment_updating.yaml"), replicasets + [twin])
    assert rs["metadata"]["name"] == "web-6b8c9d7f4y"


def test_new_replicaset_template_compare_ignores_empty_values():
    obj = load("deployment_updating.yaml")
    obj["spec"]["template"]["spec"].pop("securityContext")
    obj["spec"]["template"]["metadata"].pop("creationTimestamp")
    rs = diagnose.find_new_replicaset(obj, items("replicasets_updating.yaml"))
    assert rs["metadata"]["name"] == "web-6b8c9d7f4x"


def test_new_replicaset_template_compare_sees_other_label_changes():
    obj = load("deployment_updating.yaml")
    obj["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
    assert diagnose.find_new_replicaset(obj, items("replicasets_updating.yaml")) is None


def test_pods_of_replicaset():
    replicasets = items("replicasets_updating.yaml")
    pods = items("pods_running.yaml")
    assert [p["metadata"]["name"] for p in diagnose.pods_of_replicaset(replicasets[2], pods)] == [
        "web-6b8c9d7f4x-m4zpt", "web-6b8c9d7f4x-r7wbn", "web-6b8c9d7f4x-x2k9q"]
    assert diagnose.pods_of_replicaset(replicasets[1], pods) == []


def test_summary_orders_events_by_time_not_by_list_order():
    # The API lists events by name, which is not chronological across reporters.
    pods = items("pods_image_pull.yaml")
    events = items("events_image_pull.yaml")
    assert diagnose.summarize_pods(pods, list(reversed(events))) == diagnose.summarize_pods(pods, events)


def test_non_controller_owner_reference_does_not_claim():
    replicasets = items("replicasets_updating.yaml")
    orphan = replicasets[3]
    orphan["metadata"]["ownerReferences"] = [dict(replicasets[2]["metadata"]["ownerReferences"][0], controller=False)]
    rs = diagnose.find_new_replicaset(load("deployment_updating.yaml"), replicasets)
    assert rs["metadata"]["name"] == "web-6b8c9d7f4x"


def test_not_ready_is_no_failure_by_default():
    assert diagnose.decide_failure([load("pod_not_ready.yaml")], now=at(3600)) is None


@pytest.mark.parametrize("seconds_after, expected", [(29, None), (30, "not_ready")])
def test_not_ready_fails_once_its_threshold_is_reached(seconds_after, expected):
    thresholds = diagnose.Thresholds(not_ready_seconds=30)
    verdict = diagnose.decide_failure([load("pod_not_ready.yaml")], thresholds=thresholds, now=at(seconds_after))
    if expected is None:
        assert verdict is None
    else:
        assert verdict["reason"] == "not_ready"
        assert verdict["message"] == (
            "pod web-6b8c9d7f4x-d2vgs container server: ContainersNotReady "
            "(containers with unready status: [server]) for 30s on 1 of 1 new pods")


def test_not_ready_threshold_rejects_negative():
    with pytest.raises(ValueError, match="not_ready_seconds"):
        diagnose.Thresholds(not_ready_seconds=-1)


def test_new_replicaset_template_compare_sees_template_annotations():
    obj = load("deployment_updating.yaml")
    obj["spec"]["template"]["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = "now"
    assert diagnose.find_new_replicaset(obj, items("replicasets_updating.yaml")) is None


def test_new_replicaset_twins_created_the_same_second_are_told_apart_by_name():
    replicasets = items("replicasets_updating.yaml")
    twin = copy.deepcopy(replicasets[2])
    twin["metadata"]["name"] = "web-6b8c9d7f4a"
    for order in (replicasets + [twin], [twin] + replicasets, list(reversed(replicasets + [twin]))):
        assert diagnose.find_new_replicaset(load("deployment_updating.yaml"), order)["metadata"]["name"] == (
            "web-6b8c9d7f4a")


def test_an_unschedulable_pod_just_seen_is_within_a_one_second_grace():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "lastTransitionTime": "2026-11-25T09:00:00Z"}]}}
    now = datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=datetime.timezone.utc)
    assert diagnose.decide_failure([pod], thresholds=diagnose.Thresholds(unschedulable_seconds=1), now=now) is None
    assert diagnose.decide_failure([pod], thresholds=diagnose.Thresholds(unschedulable_seconds=0),
                                   now=now)["reason"] == "unschedulable"


@pytest.mark.parametrize("event, line", [
    ({"reason": "Pulled", "message": "pulled"}, "Normal Pulled: pulled"),
    ({"type": "Warning", "message": "no room", "count": 2}, "Warning : no room (x2)"),
    ({"type": "Warning", "reason": "BackOff", "message": "back-off", "series": {"count": 7}},
     "Warning BackOff: back-off (x7)"),
])
def test_an_event_line_is_type_reason_message_and_its_count_from_two(event, line):
    assert diagnose.format_event(event) == line


def test_summary_reports_every_init_container_after_the_first_that_succeeded_with_its_own_events():
    pod = {"metadata": {"name": "p", "uid": "u"},
           "spec": {"initContainers": [{"name": "done"}, {"name": "fetch"}, {"name": "later"}],
                    "containers": [{"name": "fetch"}]},
           "status": {"phase": "Pending", "initContainerStatuses": [
               {"name": "done", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
               {"name": "fetch", "restartCount": 1, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}}
    events = [{"involvedObject": {"kind": "Pod", "name": "p", "uid": "u", "fieldPath": "spec.initContainers{fetch}"},
               "type": "Warning", "reason": "BackOff", "message": "init back-off", "metadata": {"name": "e1"}},
              {"involvedObject": {"kind": "Pod", "name": "p", "uid": "u", "fieldPath": "spec.containers{fetch}"},
               "type": "Normal", "reason": "Pulled", "message": "app image", "metadata": {"name": "e2"}}]
    rows = diagnose.summarize_pods([pod], events)
    assert [(r["container"], r["restarts"], r["last_events"]) for r in rows] == [
        ("fetch", 1, ["Warning BackOff: init back-off"]),
        ("later", 0, []),
        ("fetch", 0, ["Normal Pulled: app image"]),
    ]
    assert rows[1] == {"pod": "p", "container": "later", "phase": "Pending", "ready": False, "waiting_reason": None,
                       "waiting_message": None, "last_terminated": None, "restarts": 0, "last_events": [],
                       "log_tail": []}


def event(name, message, **times):
    e = {"involvedObject": {"kind": "Pod", "name": "p"}, "type": "Normal", "reason": "R", "message": message,
         "metadata": {"name": name}}
    creation = times.pop("creationTimestamp", None)
    if creation:
        e["metadata"]["creationTimestamp"] = creation
    e.update(times)
    return e


def test_events_are_ordered_by_the_first_time_each_carries_newest_last():
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "s"}]}, "status": {}}
    # Names run against time, so an order by name would show it.
    events = [
        event("a", "by creation", creationTimestamp="2026-11-25T09:00:05Z"),
        event("b", "by first", firstTimestamp="2026-11-25T09:00:04Z"),
        event("c", "by eventTime", eventTime="2026-11-25T09:00:03.000000Z"),
        event("d", "by series", series={"count": 2, "lastObservedTime": "2026-11-25T09:00:02.000000Z"}),
        event("e", "by last", lastTimestamp="2026-11-25T09:00:01Z", firstTimestamp="2026-11-25T09:00:09Z"),
        event("f", "no time", lastTimestamp="not a time"),
    ]
    [row] = diagnose.summarize_pods([pod], events)
    assert row["last_events"] == ["Normal R: by last", "Normal R: by series (x2)", "Normal R: by eventTime",
                                  "Normal R: by first", "Normal R: by creation"]
    events.append(event("g", "latest", lastTimestamp="2026-11-25T09:00:06Z",
                        series={"lastObservedTime": "2026-11-25T08:00:00.000000Z"},
                        eventTime="2026-11-25T08:00:00.000000Z"))
    [row] = diagnose.summarize_pods([pod], events)
    assert row["last_events"][-1] == "Normal R: latest" and row["last_events"][0] == "Normal R: by series (x2)"


def test_events_of_the_same_second_are_ordered_by_name():
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "s"}]}, "status": {}}
    same = "2026-11-25T09:00:01Z"
    [row] = diagnose.summarize_pods([pod], [event("b", "second", lastTimestamp=same),
                                            event("a", "first", lastTimestamp=same)])
    assert row["last_events"] == ["Normal R: first", "Normal R: second"]


def test_an_init_container_s_pull_error_is_added_from_its_own_event():
    pod = {"metadata": {"name": "p", "uid": "u"}, "spec": {"initContainers": [{"name": "fetch"}],
                                                           "containers": [{"name": "fetch"}]},
           "status": {"phase": "Pending", "initContainerStatuses": [
               {"name": "fetch", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}}]}}
    pull = {"involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.initContainers{fetch}"},
            "reason": "Failed", "message": 'Failed to pull image "r/fetch:v9": not found', "metadata": {"name": "e"},
            "lastTimestamp": "2026-11-25T09:00:00Z"}
    verdict = diagnose.decide_failure([pod], [pull], diagnose.Thresholds(), NOW)
    assert verdict["message"] == ("pod p init container fetch: ImagePullBackOff (Back-off) on 1 of 1 new pods; "
                                  "last pull error: not found")


def test_a_pod_the_tracker_never_saw_has_no_drops():
    assert diagnose.FlapTracker().drops(load("pod_unschedulable.yaml")) == 0


def test_flap_tracker_tells_pods_apart_by_uid_then_by_namespace_and_name():
    up, down = ("2026-11-25T09:00:00Z", "2026-11-25T09:00:10Z")

    def snapshot(ready, changed_at, uid=None, namespace="serving", name="p"):
        pod = {"metadata": {"name": name, "namespace": namespace},
               "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                          "lastTransitionTime": changed_at}]}}
        if uid:
            pod["metadata"]["uid"] = uid
        return pod

    tracker = diagnose.FlapTracker()
    # A pod recreated under the same name is another pod: its first look is no drop of the old one.
    tracker.observe(snapshot(True, up, uid="old"))
    tracker.observe(snapshot(False, down, uid="new"))
    assert tracker.drops(snapshot(False, down, uid="new")) == 0
    for other in (dict(namespace="other"), dict(name="q")):
        tracker = diagnose.FlapTracker()
        tracker.observe(snapshot(True, up))
        tracker.observe(snapshot(False, down, **other))
        assert tracker.drops(snapshot(True, up)) == 0
    tracker.observe(snapshot(False, down))
    assert tracker.drops(snapshot(True, up)) == 1


def test_flap_tracker_takes_a_snapshot_without_ready_as_saying_nothing():
    pod = {"metadata": {"name": "p", "uid": "u"}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-25T09:00:00Z"}]}}
    tracker = diagnose.FlapTracker()
    tracker.observe(pod)
    tracker.observe({"metadata": {"name": "p", "uid": "u"}, "status": {}})
    assert tracker.drops(pod) == 0


def test_only_the_pod_s_own_events_are_shown_whatever_comes_before_them():
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "s"}]}, "status": {}}
    rs_event = event("a", "of the ReplicaSet", lastTimestamp="2026-11-25T09:00:01Z")
    rs_event["involvedObject"]["kind"] = "ReplicaSet"
    other = event("b", "of another pod", lastTimestamp="2026-11-25T09:00:02Z")
    other["involvedObject"]["name"] = "q"
    unkinded = event("c", "no kind is a pod's", lastTimestamp="2026-11-25T09:00:03Z")
    del unkinded["involvedObject"]["kind"]
    [row] = diagnose.summarize_pods([pod], [rs_event, other, unkinded, event("d", "mine", lastTimestamp="2026-11-25T09:00:04Z")])
    assert row["last_events"] == ["Normal R: no kind is a pod's", "Normal R: mine"]


def test_verdict_lines_leave_out_what_the_kubelet_did_not_say():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running", "containerStatuses": [
        {"name": "s", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    assert diagnose.decide_failure([pod], now=NOW)["message"] == (
        "pod p container s: CrashLoopBackOff after 2 restarts on 1 of 1 new pods")
    pod["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 1}}
    assert diagnose.decide_failure([pod], now=NOW)["message"] == (
        "pod p container s: CrashLoopBackOff (last terminated: Terminated (exit code 1)) after 2 restarts "
        "on 1 of 1 new pods")
    pending = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": NOW.isoformat()}]}}
    assert diagnose.decide_failure([pending], thresholds=diagnose.Thresholds(unschedulable_seconds=0),
                                   now=NOW)["message"] == "pod p: Unschedulable for 0s on 1 of 1 new pods"


def test_a_flapping_pod_names_its_first_unready_container_and_its_restarts():
    def snapshot(ready, changed_at, statuses):
        return {"metadata": {"name": "p", "uid": "u"}, "status": {"conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": changed_at}],
            "containerStatuses": statuses}}

    statuses = [{"name": "proxy", "ready": True, "restartCount": 9}, {"name": "server", "ready": False, "restartCount": 4}]
    tracker = diagnose.FlapTracker(diagnose.Thresholds(flap_transitions=1))
    tracker.observe(snapshot(True, "2026-11-25T09:00:00Z", statuses))
    [finding] = tracker.observe(snapshot(False, "2026-11-25T09:00:10Z", statuses))
    assert (finding["container"], finding["restarts"], finding["message"]) == (
        "server", 4, "Ready went from True to False 1 times")
    tracker = diagnose.FlapTracker(diagnose.Thresholds(flap_transitions=1))
    tracker.observe(snapshot(True, "2026-11-25T09:00:00Z", []))
    [finding] = tracker.observe(snapshot(False, "2026-11-25T09:00:10Z", []))
    assert (finding["container"], finding["restarts"]) == (None, 0)


def test_terminated_containers_are_crash_loops_with_their_restarts_and_the_kubelet_s_reason_or_terminated():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running", "containerStatuses": [
        {"name": "s", "restartCount": 3, "state": {"terminated": {"exitCode": 2}}}]}}
    [finding] = diagnose.pod_problems(pod, NOW)
    assert (finding["reason"], finding["restarts"], finding["message"]) == (
        "Terminated", 3, "terminated: Terminated (exit code 2)")
    pod["status"]["containerStatuses"][0] = {"name": "s", "state": {"terminated": {"exitCode": 2}}}
    assert diagnose.pod_problems(pod, NOW)[0]["restarts"] == 0
    init = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "initContainerStatuses": [
        {"name": "fetch", "restartCount": 1, "ready": False, "state": {"running": {}},
         "lastState": {"terminated": {"exitCode": 1}}}]}}
    [finding] = diagnose.pod_problems(init, NOW)
    assert (finding["init"], finding["reason"], finding["restarts"]) == (True, "Terminated", 1)
    # A last exit with no restart counted is not a crash in progress.
    init["status"]["initContainerStatuses"][0]["restartCount"] = 0
    assert diagnose.pod_problems(init, NOW) == []


def test_evidence_lists_init_containers_first_then_containers_by_name():
    crash = {"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending",
                                                 "initContainerStatuses": [dict(crash, name="z-init")],
                                                 "containerStatuses": [dict(crash, name="b"), dict(crash, name="a")]}}
    evidence = diagnose.decide_failure([pod], now=NOW)["evidence"]
    assert [(f["container"], f["init"]) for f in evidence] == [("z-init", True), ("a", False), ("b", False)]


def test_a_not_ready_pod_just_seen_is_within_a_one_second_threshold():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False", "lastTransitionTime": NOW.isoformat()}],
        "containerStatuses": [{"name": "s", "ready": False, "state": {"running": {}}}]}}
    assert diagnose.decide_failure([pod], thresholds=diagnose.Thresholds(not_ready_seconds=1), now=NOW) is None


def test_parse_time_takes_a_lowercase_z_as_utc():
    assert diagnose.parse_time("2026-11-25T09:00:00z") == datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
