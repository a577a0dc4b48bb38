"""What model_rollout decides to write, from objects alone."""

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
