"""The verdict from DescribeEndpoint answers: InService alone proves nothing."""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import judge


def answer(status, config, failure=None, pending=None):
    a = {"EndpointName": "llm", "EndpointStatus": status, "EndpointConfigName": config,
         "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 4, "DesiredInstanceCount": 4}]}
    if failure:
        a["FailureReason"] = failure
    if pending:
        a["PendingDeploymentSummary"] = pending
    return a


def memory(kind="update", before=None):
    return judge.Memory(kind, "llm", "new", "old", before)


def seen(*answers, kind="update", before=None):
    m = memory(kind, before)
    for a in answers:
        m.observe(a)
    return m


def test_in_service_on_the_new_config_is_complete():
    m = seen(answer("Updating", "old"), answer("InService", "new"))
    assert judge.judge(answer("InService", "new"), m).verdict == "complete"


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack"])
def test_transitional_statuses_are_no_verdict(status):
    assert judge.judge(answer(status, "old"), memory()) is None


def test_back_in_service_on_the_old_config_after_rolling_back_is_rolled_back_naming_the_alarm():
    m = seen(answer("Updating", "old"), answer("RollingBack", "old"))
    j = judge.judge(answer("InService", "old"), m, fired_alarms=["llm-5xx"])
    assert (j.verdict, j.reason) == ("rolled_back", "rollback_alarm")
    assert "back to old; new did not ship" in j.message and "alarm llm-5xx went to ALARM" in j.message
    assert m.rolling_back


def test_a_failed_update_back_in_service_with_a_failure_reason_is_rolled_back():
    m = seen(answer("Updating", "old"))
    j = judge.judge(answer("InService", "old", failure="did not pass the ping health check"), m)
    assert (j.verdict, j.reason) == ("rolled_back", "deployment_failed")
    assert "ping health check" in j.message


def test_in_service_on_the_old_config_before_the_update_shows_is_not_yet_a_verdict():
    # DescribeEndpoint may answer the state before UpdateEndpoint for a moment.
    m = seen(answer("InService", "old"))
    assert judge.judge(answer("InService", "old"), m) is None
    j = judge.judge(answer("InService", "old"), m, grace_over=True)
    assert (j.verdict, j.reason) == ("rolled_back", "rolled_back")


def test_an_old_failure_reason_is_no_evidence_of_this_update():
    m = seen(answer("InService", "old", failure="an earlier failure"), before="an earlier failure")
    assert judge.judge(answer("InService", "old", failure="an earlier failure"), m) is None


def test_a_pending_summary_for_the_target_is_evidence_the_update_runs():
    m = seen(answer("InService", "old", pending={"EndpointConfigName": "new"}))
    assert m.saw_update


@pytest.mark.parametrize("status, reason", [
    ("Failed", "endpoint_failed"), ("UpdateRollbackFailed", "rollback_failed"), ("OutOfService", "out_of_service"),
    ("Deleting", "endpoint_deleted"), ("Exploding", "unknown_status"),
])
def test_failures(status, reason):
    j = judge.judge(answer(status, "old", failure="the reason SageMaker gave"), seen(answer("Updating", "old")))
    assert (j.verdict, j.reason) == ("failed", reason)
    if reason in ("endpoint_failed", "rollback_failed"):
        assert "the reason SageMaker gave" in j.message


def test_gone_and_superseded():
    assert judge.judge(None, memory()).reason == "endpoint_deleted"
    j = judge.judge(answer("InService", "someone-elses"), seen(answer("Updating", "old")))
    assert (j.verdict, j.reason) == ("failed", "superseded")


def test_create_judges_only_the_target():
    assert judge.judge(answer("InService", "new"), memory("create")).verdict == "complete"
    assert judge.judge(answer("Failed", "new", failure="ping"), memory("create")).reason == "endpoint_failed"


def test_progress_point_reads_the_new_fleet_from_the_pending_summary():
    pending = {"EndpointConfigName": "new", "ProductionVariants": [{
        "VariantName": "AllTraffic", "CurrentInstanceCount": 2, "DesiredInstanceCount": 4,
        "VariantStatus": [{"Status": "Baking", "StatusMessage": "canary"}]}]}
    point = judge.progress(answer("Updating", "old", pending=pending), "new", 4)
    assert point == {"status": "Updating", "desired": 4, "updated": 2, "ready": 2, "available": 4,
                     "variant_status": ["Baking"], "message": "canary"}
    assert judge.progress_line(point, "new") == ("Updating: new fleet (new) 2/4 instances; Baking (canary); "
                                                 "4 instance(s) serving")
    done = judge.progress(answer("InService", "new"), "new", 4)
    assert (done["updated"], done["ready"], done["available"]) == (4, 4, 4)
    creating = judge.progress(answer("Creating", "new"), "new", 4)
    assert creating["available"] == 0


def test_backoff_is_quick_after_a_change_and_capped():
    b = judge.Backoff(first=1.0, factor=2.0, cap=5.0)
    assert [b.next(False) for step in range(4)] == [2.0, 4.0, 5.0, 5.0]
    assert b.next(True) == 1.0
