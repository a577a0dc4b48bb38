"""Kubeconfig files: owner-only from creation, and a token refresh alone is no change."""

import os
import stat

from ansible_collections.modelops.serving.plugins.module_utils.eks import kubeconfig


def config(token, server="https://h"):
    return {"clusters": [{"name": "c", "cluster": {"server": server}}], "users": [{"name": "c", "user": {"token": token}}]}


def test_written_owner_only_and_token_refresh_is_not_a_change(tmp_path):
    path = str(tmp_path / "sub" / "kubeconfig")
    assert kubeconfig.needs_change(path, config("t1"))
    kubeconfig.write(path, config("t1"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not kubeconfig.needs_change(path, config("t2"))
    assert kubeconfig.needs_change(path, config("t2", server="https://other"))
    os.chmod(path, 0o644)
    assert kubeconfig.needs_change(path, config("t1"))
    assert list(os.listdir(os.path.dirname(path))) == ["kubeconfig"]  # no temp file left
