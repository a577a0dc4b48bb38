"""Root of the test suite: make the collection importable under its Ansible name."""

import os
import sys

from testground.collection import ansible_env, collections_dir

_COLLECTIONS = collections_dir()
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
os.environ.update(ansible_env())
