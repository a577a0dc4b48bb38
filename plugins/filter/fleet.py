# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the fleet playbooks: wave sizes for ``serial``, how to reach each cluster."""

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


def fleet_members(hosts, hostvars):
    if isinstance(hosts, str) or not all(isinstance(h, str) for h in hosts or []):
        raise AnsibleFilterError("fleet_members expects a list of inventory host names, such as ansible_play_batch")
    return [{"name": host, "connection": cluster_connection(hostvars[host])} for host in hosts]


class FilterModule(object):
    def filters(self):
        return {"fleet_waves": fleet_waves, "fleet_wave": fleet_wave, "cluster_connection": cluster_connection,
                "fleet_members": fleet_members}
