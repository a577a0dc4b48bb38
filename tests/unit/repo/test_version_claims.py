"""What we claim is what scripts/test installed tests: both ends of every version range of
requirements.txt, requires_ansible in meta/runtime.yml and the roles' min_ansible_version."""

import os

import pytest
import yaml

from tests.helpers import claims
from testground.collection import REPO_ROOT


def load(path):
    with open(os.path.join(REPO_ROOT, path)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("package", claims.PACKAGES)
def test_every_package_has_a_lower_bound(package):
    assert claims.lower_bound(claims.requirements()[package]), claims.requirements()[package]


@pytest.mark.parametrize("package", claims.BOUNDED)
def test_ansible_core_and_kubernetes_stop_at_the_first_release_never_run(package):
    assert claims.upper_bound(claims.requirements()[package]), claims.requirements()[package]


@pytest.mark.parametrize("package", claims.PACKAGES)
def test_the_newest_tested_version_lies_inside_the_claim(package):
    specs = claims.requirements()[package]
    newest = claims.version_tuple(claims.newest()[package])
    assert claims.version_tuple(claims.lower_bound(specs)) <= newest
    if claims.upper_bound(specs):
        assert newest < claims.version_tuple(claims.upper_bound(specs))


def test_requires_ansible_is_the_range_of_requirements():
    requires = load("meta/runtime.yml")["requires_ansible"]
    core = claims.requirements()["ansible-core"]
    assert requires == ">=%s,<%s" % (claims.lower_bound(core), claims.upper_bound(core))


def test_the_roles_claim_the_same_oldest_ansible():
    oldest = claims.version_tuple(claims.oldest()["ansible-core"])
    for role in sorted(os.listdir(os.path.join(REPO_ROOT, "roles"))):
        claimed = load(os.path.join("roles", role, "meta", "main.yml"))["galaxy_info"]["min_ansible_version"]
        assert claims.version_tuple(claimed) == oldest[:len(claims.version_tuple(claimed))], role


def test_both_ends_are_installable_sets():
    sets = claims.sets()
    assert sorted(sets) == ["newest", "oldest"]
    for lines in sets.values():
        assert sorted(line.split("==")[0] for line in lines if "==" in line) == sorted(claims.PACKAGES)
