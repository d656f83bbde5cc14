"""Soak test (reliability item R24): hours of trading against the simulated IBKR gateway under random faults.

Starts the simulated gateway as a child process, trades several instruments with market, limit and
stop orders, modifications and cancels through the real IBKR adapter, the engine and the SQLite
journal, injects seeded random faults from R1-R15, checks the invariants while it runs and at the
end (journal equals the gateway's ledger, no lost or duplicated fill, no stuck order, memory,
threads, descriptors, no dropped event) and prints a summary; exits 1 if an invariant failed.

Usage::

    .venv/bin/python benchmarks/soak.py --minutes 60 --speed 8 --seed 1 --out soak.json
    .venv/bin/python benchmarks/soak.py --list-faults

See docs/ibkr.md, "Soak test".
"""

from __future__ import annotations

import sys

from tradebus.soak.cli import main

if __name__ == "__main__":
    sys.exit(main())
