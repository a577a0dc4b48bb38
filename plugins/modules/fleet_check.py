#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: modelops.serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_check
short_description: Check every cluster of a fleet wave at once, before a change, after a bake, or only read
version_added: 0.1.0
description:
  - Reads one Deployment on every cluster of O(clusters) from the controller, in parallel (one thread per cluster,
    one process for the whole wave), and judges each.
  - O(check=rollout) is the preflight of a rollout wave. A cluster passes when its target image is a valid image
    reference, it is reachable, the Deployment and
    its container exist, it has replicas, it is not paused and its rollout is complete (full capacity), no other run
    holds its rollout Lease (a held one is waited for up to O(lock_wait_seconds); a Lease nobody renews for its
    duration counts as free), and, for a surge-only (C(maxUnavailable 0)) GPU Deployment, a surge pod fits on a
    node. A Deployment that already carries O(image) passes whatever its state, as the resume of a run that was
    stopped half way.
  - O(check=rollback) is the preflight of a rollback wave. It picks each cluster's target, the named O(revision)'s
    image, or else the last image in its ReplicaSet history other than the current one (so a second rollback undoes
    the first), and applies the checks above except full capacity (rolling back a degraded Deployment is what a
    rollback is for).
  - O(check=bake) watches every cluster for O(bake_seconds); a cluster fails at once when its Deployment stops being
    complete, is paused, deleted, or changes to another image than its entry in O(images) (or O(image)).
  - O(check=read) only reads (what C(playbooks/status.yml) shows).
  - Writes nothing, so check mode changes nothing.
  - Runs as an action on the controller and never connects to the hosts of O(clusters) themselves.
author:
  - modelops.serving maintainers (@modelops)
options:
  check:
    description: Which check, see the description.
    type: str
    required: true
    choices: [rollout, rollback, bake, read]
  clusters:
    description: The clusters of the wave.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the cluster (its inventory host), used in the result and the messages.
        type: str
        required: true
      connection:
        description:
          - How to reach it, as M(modelops.serving.model_rollout) takes it; the filters
            P(modelops.serving.cluster_connection#filter) and P(modelops.serving.fleet_members#filter) build it from
            host variables. Unset options fall back
            to the C(K8S_AUTH_*) environment variables.
          - C(kubeconfig), C(context), C(host), C(api_key) (secret), C(ca_cert), C(client_cert), C(client_key),
            C(validate_certs), or C(eks) (C(cluster_name), C(region), ...; see M(modelops.serving.model_rollout)).
        type: dict
        default: {}
  name:
    description: Name of the Deployment on every cluster.
    type: str
    required: true
  namespace:
    description: Namespace of the Deployment.
    type: str
    default: default
  container:
    description: The container whose image the run changes. Unset with a single-container pod.
    type: str
  image:
    description: The image the run rolls out (O(check=rollout)), or the one the clusters must keep (O(check=bake)).
    type: str
  images:
    description:
      - The image of each cluster, by cluster name, where it differs from O(image) (a regional registry, say) - the
        target of O(check=rollout), or the image to keep serving with O(check=bake) (a rollback's target differs per
        cluster). Clusters not named use O(image).
    type: dict
    default: {}
  revision:
    description: With O(check=rollback), the revision number to go back to; empty picks the last other image.
    type: str
    default: ""
  max_surge:
    description: maxSurge the run will set (for the GPU room check and the floor); unset keeps the Deployment's.
    type: raw
  max_unavailable:
    description: maxUnavailable the run will set; unset keeps the Deployment's.
    type: raw
  lock_wait_seconds:
    description: How long to wait for another run's rollout Lease to go before refusing the cluster.
    type: int
    default: 150
  bake_seconds:
    description: With O(check=bake), how long to watch.
    type: int
    default: 0
notes:
  - The account needs get on Deployments and Leases, list on ReplicaSets (rollback), watch on Deployments (bake), and
    list on nodes and pods for the GPU room check; C(docs/rbac.md) has the Roles.
  - The task fails when any cluster fails its check; the result still has every cluster's outcome.
"""

EXAMPLES = r"""
- name: Preflight of the wave, before any of its clusters changes
  modelops.serving.fleet_check:
    check: rollout
    clusters: "{{ ansible_play_batch | modelops.serving.fleet_members(hostvars) }}"
    name: llm
    namespace: serving
    container: server
    image: registry.example.com/team/llm:v2
  run_once: true
  register: preflight

- name: Two clusters by context of one kubeconfig, the second one baked for five minutes
  modelops.serving.fleet_check:
    check: bake
    bake_seconds: 300
    clusters:
      - {name: prod-eu-1, connection: {kubeconfig: ~/.kube/fleet, context: prod-eu-1}}
      - {name: prod-us-1, connection: {kubeconfig: ~/.kube/fleet, context: prod-us-1}}
    name: llm
    namespace: serving
    image: registry.example.com/team/llm:v2
"""

RETURN = r"""
ok:
  description: Whether every cluster passed.
  returned: always
  type: bool
failed_clusters:
  description: Names of the clusters that did not pass.
  returned: always
  type: list
  elements: str
api_requests:
  description: API requests made, all clusters together.
  returned: always
  type: int
clusters:
  description: One outcome per cluster, by name.
  returned: always
  type: dict
  contains:
    ok:
      description: Whether this cluster passed.
      type: bool
    reason:
      description:
        - C(ok), or why not, such as C(not_found), C(no_container), C(scaled_to_zero), C(paused), C(not_full_capacity),
          C(locked), C(gpu_room), C(no_rollback_target), C(unreachable), C(connection), C(api_error); after a bake
          C(bake_unavailable), C(bake_paused), C(bake_image_changed), C(bake_deleted).
      type: str
    message:
      description: One line for a person, starting with the cluster's name.
      type: str
    deployment:
      description:
        - The Deployment as M(modelops.serving.model_rollout_info) describes it (image of the container, images,
          revision, complete, verdict, replicas, strategy, lock, history), plus C(floor), the fewest available pods
          the run's rollout allows. Absent after a bake and when the cluster was not reached.
      type: dict
    plan:
      description: C(change), or C(resume) when the Deployment already carries the target image.
      type: str
    target_image:
      description: The image this cluster goes to (a rollback's is per cluster).
      type: str
    target_revision:
      description: With O(check=rollback), the revision whose image is the target.
      type: str
    timeline:
      description: With O(check=bake), the replica counts seen during the bake, C(t) in epoch seconds.
      type: list
      elements: dict
    started_at:
      description: When the check of this cluster started, epoch seconds.
      type: float
    checked_at:
      description: When it ended, epoch seconds.
      type: float
"""
