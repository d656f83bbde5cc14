"""``python -m simulators.ibkr``: the same as ``tradebus gateway-sim``."""

import sys

from simulators.ibkr.cli import main

sys.exit(main())
