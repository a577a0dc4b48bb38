# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What sagemaker_endpoint_info reports about one endpoint: reads only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.modelops.serving.plugins.module_utils.sagemaker import spec


def _iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def variants_of(described):
    out = []
    for v in described.get("ProductionVariants") or []:
        out.append({
            "name": v.get("VariantName"),
            "instance_type": v.get("InstanceType"),
            "current_instance_count": v.get("CurrentInstanceCount"),
            "desired_instance_count": v.get("DesiredInstanceCount"),
            "current_weight": v.get("CurrentWeight"),
            "variant_status": [s.get("Status") for s in v.get("VariantStatus") or []],
            "serverless": v.get("CurrentServerlessConfig"),
        })
    return out


def model_view(described_model, include_environment):
    if not described_model:
        return None
    primary = described_model.get("PrimaryContainer") or {}
    env = primary.get("Environment") or {}
    view = {"name": described_model.get("ModelName"), "image": primary.get("Image"),
            "model_data_url": primary.get("ModelDataUrl"), "execution_role_arn": described_model.get("ExecutionRoleArn"),
            "environment_keys": sorted(env)}
    if include_environment:
        view["environment"] = dict(env)
    return view


def endpoint_view(described, config, models, include_environment, versions):
    pending = described.get("PendingDeploymentSummary")
    first_model = models[0] if models else None
    return {
        "name": described.get("EndpointName"),
        "arn": described.get("EndpointArn"),
        "status": described.get("EndpointStatus"),
        "failure_reason": described.get("FailureReason"),
        "endpoint_config": described.get("EndpointConfigName"),
        "image": (first_model or {}).get("image"),
        "models": models,
        "variants": variants_of(described),
        "config_variants": [spec.variant_summary(v) for v in (config or {}).get("ProductionVariants") or []],
        "pending": {"endpoint_config": pending.get("EndpointConfigName"), "variants": variants_of(pending),
                    "start_time": _iso(pending.get("StartTime"))} if pending else None,
        "last_deployment_config": described.get("LastDeploymentConfig"),
        "created": _iso(described.get("CreationTime")),
        "modified": _iso(described.get("LastModifiedTime")),
        "in_progress": described.get("EndpointStatus") in ("Creating", "Updating", "SystemUpdating", "RollingBack"),
        "versions": versions,
    }


def versions_of(listed_configs, endpoint):
    """The endpoint configs this collection made for ``endpoint``, newest first."""
    ours = [c for c in listed_configs if spec.owns_name(endpoint, "c", c.get("EndpointConfigName", ""))]
    ours.sort(key=lambda c: c.get("CreationTime") or 0, reverse=True)
    return [{"endpoint_config": c["EndpointConfigName"], "created": _iso(c.get("CreationTime"))} for c in ours]
