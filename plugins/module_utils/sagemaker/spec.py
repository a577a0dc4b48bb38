# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From the module's options to SageMaker requests, validated, with content-derived names.

Pure: no I/O. A Model and an EndpointConfig are immutable in SageMaker, so each version gets
its own, named from a hash of its content: the same input always gives the same names, which
is what makes a re-run find what an earlier run made (and write nothing), and what lets an
endpoint that already serves an equivalent config, made by anyone, count as up to date.

Names: ``<endpoint>-m-<10 hex>`` for a Model, ``<endpoint>-c-<10 hex>`` for an EndpointConfig
(the endpoint part shortened to fit SageMaker's 63 characters).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

NAME_MAX = 63
DIGEST_CHARS = 10
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
# ml.<family>.<size>: ml.g5.xlarge, ml.p4d.24xlarge, ml.p6-b200.48xlarge, ml.t2.medium.
INSTANCE_TYPE = re.compile(r"^ml\.[a-z][a-z0-9]*(-[a-z0-9]+)*\.(nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge)$")
MODEL_DATA_URL = re.compile(r"^(https|s3)://[^/\s]+(/\S*)?$")
SERVERLESS_MEMORY = (1024, 2048, 3072, 4096, 5120, 6144)
MANAGED_TAG = "modelops.serving/managed-by"
ENDPOINT_TAG = "modelops.serving/endpoint"
MANAGER = "sagemaker_endpoint_rollout"

VARIANT_SPEC = dict(
    variant_name=dict(type="str", default="AllTraffic"),
    instance_type=dict(type="str"),
    instance_count=dict(type="int", default=1),
    weight=dict(type="float", default=1.0),
    serverless=dict(type="dict", options=dict(
        memory_size_mb=dict(type="int", required=True),
        max_concurrency=dict(type="int", required=True),
        provisioned_concurrency=dict(type="int"),
    )),
    container_startup_health_check_timeout_seconds=dict(type="int"),
    model_data_download_timeout_seconds=dict(type="int"),
)

MODEL_SPEC = dict(
    image=dict(type="str", required=True),
    model_data_url=dict(type="str"),
    environment=dict(type="dict", default={}),
    secret_environment=dict(type="dict", default={}, no_log=True),
    execution_role_arn=dict(type="str", aliases=["role_arn"]),
    enable_network_isolation=dict(type="bool", default=False),
)


class InputError(Exception):
    """Bad input; raised before anything is written, with what to fix."""


def digest(document):
    """A short, stable hash of a JSON-able document (key order does not matter)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def resource_name(endpoint, kind, content):
    """``<endpoint>-<kind>-<digest>``, the endpoint part shortened so the whole fits 63 characters."""
    suffix = "-%s-%s" % (kind, digest(content))
    prefix = endpoint[:NAME_MAX - len(suffix)].rstrip("-")
    return prefix + suffix


def name_prefix(endpoint, kind):
    """What every name ``resource_name`` gives for this endpoint and kind starts with."""
    suffix_len = len("-%s-" % kind) + DIGEST_CHARS
    return endpoint[:NAME_MAX - suffix_len].rstrip("-") + "-%s-" % kind


def owns_name(endpoint, kind, name):
    prefix = name_prefix(endpoint, kind)
    rest = name[len(prefix):] if name.startswith(prefix) else ""
    return len(rest) == DIGEST_CHARS and all(c in "0123456789abcdef" for c in rest)


# -- validation ---------------------------------------------------------------------------------
def check_endpoint_name(name):
    if not name or not NAME_PATTERN.match(name):
        raise InputError("name %r is not a valid SageMaker endpoint name: up to 63 letters, digits and hyphens, "
                         "starting with a letter or digit" % (name,))


def check_model(model):
    image = (model or {}).get("image") or ""
    if not image or len(image) > 255 or any(c.isspace() for c in image):
        raise InputError("model.image must be a container image reference without spaces, up to 255 characters "
                         "(got %r)" % (image,))
    role = model.get("execution_role_arn")
    if not role:
        raise InputError("model.execution_role_arn is required: the IAM role SageMaker assumes to pull the image "
                         "and the model data, for example arn:aws:iam::123456789012:role/sagemaker-execution")
    if not ROLE_ARN.match(role):
        raise InputError("model.execution_role_arn %r is not an IAM role ARN (arn:aws:iam::<12-digit account>:"
                         "role/<name>)" % role)
    url = model.get("model_data_url")
    if url and not MODEL_DATA_URL.match(url):
        raise InputError("model.model_data_url %r must be an s3:// or https:// URL" % url)
    env = dict(model.get("environment") or {})
    secret = dict(model.get("secret_environment") or {})
    both = sorted(set(env) & set(secret))
    if both:
        raise InputError("model.environment and model.secret_environment both set %s; give each variable once"
                         % ", ".join(both))
    for key in list(env) + list(secret):
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", str(key)):
            raise InputError("model environment variable name %r is not valid (letters, digits, underscores)" % key)


def check_variants(variants):
    if not variants:
        raise InputError("variants must list at least one production variant (instance_type and instance_count, "
                         "or serverless)")
    names = []
    for i, v in enumerate(variants):
        where = "variants[%d]" % i
        name = v.get("variant_name") or "AllTraffic"
        if not NAME_PATTERN.match(name):
            raise InputError("%s.variant_name %r is not valid (letters, digits, hyphens)" % (where, name))
        if name in names:
            raise InputError("%s.variant_name %r appears twice" % (where, name))
        names.append(name)
        serverless = v.get("serverless")
        if serverless and v.get("instance_type"):
            raise InputError("%s sets both instance_type and serverless; a variant is one or the other" % where)
        if serverless:
            _check_serverless(where, serverless)
            continue
        itype = v.get("instance_type")
        if not itype:
            raise InputError("%s needs instance_type (for example ml.g5.xlarge) or serverless" % where)
        if not INSTANCE_TYPE.match(itype):
            raise InputError("%s.instance_type %r is not a SageMaker instance type: they read ml.<family>.<size>, "
                             "for example ml.g5.xlarge or ml.m5.large" % (where, itype))
        if (v.get("instance_count") or 0) < 1:
            raise InputError("%s.instance_count must be at least 1 (got %s)" % (where, v.get("instance_count")))
        if v.get("weight") is not None and v["weight"] < 0:
            raise InputError("%s.weight must not be negative" % where)
        for key, low, high in (("container_startup_health_check_timeout_seconds", 60, 3600),
                               ("model_data_download_timeout_seconds", 60, 3600)):
            value = v.get(key)
            if value is not None and not low <= value <= high:
                raise InputError("%s.%s must be between %d and %d (got %d)" % (where, key, low, high, value))


def _check_serverless(where, serverless):
    memory = serverless.get("memory_size_mb")
    if memory not in SERVERLESS_MEMORY:
        raise InputError("%s.serverless.memory_size_mb must be one of %s (got %s)"
                         % (where, ", ".join(str(m) for m in SERVERLESS_MEMORY), memory))
    concurrency = serverless.get("max_concurrency")
    if not concurrency or not 1 <= concurrency <= 200:
        raise InputError("%s.serverless.max_concurrency must be between 1 and 200 (got %s)" % (where, concurrency))
    provisioned = serverless.get("provisioned_concurrency")
    if provisioned is not None and not 1 <= provisioned <= concurrency:
        raise InputError("%s.serverless.provisioned_concurrency must be between 1 and max_concurrency (got %s)"
                         % (where, provisioned))


# -- requests -------------------------------------------------------------------------------------
def container(model):
    out = {"Image": model["image"]}
    if model.get("model_data_url"):
        out["ModelDataUrl"] = model["model_data_url"]
    env = dict((str(k), "" if v is None else str(v)) for k, v in (model.get("environment") or {}).items())
    env.update((str(k), "" if v is None else str(v)) for k, v in (model.get("secret_environment") or {}).items())
    if env:
        out["Environment"] = env
    return out


def model_content(model):
    """What makes a Model this version: everything CreateModel is given except its name and tags."""
    return {"PrimaryContainer": container(model), "ExecutionRoleArn": model["execution_role_arn"],
            "EnableNetworkIsolation": bool(model.get("enable_network_isolation"))}


def variant_request(variant, model_name):
    out = {"VariantName": variant.get("variant_name") or "AllTraffic", "ModelName": model_name,
           "InitialVariantWeight": float(variant.get("weight") if variant.get("weight") is not None else 1.0)}
    serverless = variant.get("serverless")
    if serverless:
        config = {"MemorySizeInMB": serverless["memory_size_mb"], "MaxConcurrency": serverless["max_concurrency"]}
        if serverless.get("provisioned_concurrency"):
            config["ProvisionedConcurrency"] = serverless["provisioned_concurrency"]
        out["ServerlessConfig"] = config
    else:
        out["InstanceType"] = variant["instance_type"]
        out["InitialInstanceCount"] = variant.get("instance_count") or 1
    for key, api in (("container_startup_health_check_timeout_seconds", "ContainerStartupHealthCheckTimeoutInSeconds"),
                     ("model_data_download_timeout_seconds", "ModelDataDownloadTimeoutInSeconds")):
        if variant.get(key) is not None:
            out[api] = variant[key]
    return out


def config_content(variants):
    """What makes an EndpointConfig this version: its production variants, models by name."""
    return {"ProductionVariants": sorted(variants, key=lambda v: v["VariantName"])}


def tags_list(endpoint, extra=None):
    tags = dict((str(k), str(v)) for k, v in (extra or {}).items())
    tags[MANAGED_TAG] = MANAGER
    tags[ENDPOINT_TAG] = endpoint
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class Desired:
    """The Model and EndpointConfig a run wants the endpoint on, with their names and requests."""

    def __init__(self, endpoint, model, variants, tags=None):
        check_endpoint_name(endpoint)
        check_model(model)
        check_variants(variants)
        self.endpoint = endpoint
        self.model = model
        self.image = model["image"]
        content = model_content(model)
        self.model_name = resource_name(endpoint, "m", content)
        self.model_request = dict(content, ModelName=self.model_name, Tags=tags_list(endpoint, tags))
        self.variants = [variant_request(v, self.model_name) for v in variants]
        self.config_name = resource_name(endpoint, "c", config_content(self.variants))
        self.config_request = {"EndpointConfigName": self.config_name, "ProductionVariants": self.variants,
                               "Tags": tags_list(endpoint, tags)}
        self.variant_names = sorted(v["VariantName"] for v in self.variants)
        self.secret_keys = sorted(str(k) for k in (model.get("secret_environment") or {}))
        self.public_keys = sorted(str(k) for k in (model.get("environment") or {}))

    def fingerprint(self):
        """What an equivalent live config must match: the variants, each with its model's content."""
        model = model_content(self.model)
        return fingerprint(self.variants, dict((v["VariantName"], model) for v in self.variants))

    def summary(self):
        """The desired version as a person reads it (never a secret value)."""
        env = dict((k, str(v)) for k, v in (self.model.get("environment") or {}).items())
        env.update((k, "(secret)") for k in self.secret_keys)
        return {"endpoint_config": self.config_name, "model": self.model_name, "image": self.image,
                "model_data_url": self.model.get("model_data_url"), "environment": env,
                "variants": [variant_summary(v) for v in self.variants]}


def variant_summary(variant):
    out = {"name": variant.get("VariantName"), "weight": variant.get("InitialVariantWeight")}
    if variant.get("ServerlessConfig"):
        out["serverless"] = variant["ServerlessConfig"]
    else:
        out["instance_type"] = variant.get("InstanceType")
        out["instance_count"] = variant.get("InitialInstanceCount")
    return out


def _normal_variant(variant):
    keep = ("VariantName", "InitialVariantWeight", "ServerlessConfig", "InstanceType", "InitialInstanceCount",
            "ContainerStartupHealthCheckTimeoutInSeconds", "ModelDataDownloadTimeoutInSeconds")
    out = dict((k, variant[k]) for k in keep if variant.get(k) is not None)
    if "InitialVariantWeight" in out:
        out["InitialVariantWeight"] = float(out["InitialVariantWeight"])
    else:
        out["InitialVariantWeight"] = 1.0
    return out


def fingerprint(variants, models_by_variant):
    """A digest of a config's variants and each variant's model content, whatever the names."""
    doc = []
    for v in sorted(variants, key=lambda x: x["VariantName"]):
        doc.append({"variant": _normal_variant(v), "model": models_by_variant.get(v["VariantName"])})
    return digest(doc)


def live_model_content(described):
    """``model_content`` of a model as DescribeModel answers, for comparison."""
    primary = dict(described.get("PrimaryContainer") or {})
    if not primary and described.get("Containers"):
        primary = dict(described["Containers"][0])
    out = {"Image": primary.get("Image")}
    if primary.get("ModelDataUrl"):
        out["ModelDataUrl"] = primary["ModelDataUrl"]
    if primary.get("Environment"):
        out["Environment"] = dict(primary["Environment"])
    return {"PrimaryContainer": out, "ExecutionRoleArn": described.get("ExecutionRoleArn"),
            "EnableNetworkIsolation": bool(described.get("EnableNetworkIsolation"))}


def image_of(described_model):
    primary = (described_model or {}).get("PrimaryContainer") or {}
    if not primary and (described_model or {}).get("Containers"):
        primary = described_model["Containers"][0]
    return primary.get("Image")


def capacity_size(value, option):
    """An int (instances) or an 'N%' string (percent of capacity) as the API's CapacitySize."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError("%s must be a whole number of instances or a percentage such as '25%%' (got %r)"
                         % (option, value))
    if isinstance(value, int):
        if value < 1:
            raise InputError("%s must be at least 1 instance (got %d)" % (option, value))
        return {"Type": "INSTANCE_COUNT", "Value": value}
    text = str(value).strip()
    match = re.match(r"^(\d+)\s*%$", text)
    if match:
        percent = int(match.group(1))
        if not 1 <= percent <= 100:
            raise InputError("%s must be between 1%% and 100%% (got %s)" % (option, text))
        return {"Type": "CAPACITY_PERCENT", "Value": percent}
    if text.isdigit():
        return capacity_size(int(text), option)
    raise InputError("%s must be a whole number of instances or a percentage such as '25%%' (got %r)"
                     % (option, value))
