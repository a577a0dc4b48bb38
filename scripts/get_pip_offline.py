"""Stand-in for pip's get-pip.py, for ansible-test's per-test virtual environments.

ansible-test bootstraps pip in each sanity venv by downloading get-pip.py from a
host this machine cannot reach. This script does the same job from what is
here: the interpreter's bundled ensurepip, then `pip install <args>` from the
package index (which is reachable). bootstrap copies it to the cache path
ansible-test looks in first.
"""
import ensurepip
import os
import subprocess
import sys

env = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if args:
    # ensurepip points PIP_CONFIG_FILE at /dev/null in this process; the install from the
    # index needs the machine's pip configuration (certificates, mirrors) back.
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args, env=env)
