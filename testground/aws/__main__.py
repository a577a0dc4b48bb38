"""Run the AWS emulator in the foreground, to try the collection's AWS modules by hand.

  python -m testground.aws [--settings '{"provision_seconds": 5}']

Prints the environment to point boto3, amazon.aws modules and the aws CLI at it (safe to paste
into another shell), then serves until Ctrl-C.
"""

import argparse
import json
import shlex
import signal
import sys
import time

from testground.aws import AwsEmulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m testground.aws", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", help="SageMaker step durations and failure switches, as a JSON object")
    args = parser.parse_args(argv)
    emulator = AwsEmulator(settings=json.loads(args.settings) if args.settings else None).start()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        for key, value in sorted(emulator.environ().items()):
            print("export %s=%s" % (key, shlex.quote(value)))
        print("# AWS emulator on %s (log %s); Ctrl-C stops it" % (emulator.url, emulator.process.log_path),
              flush=True)
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
