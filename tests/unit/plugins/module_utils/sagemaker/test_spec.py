"""Names from content, and the input checks that run before any write."""

import pytest

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import spec
from ansible_collections.modelops.serving.plugins.module_utils.sagemaker.spec import Desired, InputError

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


def model(**over):
    m = {"image": "repo/llm:v1", "execution_role_arn": ROLE, "environment": {"MODEL_VERSION": "1"},
         "secret_environment": {}, "model_data_url": None, "enable_network_isolation": False}
    m.update(over)
    return m


def variants(**over):
    v = {"variant_name": "AllTraffic", "instance_type": "ml.g5.xlarge", "instance_count": 2, "weight": 1.0,
         "serverless": None, "container_startup_health_check_timeout_seconds": None,
         "model_data_download_timeout_seconds": None}
    v.update(over)
    return [v]


def test_same_input_gives_the_same_names_and_any_change_new_ones():
    a = Desired("llm-prod", model(), variants())
    b = Desired("llm-prod", model(environment={"MODEL_VERSION": "1"}), variants())
    assert (a.model_name, a.config_name) == (b.model_name, b.config_name)
    assert a.model_name.startswith("llm-prod-m-") and a.config_name.startswith("llm-prod-c-")
    image = Desired("llm-prod", model(image="repo/llm:v2"), variants())
    assert image.model_name != a.model_name and image.config_name != a.config_name
    count = Desired("llm-prod", model(), variants(instance_count=3))
    assert count.model_name == a.model_name and count.config_name != a.config_name
    secret = Desired("llm-prod", model(secret_environment={"HF_TOKEN": "x"}), variants())
    rotated = Desired("llm-prod", model(secret_environment={"HF_TOKEN": "y"}), variants())
    assert secret.model_name != rotated.model_name


def test_names_fit_sagemaker_limits_and_are_recognised_as_ours():
    long = "e" * 63
    d = Desired(long, model(), variants())
    for name in (d.model_name, d.config_name):
        assert len(name) <= 63 and spec.NAME_PATTERN.match(name)
    assert spec.owns_name(long, "c", d.config_name)
    assert not spec.owns_name(long, "c", d.model_name)
    assert not spec.owns_name("llm", "c", "llm-c-handmade")
    assert not spec.owns_name("llm", "c", "llm-canary-c-0123456789")


def test_an_equivalent_live_config_has_the_same_fingerprint_whatever_its_names():
    d = Desired("llm", model(), variants())
    live_variants = [{"VariantName": "AllTraffic", "ModelName": "made-by-terraform", "InstanceType": "ml.g5.xlarge",
                      "InitialInstanceCount": 2, "InitialVariantWeight": 1}]
    live_model = {"PrimaryContainer": {"Image": "repo/llm:v1", "Environment": {"MODEL_VERSION": "1"}},
                  "ExecutionRoleArn": ROLE}
    assert spec.fingerprint(live_variants, {"AllTraffic": spec.live_model_content(live_model)}) == d.fingerprint()
    live_model["PrimaryContainer"]["Image"] = "repo/llm:v0"
    assert spec.fingerprint(live_variants, {"AllTraffic": spec.live_model_content(live_model)}) != d.fingerprint()


def test_summary_never_shows_a_secret_value():
    d = Desired("llm", model(secret_environment={"HF_TOKEN": "hf_very_secret"}), variants())
    assert d.summary()["environment"] == {"MODEL_VERSION": "1", "HF_TOKEN": "(secret)"}
    assert "hf_very_secret" not in repr(d.summary())
    assert d.model_request["PrimaryContainer"]["Environment"]["HF_TOKEN"] == "hf_very_secret"


@pytest.mark.parametrize("over, message", [
    ({"execution_role_arn": None}, "model.execution_role_arn is required"),
    ({"execution_role_arn": "sagemaker-role"}, "is not an IAM role ARN"),
    ({"image": "repo/llm v2"}, "model.image must be a container image reference"),
    ({"model_data_url": "/local/model.tar.gz"}, "must be an s3:// or https:// URL"),
    ({"secret_environment": {"MODEL_VERSION": "2"}}, "both set MODEL_VERSION"),
])
def test_bad_model_input_says_what_to_fix(over, message):
    with pytest.raises(InputError, match=message):
        Desired("llm", model(**over), variants())


@pytest.mark.parametrize("itype", ["ml.g5.xlarge", "ml.p4d.24xlarge", "ml.t2.medium", "ml.p6-b200.48xlarge",
                                   "ml.m5.large", "ml.inf2.xlarge"])
def test_instance_type_format_accepts_real_types(itype):
    Desired("llm", model(), variants(instance_type=itype))


@pytest.mark.parametrize("itype", ["g5.xlarge", "ml.g5", "ml.g5.huge", "ML.G5.XLARGE", "ml..xlarge"])
def test_instance_type_format_rejects_others(itype):
    with pytest.raises(InputError, match="is not a SageMaker instance type: they read ml.<family>.<size>"):
        Desired("llm", model(), variants(instance_type=itype))


@pytest.mark.parametrize("over, message", [
    ({"instance_type": None}, "needs instance_type"),
    ({"instance_count": 0}, "instance_count must be at least 1"),
    ({"serverless": {"memory_size_mb": 1000, "max_concurrency": 5}}, "sets both instance_type and serverless"),
    ({"instance_type": None, "serverless": {"memory_size_mb": 1000, "max_concurrency": 5}}, "memory_size_mb must be"),
    ({"container_startup_health_check_timeout_seconds": 10}, "between 60 and 3600"),
])
def test_bad_variants_say_what_to_fix(over, message):
    with pytest.raises(InputError, match=message):
        Desired("llm", model(), variants(**over))


def test_bad_endpoint_name():
    with pytest.raises(InputError, match="not a valid SageMaker endpoint name"):
        Desired("llm_prod", model(), variants())


@pytest.mark.parametrize("value, expected", [
    (1, {"Type": "INSTANCE_COUNT", "Value": 1}),
    ("2", {"Type": "INSTANCE_COUNT", "Value": 2}),
    ("25%", {"Type": "CAPACITY_PERCENT", "Value": 25}),
    (None, None),
])
def test_capacity_sizes(value, expected):
    assert spec.capacity_size(value, "x") == expected


@pytest.mark.parametrize("value", [0, "0%", "150%", "a few", True, 1.5])
def test_bad_capacity_sizes(value):
    with pytest.raises(InputError):
        spec.capacity_size(value, "deployment.canary_size")
