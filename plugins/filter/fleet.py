# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet playbooks: wave sizes for ``serial``, how to reach each cluster, and which hosts
are SageMaker endpoints rather than clusters (and the endpoint rollout they ask for)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.modelops.serving.plugins.module_utils.fleet import waves

# Host variable -> connection option of model_rollout (kubernetes.core's auth options).
CONNECTION_VARS = (
    ("model_server_kubeconfig", "kubeconfig"),
    ("model_server_context", "context"),
    ("model_server_host", "host"),
    ("model_server_api_key", "api_key"),
    ("model_server_ca_cert", "ca_cert"),
    ("model_server_client_cert", "client_cert"),
    ("model_server_client_key", "client_key"),
    ("model_server_validate_certs", "validate_certs"),
)


# Host variable -> option of sagemaker_endpoint_rollout, for a host that names an endpoint.
ENDPOINT_VARS = (
    ("sagemaker_region", "region"),
    ("sagemaker_profile", "profile"),
    ("sagemaker_aws_endpoint_url", "endpoint_url"),
    ("sagemaker_deployment", "deployment"),
    ("sagemaker_on_in_progress", "on_in_progress"),
    ("sagemaker_wait_timeout", "wait_timeout"),
    ("sagemaker_poll_max_interval_seconds", "poll_max_interval_seconds"),
    ("sagemaker_keep_versions", "keep_versions"),
)
ENDPOINT_NAME_VAR = "sagemaker_endpoint_name"


def fleet_waves(spec):
    try:
        return waves.parse(spec)
    except waves.WaveError as exc:
        raise AnsibleFilterError(str(exc))


def fleet_wave(batch, hosts, spec):
    try:
        number = waves.wave_of_batch(list(hosts), waves.parse(spec), list(batch))
    except waves.WaveError as exc:
        raise AnsibleFilterError(str(exc))
    if number is None:
        raise AnsibleFilterError("fleet_wave: %s is not a wave of %s" % (list(batch), list(hosts)))
    return number


def _given(value):
    return value is not None and value != ""


def cluster_connection(host_vars):
    if not isinstance(host_vars, Mapping):
        raise AnsibleFilterError("cluster_connection expects the host variables of one cluster, such as "
                                 "hostvars[inventory_hostname], got %s" % type(host_vars).__name__)
    options = {}
    for var, option in CONNECTION_VARS:
        value = host_vars[var] if var in host_vars else None
        if _given(value):
            options[option] = value
    if not (set(options) & {"kubeconfig", "context", "host"}):
        name = host_vars["eks_cluster_name"] if "eks_cluster_name" in host_vars else None
        if _given(name):
            eks = {"cluster_name": name}
            region = host_vars["eks_region"] if "eks_region" in host_vars else None
            if _given(region):
                eks["region"] = region
            return {"eks": eks}
    return options


def _host_names(hosts, caller):
    if isinstance(hosts, str) or not all(isinstance(h, str) for h in hosts or []):
        raise AnsibleFilterError("%s expects a list of inventory host names, such as ansible_play_batch" % caller)
    return list(hosts or [])


def _var(host_vars, name):
    return host_vars[name] if name in host_vars else None


def is_endpoint(host_vars):
    """A host that names a SageMaker endpoint is an endpoint, whatever else it inherits (group variables
    that say how to reach clusters apply to it too, and must never make it read as a cluster)."""
    return _given(_var(host_vars, ENDPOINT_NAME_VAR))


def fleet_members(hosts, hostvars):
    """The clusters among ``hosts``: an endpoint host is left out, so no cluster check ever reads a
    Deployment through the connection it inherits (or the default kubeconfig)."""
    return [{"name": host, "connection": cluster_connection(hostvars[host])}
            for host in _host_names(hosts, "fleet_members") if not is_endpoint(hostvars[host])]


def fleet_endpoints(hosts, hostvars):
    return [host for host in _host_names(hosts, "fleet_endpoints") if is_endpoint(hostvars[host])]


def sagemaker_endpoint(host_vars, image=None, tags=None):
    """The options of sagemaker_endpoint_rollout for an endpoint host; {} for a cluster."""
    if not isinstance(host_vars, Mapping):
        raise AnsibleFilterError("sagemaker_endpoint expects the host variables of one host, such as "
                                 "hostvars[inventory_hostname], got %s" % type(host_vars).__name__)
    if not is_endpoint(host_vars):
        return {}
    model = _var(host_vars, "sagemaker_model")
    if model is not None and not isinstance(model, Mapping):
        raise AnsibleFilterError("sagemaker_model of %s must be a dict (image comes from sagemaker_image or "
                                 "model_server_image), got %s" % (_var(host_vars, ENDPOINT_NAME_VAR), type(model).__name__))
    model = dict(model or {})
    own_image = _var(host_vars, "sagemaker_image")
    if _given(own_image):
        model["image"] = own_image
    elif _given(image):
        model["image"] = image
    options = {"name": _var(host_vars, ENDPOINT_NAME_VAR), "model": model,
               "variants": _var(host_vars, "sagemaker_variants")}
    for var, option in ENDPOINT_VARS:
        value = _var(host_vars, var)
        if _given(value):
            options[option] = value
    merged = dict(_var(host_vars, "sagemaker_tags") or {})
    merged.update(tags or {})
    if merged:
        options["tags"] = merged
    return options


def fleet_endpoint_rows(hosts, hostvars):
    """status.yml's rows of the endpoint hosts among ``hosts``, from what each read (``__fleet_endpoint_status``,
    sagemaker_endpoint_info's result)."""
    rows = []
    for host in fleet_endpoints(hosts, hostvars):
        host_vars = hostvars[host]
        rows.append(endpoint_status_row(host, sagemaker_endpoint(host_vars).get("name"),
                                        _var(host_vars, "__fleet_endpoint_status")))
    return rows


def endpoint_status_row(host, name, info):
    """One line of status.yml's table for a SageMaker endpoint, in the shape of a cluster's."""
    info = info if isinstance(info, Mapping) else {}
    found = bool(info.get("exists")) and bool(info.get("endpoints"))
    live = info["endpoints"][0] if found else {}
    if info.get("failed"):
        verdict, message, ok = "unreadable", info.get("msg") or "sagemaker_endpoint_info failed", False
    elif not found:
        verdict, message, ok = "not_found", "SageMaker endpoint %s not found" % name, False
    else:
        verdict = "complete" if live.get("status") == "InService" and not live.get("in_progress") else \
            str(live.get("status") or "unknown")
        message = live.get("failure_reason") or ("deployment of %s in progress" % (live.get("pending") or {}).get(
            "endpoint_config") if live.get("in_progress") else "")
        ok = True
    row = {"cluster": host, "platform": "sagemaker", "endpoint": name, "found": found, "image": live.get("image"),
           "revision": live.get("endpoint_config"), "complete": verdict == "complete", "verdict": verdict,
           "message": message, "status": live.get("status"), "ok": ok,
           "instances": sum(v.get("current_instance_count") or 0 for v in live.get("variants") or [])}
    row["line"] = "  ".join(str(row[k]) for k in ("cluster", "image", "revision", "verdict")) + (
        "  (SageMaker endpoint %s%s)" % (name, ": " + message if message else ""))
    return row


class FilterModule(object):
    def filters(self):
        return {"fleet_waves": fleet_waves, "fleet_wave": fleet_wave, "cluster_connection": cluster_connection,
                "fleet_members": fleet_members, "fleet_endpoints": fleet_endpoints,
                "sagemaker_endpoint": sagemaker_endpoint, "fleet_endpoint_rows": fleet_endpoint_rows}
