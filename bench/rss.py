"""Python interpreter wrapper for Ansible modules that records each module's peak memory.

Ansible runs ``<interpreter> AnsiballZ_<module>.py``; this runs the real interpreter with the
same arguments as a child, and after it exits appends the child's ru_maxrss (peak resident set,
the same figure as VmHWM in /proc/<pid>/status) to the file named by BENCH_RSS_FILE.
AnsiballZ runs the module inside that one process, so the figure is the module's process.
"""

import json
import os
import sys


def main():
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable] + sys.argv[1:])
    _pid, status, usage = os.wait4(pid, 0)
    path = os.environ.get("BENCH_RSS_FILE")
    if path:
        script = os.path.basename(sys.argv[1]) if len(sys.argv) > 1 else ""
        with open(path, "a") as f:
            f.write(json.dumps({"script": script, "maxrss_kb": usage.ru_maxrss}) + "\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
