"""What model_rollout decides to write, from objects alone."""

import copy

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.rollout import record, spec


def deployment(image="repo/model:v1", containers=None, env=None, args=None, **spec_fields):
    server = {"name": "server", "image": image}
    if env is not None:
        server["env"] = env
    if args is not None:
        server["args"] = args
    body = {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "llm"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
        "progressDeadlineSeconds": 600,
        "template": {"metadata": {"labels": {"app": "llm"}},
                     "spec": {"containers": containers or [server]}},
    }
    body.update(spec_fields)
    return {
        "metadata": {"name": "llm", "namespace": "serving", "resourceVersion": "42", "generation": 3,
                     "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": body,
    }


@pytest.mark.parametrize("image", [
    "repo/model:v2", "registry.example.com:5000/team/llm:2024-11.1", "nvcr.io/nvidia/tritonserver:24.08-py3",
    "llm", "repo/model@sha256:" + "a" * 64, "localhost/model:v1", "[::1]:5000/model:v1",
    "repo/model:v2@sha512:" + "0f" * 64, "a" * 255,
])
def test_valid_images_pass(image):
    assert spec.check_image(image) == image


@pytest.mark.parametrize("image", ["", "Repo/Model:v2", "repo/model:", "repo/model:v2 extra", ":v2",
                                   "repo//model", "repo/model@sha256:short", "-repo/model"])
def test_invalid_images_say_what_a_reference_looks_like(image):
    with pytest.raises(spec.SpecError, match="image"):
        spec.check_image(image)


@pytest.mark.parametrize("image, words", [
    ("repo/model@sha256:" + "A" * 64, "not all lowercase hex"),
    ("repo/model@sha256:" + "a" * 63, "exactly 64 lowercase hex digits, got 63"),
    ("repo/model@sha256:" + "a" * 65, "got 65"),
    ("repo/model@sha256:" + "a" * 32, "got 32"),
    ("repo/model@md5:" + "a" * 32, "algorithm 'md5' is not one runtimes verify"),
    ("repo/model@sha256", "is not <algorithm>:<hex>"),
    ("a" * 256, "256 characters long, at most 255"),
    ("registry.example.com/" + "b" * 240 + ":v1", "at most 255"),
])
def test_digests_and_long_names_are_refused_with_what_is_wrong(image, words):
    with pytest.raises(spec.SpecError) as err:
        spec.check_image(image)
    assert words in str(err.value)


def test_single_container_is_picked_without_a_name():
    assert spec.pick_container(deployment())["name"] == "server"


def test_several_containers_need_a_name_and_the_message_lists_them():
    d = deployment(containers=[{"name": "server", "image": "a"}, {"name": "proxy", "image": "b"}])
    with pytest.raises(spec.SpecError, match=r"has 2 containers \(server, proxy\)"):
        spec.pick_container(d)
    assert spec.pick_container(d, "proxy")["image"] == "b"
    with pytest.raises(spec.SpecError, match="container 'gpu' not found .* server, proxy"):
        spec.pick_container(d, "gpu")


def test_no_change_when_the_container_already_matches():
    c = spec.pick_container(deployment(env=[{"name": "MODEL_VERSION", "value": "2"}], args=["--port", "8080"]))
    assert spec.container_changes(c, image="repo/model:v1", env={"MODEL_VERSION": "2"},
                                  args=["--port", "8080"]) is None


def test_changes_name_only_what_differs():
    c = spec.pick_container(deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    patch = spec.container_changes(c, image="repo/model:v2", env={"A": "1", "B": "3", "C": "new"})
    assert patch == {"name": "server", "image": "repo/model:v2",
                     "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "new"}]}


def test_env_that_came_from_a_secret_is_replaced_not_merged():
    c = spec.pick_container(deployment(env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s",
                                                                                             "key": "k"}}}]))
    patch = spec.container_changes(c, env={"TOKEN": "plain"})
    assert patch["env"] == [{"name": "TOKEN", "value": "plain", "valueFrom": None}]


def test_args_replace_the_whole_list():
    c = spec.pick_container(deployment(args=["--a"]))
    assert spec.container_changes(c, args=["--b", "--c"])["args"] == ["--b", "--c"]


def test_strategy_changes_compare_int_and_percent_as_the_api_stores_them():
    d = deployment()
    assert spec.strategy_changes(d, max_surge=1, max_unavailable=1, progress_deadline_seconds=600) == {}
    assert spec.strategy_changes(d, max_surge="25%") == {
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}
    assert spec.strategy_changes(d, min_ready_seconds=10) == {"minReadySeconds": 10}


def test_recreate_deployments_refuse_surge_settings():
    d = deployment(strategy={"type": "Recreate"})
    with pytest.raises(spec.SpecError, match="need strategy RollingUpdate"):
        spec.strategy_changes(d, max_surge=1)


@pytest.mark.parametrize("value, expected", [(0, 0), (3, 3), ("2", 2), ("25%", "25%"), (" 50% ", "50%"),
                                             (None, None)])
def test_int_or_percent_input(value, expected):
    assert spec.parse_int_or_percent(value, "max_surge") == expected


@pytest.mark.parametrize("value", [-1, "-1", "lots", "1.5", True, "25 %"])
def test_int_or_percent_rejects_what_the_api_would(value):
    with pytest.raises(spec.SpecError, match="max_surge"):
        spec.parse_int_or_percent(value, "max_surge")


def test_both_surge_and_unavailable_zero_is_refused_before_writing():
    patch = spec.strategy_changes(deployment(), max_surge=0, max_unavailable=0)
    with pytest.raises(spec.SpecError, match="cannot both be 0"):
        spec.check_strategy(deployment(), patch)


def test_percent_unavailable_over_100_is_refused():
    patch = spec.strategy_changes(deployment(), max_unavailable="150%")
    with pytest.raises(spec.SpecError, match="maxUnavailable"):
        spec.check_strategy(deployment(), patch)


def test_deadline_must_exceed_min_ready():
    with pytest.raises(spec.SpecError, match=r"progress_deadline_seconds \(5\) must be greater"):
        spec.check_strategy(deployment(), {"minReadySeconds": 10, "progressDeadlineSeconds": 5})


def test_patch_carries_the_small_record_and_never_touches_replicas():
    d = deployment()
    container_patch = spec.container_changes(spec.pick_container(d), image="repo/model:v2")
    target = record.Target("3", "repo/model:v1", "abc123", d["spec"]["template"])
    body = spec.build_patch(d, container_patch, {}, "modelops.serving.model_rollout image=repo/model:v2",
                            record.record_annotations(target, "d1"))
    annotations = body["metadata"]["annotations"]
    assert annotations == {record.PREVIOUS_REVISION: "3", record.PREVIOUS_IMAGE: "repo/model:v1",
                           record.PREVIOUS_HASH: "abc123", record.ROLLOUT_TARGET: "d1",
                           record.LEGACY_TEMPLATE: None,
                           spec.CHANGE_CAUSE: "modelops.serving.model_rollout image=repo/model:v2"}
    assert body["metadata"]["resourceVersion"] == "42"
    assert "replicas" not in body["spec"]
    assert body["spec"]["template"] == {"spec": {"containers": [{"name": "server", "image": "repo/model:v2"}]}}


def test_strategy_only_patch_keeps_the_recorded_template():
    d = deployment()
    body = spec.build_patch(d, None, {"minReadySeconds": 5}, "x")
    assert "annotations" not in body["metadata"]
    assert body["spec"] == {"minReadySeconds": 5}


def test_env_absent_removes_a_variable_whoever_set_it_and_keeps_one_also_asked_for():
    d = deployment(env=[{"name": "A", "value": "1"}, {"name": "OLD", "value": "x"}])
    c = spec.pick_container(d)
    patch = spec.container_changes(c, env={"A": "1"}, env_absent=["OLD", "A", "MISSING"])
    assert patch == {"name": "server", "env": [{"name": "OLD", "$patch": "delete"}]}
    assert spec.apply_container(d["spec"]["template"], patch)["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}]
    assert spec.describe_change(patch, {}) == "env -> -OLD"
    assert spec.change_cause(None, {"A": "1"}, ["OLD"]) == "modelops.serving.model_rollout env=A,-OLD"
    assert spec.container_changes(c, env_absent=["MISSING"]) is None


# -- the change planner: the request against the live object ------------------------------------
def settings(**params):
    from tests.unit.plugins.module_utils.rollout.fake import make_settings

    return make_settings(**params)


def test_plan_of_a_new_image_changes_only_that_container_s_image():
    plan = spec.plan(deployment(), settings(image="repo/model:v2"))
    assert (plan.container, plan.container_patch, plan.spec_patch) == (
        "server", {"name": "server", "image": "repo/model:v2"}, {})
    assert plan.changes is True


def test_plan_of_what_the_deployment_already_has_changes_nothing():
    plan = spec.plan(deployment(), settings(image="repo/model:v1", max_surge="1", max_unavailable=1))
    assert (plan.container_patch, plan.spec_patch, plan.changes) == (None, {}, False)


def test_plan_of_a_knob_alone_is_a_change_without_a_container_patch():
    plan = spec.plan(deployment(), settings(min_ready_seconds=5))
    assert (plan.container_patch, plan.spec_patch, plan.changes) == (None, {"minReadySeconds": 5}, True)


def test_plan_carries_env_args_removals_and_every_knob_to_the_named_container():
    d = deployment(containers=[{"name": "proxy", "image": "p:1"},
                               {"name": "server", "image": "repo/model:v1", "env": [{"name": "OLD", "value": "x"}]}])
    plan = spec.plan(d, settings(container="server", env={"MODEL": "b"}, env_absent=["OLD"], args=["--fast"],
                                 max_surge="2", max_unavailable="50%", min_ready_seconds=3,
                                 progress_deadline_seconds=900))
    assert plan.container == "server"
    assert plan.container_patch == {"name": "server", "args": ["--fast"],
                                    "env": [{"name": "OLD", "$patch": "delete"}, {"name": "MODEL", "value": "b"}]}
    assert plan.spec_patch == {"strategy": {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxSurge": 2, "maxUnavailable": "50%"}},
                               "minReadySeconds": 3, "progressDeadlineSeconds": 900}


@pytest.mark.parametrize("params, words", [
    ({"image": "Repo/Model"}, "image 'Repo/Model' is not a valid image reference"),
    ({"env": {"BAD NAME": "1"}}, "env name 'BAD NAME' is not a valid environment variable name"),
    ({"env_absent": ["1X"]}, "env name '1X' is not a valid environment variable name"),
    ({"container": "gpu"}, "container 'gpu' not found in Deployment serving/llm; its containers are: server"),
    ({"max_surge": "lots"}, "max_surge must be a whole number or a percentage like '25%', not 'lots'"),
    ({"max_unavailable": "x"}, "max_unavailable must be a whole number or a percentage like '25%', not 'x'"),
    ({"max_surge": 0, "max_unavailable": 0}, "max_surge and max_unavailable cannot both be 0"),
    ({"min_ready_seconds": 600}, "progress_deadline_seconds (600) must be greater than min_ready_seconds (600)"),
])
def test_plan_refuses_a_request_the_api_or_the_runtime_would_with_what_to_fix(params, words):
    with pytest.raises(spec.SpecError) as err:
        spec.plan(deployment(), settings(**params))
    assert words in str(err.value)


def status_of(generation=3, observed=3, replicas=3, updated=3, available=3, reason="NewReplicaSetAvailable"):
    d = deployment()
    d["metadata"]["generation"] = generation
    d["status"] = {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": updated,
                   "readyReplicas": available, "availableReplicas": available,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": reason}]}
    return d


def test_decide_writes_a_change_or_a_leftover_leaves_a_serving_template_and_resumes_an_unfinished_one():
    change, nothing = spec.Plan("server", {"name": "server", "image": "b"}, {}), spec.Plan("server", None, {})
    assert spec.decide(status_of(), change) == spec.WRITE
    assert spec.decide(status_of(), nothing, leftover=True) == spec.WRITE
    assert spec.decide(status_of(), nothing) == spec.UNCHANGED
    assert spec.decide(status_of(updated=1, available=1, reason="ReplicaSetUpdated"), nothing) == spec.RESUME
    assert (spec.UNCHANGED, spec.RESUME, spec.WRITE) == ("unchanged", "resume", "write")


@pytest.mark.parametrize("image, env, absent, cause", [
    ("repo/model:v2", None, None, "modelops.serving.model_rollout image=repo/model:v2"),
    ("repo/model:v2", {"B": "secret", "A": "x"}, None, "modelops.serving.model_rollout image=repo/model:v2 env=A,B"),
    (None, {"A": "1"}, ["Z", "A", "C"], "modelops.serving.model_rollout env=A,-C,-Z"),
    (None, None, ["OLD"], "modelops.serving.model_rollout env=-OLD"),
])
def test_change_cause_names_the_image_and_env_names_never_values(image, env, absent, cause):
    assert spec.change_cause(image, env, absent) == cause


def test_describe_change_lists_image_env_names_args_then_knobs_and_hides_env_values():
    patch = {"name": "server", "image": "repo/model:v2", "args": ["--fast"],
             "env": [{"name": "TOKEN", "value": "s3cr3t"}, {"name": "OLD", "$patch": "delete"}]}
    text = spec.describe_change(patch, {"progressDeadlineSeconds": 900, "minReadySeconds": 3})
    assert text == ("image -> repo/model:v2; env -> TOKEN, -OLD; args -> ['--fast']; "
                    "minReadySeconds -> 3; progressDeadlineSeconds -> 900")
    assert "s3cr3t" not in text
    assert spec.describe_change(None, {"minReadySeconds": 3}) == "minReadySeconds -> 3"


def test_apply_container_merges_by_name_as_the_api_does_and_leaves_the_input_alone():
    d = deployment(containers=[
        {"name": "proxy", "image": "p:1", "env": [{"name": "A", "value": "proxy"}]},
        {"name": "server", "image": "repo/model:v1", "args": ["--a"],
         "env": [{"name": "A", "value": "1"}, {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s"}}},
                 {"name": "OLD", "value": "x"}]}])
    before = copy.deepcopy(d)
    patch = {"name": "server", "image": "repo/model:v2", "args": ["--b"],
             "env": [{"name": "OLD", "$patch": "delete"}, {"name": "TOKEN", "value": "plain"},
                     {"name": "NEW", "value": "n"}]}
    out = spec.apply_container(d["spec"]["template"], patch)
    proxy, server = out["spec"]["containers"]
    assert proxy == {"name": "proxy", "image": "p:1", "env": [{"name": "A", "value": "proxy"}]}
    assert server == {"name": "server", "image": "repo/model:v2", "args": ["--b"],
                      "env": [{"name": "A", "value": "1"}, {"name": "TOKEN", "value": "plain"},
                              {"name": "NEW", "value": "n"}]}
    assert d == before


def test_apply_container_adds_env_to_a_container_that_had_none():
    out = spec.apply_container(deployment()["spec"]["template"], {"name": "server", "env": [{"name": "A", "value": "1"}]})
    assert out["spec"]["containers"][0] == {"name": "server", "image": "repo/model:v1",
                                            "env": [{"name": "A", "value": "1"}]}


def test_write_time_is_the_manager_s_latest_write():
    d = deployment()
    d["metadata"]["managedFields"] = [
        {"manager": "modelops", "time": "2026-11-25T09:00:00Z"},
        {"manager": "kubectl", "time": "2026-11-25T09:30:00Z"},
        {"manager": "modelops", "time": "2026-11-25T09:10:00Z"},
        {"manager": "modelops"},
    ]
    assert spec.write_time(d, "modelops") == "2026-11-25T09:10:00Z"
    assert spec.write_time(d, "helm") is None
    assert spec.write_time({}, "modelops") is None


def test_strategy_summary_reports_the_api_defaults_for_what_the_object_leaves_out():
    d = deployment()
    assert spec.strategy_summary(d) == {"type": "RollingUpdate", "max_surge": 1, "max_unavailable": 1,
                                        "min_ready_seconds": 0, "progress_deadline_seconds": 600, "replicas": 3,
                                        "paused": False}
    bare = {"spec": {"strategy": {"type": "Recreate"}, "minReadySeconds": 7, "progressDeadlineSeconds": 60,
                     "paused": True}}
    assert spec.strategy_summary(bare) == {"type": "Recreate", "max_surge": None, "max_unavailable": None,
                                           "min_ready_seconds": 7, "progress_deadline_seconds": 60,
                                           "replicas": None, "paused": True}
    assert spec.strategy_summary({})["type"] == "RollingUpdate"
    assert spec.strategy_summary({})["progress_deadline_seconds"] == 600


def test_image_and_revision_of_a_deployment():
    d = deployment(containers=[{"name": "proxy", "image": "p:1"}, {"name": "server", "image": "repo/model:v1"}])
    assert spec.image_of(d, "server") == "repo/model:v1"
    assert spec.image_of(d, "gpu") is None
    assert spec.revision_of(d) == "3"
    assert spec.revision_of({}) is None


def test_target_record_is_one_canonical_line():
    assert spec.target_record("server", "repo/model:v2", None, ["--a"]) == (
        '{"args":["--a"],"container":"server","env":{},"image":"repo/model:v2"}')
    assert spec.target_record("server", None, {"B": "1", "A": "2"}, None) == (
        '{"args":null,"container":"server","env":{"A":"2","B":"1"},"image":null}')


@pytest.mark.parametrize("image, message", [
    (None, "image must be a non-empty container image reference such as 'registry.example.com/team/model:v2'"),
    (7, "image must be a non-empty container image reference such as 'registry.example.com/team/model:v2'"),
    ("Repo/Model", "image 'Repo/Model' is not a valid image reference: expected "
                   "[registry[:port]/]repository[:tag][@digest] with a lowercase repository, "
                   "e.g. 'registry.example.com/team/model:v2'"),
    ("a" * 300, "image '%s...': the repository name is 300 characters long, at most 255 are allowed" % ("a" * 64)),
    ("m@sha256", "image 'm@sha256': digest 'sha256' is not <algorithm>:<hex>, e.g. 'sha256:' followed by 64 "
                 "lowercase hex digits"),
    ("m@md5:" + "a" * 32, "image 'm@md5:%s': digest algorithm 'md5' is not one runtimes verify "
                          "(sha256, sha384, sha512)" % ("a" * 32)),
    ("m@sha256:abc", "image 'm@sha256:abc': a sha256 digest is exactly 64 lowercase hex digits, got 3 character(s)"),
    ("m@sha256:ABC", "image 'm@sha256:ABC': a sha256 digest is exactly 64 lowercase hex digits, got 3 character(s) "
                     "that are not all lowercase hex"),
])
def test_an_image_refusal_is_one_whole_sentence_naming_the_image(image, message):
    with pytest.raises(spec.SpecError) as err:
        spec.check_image(image)
    assert str(err.value) == message


def test_container_refusals_name_the_deployment_and_what_it_has():
    d = deployment(containers=[{"name": "server", "image": "a"}, {"name": "proxy", "image": "b"}])
    with pytest.raises(spec.SpecError) as err:
        spec.pick_container(d)
    assert str(err.value) == ("Deployment serving/llm has 2 containers (server, proxy): set container to the one "
                              "serving the model")
    empty = deployment()
    empty["spec"]["template"]["spec"]["containers"] = []
    with pytest.raises(spec.SpecError) as err:
        spec.pick_container(empty, "server")
    assert str(err.value) == "container 'server' not found in Deployment serving/llm; its containers are: (none)"


@pytest.mark.parametrize("value, message", [
    (-1, "max_surge must not be negative (got -1)"),
    (True, "max_surge must be a whole number or a percentage like '25%', not True"),
    ("1.5", "max_surge must be a whole number or a percentage like '25%', not '1.5'"),
])
def test_int_or_percent_refusals_are_whole_sentences(value, message):
    with pytest.raises(spec.SpecError) as err:
        spec.parse_int_or_percent(value, "max_surge")
    assert str(err.value) == message


def test_env_removal_alone_is_a_patch_of_deletions():
    c = spec.pick_container(deployment(env=[{"name": "OLD", "value": "x"}]))
    assert spec.container_changes(c, env_absent=["OLD"]) == {"name": "server", "env": [{"name": "OLD", "$patch": "delete"}]}


def test_an_empty_value_matches_a_variable_the_api_stores_without_one_but_not_one_from_a_secret():
    # The API omits an empty value: {"name": "EMPTY"} is EMPTY="".
    c = spec.pick_container(deployment(env=[{"name": "EMPTY"},
                                            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]))
    assert spec.container_changes(c, env={"EMPTY": ""}) is None
    assert spec.container_changes(c, env={"TOKEN": ""}) == {
        "name": "server", "env": [{"name": "TOKEN", "value": "", "valueFrom": None}]}


def test_knobs_an_object_leaves_out_compare_as_the_api_defaults():
    bare = deployment()
    del bare["spec"]["progressDeadlineSeconds"]
    bare["spec"]["strategy"] = {}
    assert spec.strategy_changes(bare, min_ready_seconds=0, progress_deadline_seconds=600) == {}
    assert spec.strategy_changes(bare, min_ready_seconds=1, progress_deadline_seconds=601) == {
        "minReadySeconds": 1, "progressDeadlineSeconds": 601}
    # No type is RollingUpdate.
    assert spec.strategy_changes(bare, max_surge=2) == {"strategy": {"type": "RollingUpdate",
                                                                     "rollingUpdate": {"maxSurge": 2}}}
    set_already = deployment(minReadySeconds=5)
    assert spec.strategy_changes(set_already, min_ready_seconds=5) == {}
    assert spec.strategy_changes(set_already, min_ready_seconds=0) == {"minReadySeconds": 0}


def test_a_recreate_refusal_names_the_deployment_and_its_strategy():
    with pytest.raises(spec.SpecError) as err:
        spec.strategy_changes(deployment(strategy={"type": "Recreate"}), max_unavailable=1)
    assert str(err.value) == "max_surge/max_unavailable need strategy RollingUpdate; Deployment serving/llm uses Recreate"


def test_zero_surge_and_zero_unavailable_are_refused_when_the_live_object_holds_one_of_them():
    live_zero_surge = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%",
                                                                                      "maxUnavailable": 1}})
    patch = spec.strategy_changes(live_zero_surge, max_unavailable=0)
    with pytest.raises(spec.SpecError) as err:
        spec.check_strategy(live_zero_surge, patch)
    assert str(err.value) == "max_surge and max_unavailable cannot both be 0: the rollout could never make progress"
    live_zero_unavailable = deployment(strategy={"type": "RollingUpdate",
                                                 "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "0%"}})
    with pytest.raises(spec.SpecError, match="cannot both be 0"):
        spec.check_strategy(live_zero_unavailable, spec.strategy_changes(live_zero_unavailable, max_surge="0"))
    # One of them 0 is a rollout that moves.
    spec.check_strategy(live_zero_surge, {})
    spec.check_strategy(live_zero_unavailable, {})


def test_an_unavailable_percentage_over_100_is_refused_whoever_set_it():
    live = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "101%"}})
    with pytest.raises(spec.SpecError) as err:
        spec.check_strategy(live, {})
    assert str(err.value) == "maxUnavailable must not be greater than 100%, got '101%'"
    spec.check_strategy(deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "200%",
                                                                                        "maxUnavailable": "100%"}}), {})


@pytest.mark.parametrize("live, patch, refused", [
    ({}, {"minReadySeconds": 599}, None),
    ({}, {"minReadySeconds": 600}, "progress_deadline_seconds (600) must be greater than min_ready_seconds (600)"),
    ({"minReadySeconds": 30}, {"progressDeadlineSeconds": 31}, None),
    ({"minReadySeconds": 30}, {"progressDeadlineSeconds": 30},
     "progress_deadline_seconds (30) must be greater than min_ready_seconds (30)"),
    ({"progressDeadlineSeconds": 40}, {"minReadySeconds": 40},
     "progress_deadline_seconds (40) must be greater than min_ready_seconds (40)"),
    ({}, {"progressDeadlineSeconds": 1}, None),
])
def test_the_deadline_must_exceed_min_ready_whichever_side_the_live_object_holds(live, patch, refused):
    d = deployment(**live)
    if "progressDeadlineSeconds" not in live:
        del d["spec"]["progressDeadlineSeconds"]
    if refused is None:
        spec.check_strategy(d, patch)
        return
    with pytest.raises(spec.SpecError) as err:
        spec.check_strategy(d, patch)
    assert str(err.value) == refused


def test_a_bad_env_name_is_refused_in_one_whole_sentence():
    with pytest.raises(spec.SpecError) as err:
        spec.check_env({"OK": "1"}, ["BAD NAME"])
    assert str(err.value) == "env name 'BAD NAME' is not a valid environment variable name"
    spec.check_env({"A.b-c_1": "1"}, ["-x"])


def test_a_deadline_back_to_the_default_is_a_change_of_a_deployment_that_has_another():
    assert spec.strategy_changes(deployment(progressDeadlineSeconds=900), progress_deadline_seconds=600) == {
        "progressDeadlineSeconds": 600}


def test_apply_container_sets_a_new_value_on_a_plain_variable():
    d = deployment(env=[{"name": "A", "value": "1"}])
    out = spec.apply_container(d["spec"]["template"], {"name": "server", "env": [{"name": "A", "value": "2"}]})
    assert out["spec"]["containers"][0]["env"] == [{"name": "A", "value": "2"}]
