# -*- coding: utf-8 -*-
# Copyright (c) modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: eks_clusters
short_description: EKS clusters as inventory hosts, grouped by tags such as the rollout wave
version_added: 0.1.0
description:
  - Lists the EKS clusters of the given regions, describes each, keeps those whose tags match
    I(tags), and adds one host per cluster with the variables the collection's playbooks need.
  - Hosts run on the controller (C(ansible_connection=local)); tasks talk to the cluster's API.
  - Groups come from C(keyed_groups), C(groups) and C(compose) (constructed); every host is also
    in C(eks_clusters) and in C(eks_<region>) (dashes become underscores).
  - Uses a YAML configuration file whose name ends with C(eks_clusters.yml) or C(eks_clusters.yaml).
  - Caching works as in amazon.aws inventory plugins (C(cache), C(cache_plugin), C(cache_timeout)).
options:
  plugin:
    description: Marks this as an instance of the C(eks_clusters) plugin.
    required: true
    choices: [modelops.serving.eks_clusters]
    type: str
  regions:
    description: Regions to list clusters in. Empty means every region EC2 reports.
    type: list
    elements: str
    default: []
  tags:
    description:
      - Keep only clusters carrying all of these tags. A value of C(null) (C(~)) matches any
        value of the tag; C(rollout-wave) set to C(~) keeps every cluster that has a wave.
    type: dict
    default: {}
  hostname:
    description:
      - How to name hosts. C(name) is the cluster name, C(region_name) is C(<region>/<name>),
        needed when clusters of the same name live in several regions.
    type: str
    choices: [name, region_name]
    default: name
  strict_permissions:
    description:
      - When false, a region where listing clusters is denied is skipped with a warning instead
        of failing the inventory.
    type: bool
    default: true
extends_documentation_fragment:
  - inventory_cache
  - constructed
  - amazon.aws.boto3
  - amazon.aws.common.plugins
  - amazon.aws.region.plugins
  - amazon.aws.assume_role.plugins
author:
  - modelops.serving maintainers (@modelops)
notes:
  - Needs C(eks:ListClusters) and C(eks:DescribeCluster) (and C(ec2:DescribeRegions) when
    I(regions) is empty).
  - Host variables are C(eks_cluster_name), C(eks_region), C(eks_endpoint), C(eks_ca_data),
    C(eks_version), C(eks_status), C(eks_arn), C(eks_platform_version), C(tags) and
    C(ansible_connection). Pass C(eks_cluster_name) and C(eks_region) to
    C(modelops.serving.eks_auth) to get a token.
"""

EXAMPLES = r"""
# inventory/fleet.eks_clusters.yml
plugin: modelops.serving.eks_clusters
regions: [us-east-1, eu-west-1]
tags:
  app: model-serving
  rollout-wave: ~
keyed_groups:
  # wave_1, wave_2, ... for playbooks/rollout.yml's serial waves
  - key: tags['rollout-wave']
    prefix: wave
  - key: tags.environment | default('none')
    prefix: env
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/modelops-serving/inventory
cache_timeout: 300
"""

try:
    import botocore
except ImportError:
    pass  # AWSInventoryBase reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.plugin_utils.inventory import AWSInventoryBase

from ansible_collections.modelops.serving.plugins.module_utils.eks.token import aws_retry

GROUP = "eks_clusters"


def tags_match(tags, wanted):
    """All ``wanted`` tags present; a ``None`` value matches any value."""
    for key, value in (wanted or {}).items():
        if key not in tags:
            return False
        if value is not None and str(tags[key]) != str(value):
            return False
    return True


def host_vars(cluster, region):
    return dict(
        eks_cluster_name=cluster["name"],
        eks_region=region,
        eks_arn=cluster.get("arn"),
        eks_endpoint=cluster.get("endpoint"),
        eks_ca_data=(cluster.get("certificateAuthority") or {}).get("data"),
        eks_version=cluster.get("version"),
        eks_platform_version=cluster.get("platformVersion"),
        eks_status=cluster.get("status"),
        tags=cluster.get("tags") or {},
        ansible_connection="local",
    )


def region_group(region):
    return "eks_" + region.replace("-", "_")


class InventoryModule(AWSInventoryBase):
    NAME = "modelops.serving.eks_clusters"
    INVENTORY_FILE_SUFFIXES = ("eks_clusters.yml", "eks_clusters.yaml")

    def _clusters_in(self, client, region):
        retry = aws_retry()
        names = []
        try:
            paginator = client.get_paginator("list_clusters")
            for page in retry(lambda: list(paginator.paginate()))():
                names.extend(page.get("clusters", []))
        except is_boto3_error_code(["AccessDeniedException", "UnauthorizedOperation"]) as e:
            if self.get_option("strict_permissions"):
                self.fail_aws("Not allowed to list EKS clusters in %s" % region, exception=e)
            self.warn("Skipping %s: not allowed to list EKS clusters (%s)" % (region, e))
            return []
        except botocore.exceptions.EndpointConnectionError as e:
            self.warn("Skipping %s: no EKS endpoint reachable (%s)" % (region, e))
            return []
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
            self.fail_aws("Unable to list EKS clusters in %s" % region, exception=e)
        clusters = []
        for name in names:
            try:
                cluster = retry(client.describe_cluster)(name=name)["cluster"]
            except is_boto3_error_code("ResourceNotFoundException"):
                continue  # deleted between list and describe
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
                self.fail_aws("Unable to describe EKS cluster %s in %s" % (name, region), exception=e)
            clusters.append(host_vars(cluster, region))
        return clusters

    def _query(self):
        wanted = self.get_option("tags")
        found = []
        for client, region in self.all_clients("eks"):
            found.extend(c for c in self._clusters_in(client, region) if tags_match(c["tags"], wanted))
        return sorted(found, key=lambda c: (c["eks_region"], c["eks_cluster_name"]))

    def _hostname(self, cluster):
        if self.get_option("hostname") == "region_name":
            return "%s/%s" % (cluster["eks_region"], cluster["eks_cluster_name"])
        return cluster["eks_cluster_name"]

    def _populate(self, clusters):
        self.inventory.add_group(GROUP)
        strict = self.get_option("strict")
        for cluster in clusters:
            name = self._hostname(cluster)
            self.inventory.add_host(name, group=GROUP)
            rgroup = self.inventory.add_group(region_group(cluster["eks_region"]))
            self.inventory.add_host(name, group=rgroup)
            for key, value in cluster.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), cluster, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), cluster, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), cluster, name, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        was_cached, clusters = self.get_cached_result(path, cache)
        if not was_cached:
            clusters = self._query()
        self._populate(clusters)
        self.update_cached_result(path, cache, clusters)
