"""``python -m brokers.ibkr.simulator``: the same as ``tradebus gateway-sim``."""

import sys

from brokers.ibkr.simulator.cli import main

sys.exit(main())
