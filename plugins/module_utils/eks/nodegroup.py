# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What an EKS managed node group should look like, and what must change to get there.

Pure functions: module parameters and DescribeNodegroup output in, API parameters out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Fields EKS cannot change on an existing node group: a difference is an error to report,
# never something to ignore silently.
IMMUTABLE = (
    ("nodeRole", "node_role"),
    ("subnets", "subnets"),
    ("instanceTypes", "instance_types"),
    ("amiType", "ami_type"),
    ("capacityType", "capacity_type"),
    ("diskSize", "disk_size"),
)
UNORDERED = ("subnets",)


def desired(params):
    """CreateNodegroup parameters for the module's ``params`` (``None`` options left out)."""
    out = dict(
        clusterName=params["cluster_name"],
        nodegroupName=params["name"],
        nodeRole=params["node_role"],
        subnets=list(params["subnets"] or []),
        scalingConfig=dict(
            minSize=params["scaling_config"]["min_size"],
            maxSize=params["scaling_config"]["max_size"],
            desiredSize=params["scaling_config"]["desired_size"],
        ),
        labels=dict(params.get("labels") or {}),
        taints=[normalize_taint(t) for t in params.get("taints") or []],
        tags=dict(params.get("tags") or {}),
    )
    optional = dict(
        instanceTypes=params.get("instance_types"),
        amiType=params.get("ami_type"),
        capacityType=params.get("capacity_type"),
        diskSize=params.get("disk_size"),
        releaseVersion=params.get("release_version"),
    )
    out.update((k, v) for k, v in optional.items() if v is not None)
    if params.get("max_unavailable") is not None:
        out["updateConfig"] = dict(maxUnavailable=params["max_unavailable"])
    return out


def normalize_taint(taint):
    """``{key, value, effect}`` as EKS returns it: no ``value`` key when there is no value."""
    out = dict(key=taint["key"], effect=taint["effect"])
    if taint.get("value") not in (None, ""):
        out["value"] = taint["value"]
    return out


def immutable_conflicts(current, want):
    """``[(field, current, wanted)]`` for fields that differ but cannot be updated in place."""
    conflicts = []
    for api_name, option in IMMUTABLE:
        if api_name not in want or api_name not in current:
            continue
        have, wish = current[api_name], want[api_name]
        if api_name in UNORDERED:
            have, wish = sorted(have), sorted(wish)
        if have != wish:
            conflicts.append((option, current[api_name], want[api_name]))
    return conflicts


def _label_update(current, want):
    have = current or {}
    add = dict((k, v) for k, v in want.items() if have.get(k) != v)
    remove = sorted(k for k in have if k not in want)
    update = {}
    if add:
        update["addOrUpdateLabels"] = add
    if remove:
        update["removeLabels"] = remove
    return update


def _taint_key(taint):
    return (taint["key"], taint.get("value"), taint["effect"])


def _taint_update(current, want):
    have = [normalize_taint(t) for t in current or []]
    have_keys = set(_taint_key(t) for t in have)
    want_keys = set(_taint_key(t) for t in want)
    add = [t for t in want if _taint_key(t) not in have_keys]
    # A taint is identified by key + effect; one replaced by add is not removed as well.
    replaced = set((t["key"], t["effect"]) for t in add)
    remove = [t for t in have if _taint_key(t) not in want_keys and (t["key"], t["effect"]) not in replaced]
    update = {}
    if add:
        update["addOrUpdateTaints"] = add
    if remove:
        update["removeTaints"] = remove
    return update


def config_update(current, want):
    """UpdateNodegroupConfig parameters (without names), empty when nothing differs."""
    update = {}
    labels = _label_update(current.get("labels"), want["labels"])
    if labels:
        update["labels"] = labels
    taints = _taint_update(current.get("taints"), want["taints"])
    if taints:
        update["taints"] = taints
    have_scaling = current.get("scalingConfig") or {}
    if any(have_scaling.get(k) != v for k, v in want["scalingConfig"].items()):
        update["scalingConfig"] = want["scalingConfig"]
    if "updateConfig" in want and (current.get("updateConfig") or {}) != want["updateConfig"]:
        update["updateConfig"] = want["updateConfig"]
    return update


def tag_update(current, want, purge):
    """``(tags_to_set, keys_to_remove)``."""
    have = current or {}
    to_set = dict((k, v) for k, v in want.items() if have.get(k) != v)
    to_remove = sorted(k for k in have if k not in want) if purge else []
    return to_set, to_remove
