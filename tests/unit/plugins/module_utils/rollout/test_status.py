"""Rollout verdicts: kubectl's DeploymentStatusViewer and the controller's fenceposts."""

import copy
import os

import pytest
import yaml

from ansible_collections.modelops.serving.plugins.module_utils.rollout import status

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return yaml.safe_load(handle)


def deployment(name="deployment_complete.yaml", **spec):
    """A recorded Deployment with spec fields overridden (None deletes the field)."""
    obj = copy.deepcopy(load(name))
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


def with_status(obj, **fields):
    obj = copy.deepcopy(obj)
    obj["status"].update(fields)
    return obj


def rolling(max_surge, max_unavailable):
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}}


# --- resolve_fenceposts ---------------------------------------------------------


@pytest.mark.parametrize(
    "max_surge, max_unavailable, desired, expected",
    [
        # 0.75 rounds up for surge, down for unavailable.
        ("25%", "25%", 3, (1, 0)),
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 10, (3, 2)),
        ("10%", "10%", 10, (1, 1)),
        ("10%", "10%", 5, (1, 0)),
        ("50%", "50%", 5, (3, 2)),
        ("100%", "100%", 3, (3, 3)),
        # Surge may exceed 100%: only maxUnavailable is capped by validation.
        ("200%", 0, 3, (6, 0)),
        # Plain ints are not scaled or capped by desired.
        (1, 0, 3, (1, 0)),
        (2, 5, 3, (2, 5)),
        ("1%", 1, 3, (1, 1)),
    ],
)
def test_resolve_fenceposts_scales_and_rounds(max_surge, max_unavailable, desired, expected):
    assert status.resolve_fenceposts(max_surge, max_unavailable, desired) == expected


@pytest.mark.parametrize(
    "max_surge, max_unavailable, desired",
    [
        ("0%", "0%", 10),
        (0, 0, 3),
        # Unavailable 25% of 3 rounds down to 0 while surge is explicitly 0.
        (0, "25%", 3),
        ("0%", "10%", 9),
        (None, None, 3),
        ("25%", "25%", 0),
    ],
)
def test_resolve_fenceposts_both_zero_forces_one_unavailable(max_surge, max_unavailable, desired):
    assert status.resolve_fenceposts(max_surge, max_unavailable, desired) == (0, 1)


def test_resolve_fenceposts_treats_missing_desired_as_zero():
    assert status.resolve_fenceposts("25%", "25%", None) == (0, 1)


@pytest.mark.parametrize(
    "max_surge, max_unavailable, field, fragment",
    [
        (-1, "25%", "maxSurge", "greater than or equal to 0"),
        ("25%", -2, "maxUnavailable", "greater than or equal to 0"),
        ("25", "25%", "maxSurge", "percentage"),
        ("25%", "abc", "maxUnavailable", "percentage"),
        ("25.5%", "25%", "maxSurge", "percentage"),
        ("-5%", "25%", "maxSurge", "percentage"),
        (" 5%", "25%", "maxSurge", "percentage"),
        (1.5, "25%", "maxSurge", "percentage"),
        (True, "25%", "maxSurge", "percentage"),
        ("25%", "150%", "maxUnavailable", "greater than 100%"),
    ],
)
def test_resolve_fenceposts_rejects_what_the_api_rejects(max_surge, max_unavailable, field, fragment):
    with pytest.raises(ValueError) as error:
        status.resolve_fenceposts(max_surge, max_unavailable, 3)
    assert field in str(error.value)
    assert fragment in str(error.value)


@pytest.mark.parametrize("desired", [-1, "3", 2.0])
def test_resolve_fenceposts_rejects_bad_desired(desired):
    with pytest.raises(ValueError, match="desired replicas"):
        status.resolve_fenceposts("25%", "25%", desired)


# --- capacity_floor -------------------------------------------------------------


def test_capacity_floor_of_three_replicas_at_25_percent_keeps_all_three():
    assert status.capacity_floor(deployment()) == 3


@pytest.mark.parametrize(
    "replicas, strategy, floor",
    [
        (4, rolling("25%", "25%"), 3),
        (10, rolling("25%", "25%"), 8),
        (10, rolling("10%", "10%"), 9),
        (3, rolling(0, 0), 2),
        (3, rolling(1, 0), 3),
        (3, rolling(0, 5), 0),
        (0, rolling("25%", "25%"), 0),
        (5, rolling("0%", "100%"), 0),
    ],
)
def test_capacity_floor_rolling_update(replicas, strategy, floor):
    assert status.capacity_floor(deployment(replicas=replicas, strategy=strategy)) == floor


def test_capacity_floor_recreate_is_zero():
    assert status.capacity_floor(load("deployment_recreate.yaml")) == 0


def test_capacity_floor_uses_api_defaults_for_an_undefaulted_manifest():
    # 25% of 4 -> maxUnavailable 1.
    assert status.capacity_floor(deployment(replicas=4, strategy=None)) == 3
    assert status.capacity_floor(deployment(replicas=4, strategy={"type": "RollingUpdate"})) == 3


def test_capacity_floor_defaults_missing_replicas_to_one():
    assert status.capacity_floor(deployment(replicas=None)) == 1


def test_capacity_floor_propagates_invalid_strategy():
    with pytest.raises(ValueError, match="maxUnavailable"):
        status.capacity_floor(deployment(strategy=rolling("25%", "101%")))


# --- rollout_status: kubectl's sequence ------------------------------------------


def test_complete_rollout_is_done():
    result = status.rollout_status(load("deployment_complete.yaml"))
    assert result == status.RolloutStatus(True, False, "complete", 'deployment "web" successfully rolled out')


def test_generation_not_observed_waits_for_spec_update():
    result = status.rollout_status(load("deployment_generation_lag.yaml"))
    assert result == status.RolloutStatus(False, False, "waiting_generation", "Waiting for deployment spec update to be observed...")


def test_freshly_created_deployment_without_status_waits_for_generation():
    result = status.rollout_status(load("deployment_created.yaml"))
    assert (result.done, result.failed, result.reason) == (False, False, "waiting_generation")


def test_observed_generation_ahead_of_generation_counts_as_observed():
    obj = with_status(load("deployment_complete.yaml"), observedGeneration=7)
    assert status.rollout_status(obj).reason == "complete"


def test_updating_reports_new_replica_count():
    result = status.rollout_status(load("deployment_updating.yaml"))
    assert result == status.RolloutStatus(
        False, False, "updating",
        'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
    )


def test_old_replicas_pending_termination():
    result = status.rollout_status(load("deployment_old_terminating.yaml"))
    assert result == status.RolloutStatus(
        False, False, "old_replicas_terminating",
        'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
    )


def test_waiting_for_updated_replicas_to_become_available():
    result = status.rollout_status(load("deployment_waiting_available.yaml"))
    assert result == status.RolloutStatus(
        False, False, "waiting_available",
        'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
    )


def test_progress_deadline_exceeded_fails_before_replica_checks():
    # The fixture also has 1 of 3 updated: kubectl checks the deadline first.
    result = status.rollout_status(load("deployment_deadline_exceeded.yaml"))
    assert result == status.RolloutStatus(False, True, "progress_deadline_exceeded", 'deployment "web" exceeded its progress deadline')


def test_progress_deadline_is_not_trusted_while_generation_lags():
    obj = load("deployment_deadline_exceeded.yaml")
    obj["metadata"]["generation"] = 4
    assert status.rollout_status(obj).reason == "waiting_generation"


def test_progress_deadline_reason_only_counts_on_the_progressing_condition():
    obj = load("deployment_updating.yaml")
    available = obj["status"]["conditions"][0]
    available.update(status="False", reason="ProgressDeadlineExceeded")
    result = status.rollout_status(obj)
    assert (result.failed, result.reason) == (False, "updating")


def test_progressing_false_for_another_reason_is_not_a_failure():
    obj = load("deployment_updating.yaml")
    obj["status"]["conditions"][1].update(status="False", reason="ReplicaSetCreateError")
    assert status.rollout_status(obj).failed is False


def test_scaled_to_zero_with_empty_status_counts_is_done():
    result = status.rollout_status(load("deployment_scaled_to_zero.yaml"))
    assert result == status.RolloutStatus(True, False, "complete", 'deployment "web" successfully rolled out')


def test_scaled_to_zero_with_old_pods_still_counted_waits_for_termination():
    obj = with_status(load("deployment_scaled_to_zero.yaml"), replicas=2)
    result = status.rollout_status(obj)
    assert result.reason == "old_replicas_terminating"
    assert result.message == 'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...'


def test_missing_status_counts_are_zero():
    obj = load("deployment_complete.yaml")
    obj["status"] = {"observedGeneration": 2}
    result = status.rollout_status(obj)
    assert result.message == 'Waiting for deployment "web" rollout to finish: 0 out of 3 new replicas have been updated...'


def test_missing_spec_replicas_skips_the_updated_check_like_kubectl():
    obj = deployment(replicas=None)
    obj["status"] = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}
    result = status.rollout_status(obj)
    assert result.message == 'Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...'


def test_missing_status_and_metadata_generation_is_done_when_nothing_is_wanted():
    obj = {"metadata": {"name": "bare"}, "spec": {"replicas": 0}}
    assert status.rollout_status(obj) == status.RolloutStatus(True, False, "complete", 'deployment "bare" successfully rolled out')


# --- rollout_status: paused -----------------------------------------------------


def test_paused_deployment_with_pending_template_is_paused_not_waiting():
    result = status.rollout_status(load("deployment_paused.yaml"))
    assert result == status.RolloutStatus(
        False, False, "paused",
        'deployment "web" is paused and will not progress until resumed '
        '(Waiting for deployment "web" rollout to finish: 0 out of 3 new replicas have been updated...)',
    )


def test_paused_deployment_that_is_complete_is_done():
    obj = deployment(paused=True)
    assert status.rollout_status(obj).reason == "complete"


def test_paused_deployment_with_generation_lag_waits_for_generation():
    obj = load("deployment_paused.yaml")
    obj["metadata"]["generation"] = 5
    assert status.rollout_status(obj).reason == "waiting_generation"


def test_paused_false_is_not_paused():
    obj = deployment("deployment_updating.yaml", paused=False)
    assert status.rollout_status(obj).reason == "updating"


def test_paused_does_not_hide_a_deadline_failure():
    obj = deployment("deployment_deadline_exceeded.yaml", paused=True)
    assert status.rollout_status(obj).reason == "progress_deadline_exceeded"


# --- rollout_status: revision ----------------------------------------------------


def test_matching_revision_is_judged_normally():
    assert status.rollout_status(load("deployment_updating.yaml"), revision=3).reason == "updating"


def test_revision_mismatch_fails_with_kubectl_error():
    result = status.rollout_status(load("deployment_updating.yaml"), revision=2)
    assert result == status.RolloutStatus(
        False, True, "revision_mismatch", "desired revision (2) is different from the running revision (3)")


@pytest.mark.parametrize("revision", [None, 0, -1])
def test_non_positive_revision_is_ignored_like_kubectl(revision):
    assert status.rollout_status(load("deployment_updating.yaml"), revision=revision).reason == "updating"


def test_missing_revision_annotation_is_revision_zero():
    result = status.rollout_status(load("deployment_created.yaml"), revision=1)
    assert result.message == "desired revision (1) is different from the running revision (0)"


def test_unparsable_revision_annotation_fails():
    obj = load("deployment_complete.yaml")
    obj["metadata"]["annotations"][status.REVISION_ANNOTATION] = "two"
    result = status.rollout_status(obj, revision=2)
    assert (result.done, result.failed, result.reason) == (False, True, "revision_invalid")
    assert result.message == 'cannot get the revision of deployment "web": strconv.ParseInt: parsing "two": invalid syntax'


# --- result shape -----------------------------------------------------------------


def test_result_is_immutable():
    result = status.rollout_status(load("deployment_complete.yaml"))
    with pytest.raises(AttributeError):
        result.done = False


def test_result_fields():
    assert status.RolloutStatus._fields == ("done", "failed", "reason", "message")


def test_inputs_are_not_mutated():
    obj = load("deployment_paused.yaml")
    before = copy.deepcopy(obj)
    status.rollout_status(obj, revision=2)
    status.capacity_floor(obj)
    status.progress(obj)
    assert obj == before


# --- progress ------------------------------------------------------------------------


def test_progress_mid_rollout():
    assert status.progress(load("deployment_updating.yaml")) == {
        "desired": 3, "updated": 1, "ready": 3, "available": 3, "unavailable": 1, "total": 4,
    }


def test_progress_scaled_to_zero_is_all_zero():
    assert status.progress(load("deployment_scaled_to_zero.yaml")) == {
        "desired": 0, "updated": 0, "ready": 0, "available": 0, "unavailable": 0, "total": 0,
    }


def test_progress_of_new_deployment_knows_only_desired():
    assert status.progress(load("deployment_created.yaml")) == {
        "desired": 3, "updated": 0, "ready": 0, "available": 0, "unavailable": 0, "total": 0,
    }


def test_progress_paused_omits_updated():
    assert status.progress(load("deployment_paused.yaml"))["updated"] == 0
    assert status.progress(load("deployment_paused.yaml"))["available"] == 3


def test_capacity_floor_of_zero_unavailable_keeps_every_replica_when_surge_is_the_api_default():
    # maxSurge left out is 25% (at least one pod), so unavailable 0 stands and nothing may go.
    assert status.capacity_floor(deployment(replicas=3, strategy={"type": "RollingUpdate",
                                                                  "rollingUpdate": {"maxUnavailable": 0}})) == 3


def test_a_surge_percentage_rounds_up_to_the_next_whole_pod():
    assert status.resolve_fenceposts("50%", 0, 203) == (102, 0)


@pytest.mark.parametrize("max_surge, max_unavailable, message", [
    ("lots", "25%", "maxSurge must be an integer or a percentage like '25%', got 'lots'"),
    (True, "25%", "maxSurge must be an integer or a percentage like '25%', got True"),
    (1, -2, "maxUnavailable must be greater than or equal to 0, got -2"),
    (1, "x", "maxUnavailable must be an integer or a percentage like '25%', got 'x'"),
])
def test_a_knob_the_api_would_refuse_is_named_in_a_whole_sentence(max_surge, max_unavailable, message):
    with pytest.raises(ValueError) as error:
        status.resolve_fenceposts(max_surge, max_unavailable, 3)
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        status.resolve_fenceposts(1, 1, -1)
    assert str(error.value) == "desired replicas must be a non-negative integer, got -1"


def test_the_time_of_the_deadline_verdict_falls_back_to_the_transition_and_is_none_without_one():
    timed_out = {"status": {"conditions": [{"type": "Progressing", "status": "False",
                                            "reason": "ProgressDeadlineExceeded",
                                            "lastTransitionTime": "2026-11-25T09:00:00Z"}]}}
    assert status.deadline_exceeded_at(timed_out) == "2026-11-25T09:00:00Z"
    assert status.deadline_exceeded_at({"status": {}}) is None
    assert status.deadline_exceeded_at({"status": {"conditions": [{"type": "Progressing", "status": "True",
                                                                   "reason": "NewReplicaSetAvailable"}]}}) is None


def test_a_missing_max_unavailable_lets_no_pod_go_while_surge_can_move_the_rollout():
    assert status.resolve_fenceposts(1, None, 3) == (1, 0)
