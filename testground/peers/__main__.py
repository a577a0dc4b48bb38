"""``python -m testground.peers``: build the peer controllers (see ``testground.peers.build``)."""

import sys

from testground.peers.build import main

sys.exit(main())
