"""The soak runner (reliability item R24): hours of trading against the simulated IBKR gateway, under faults.

A soak starts the simulated gateway as a child process (its books survive restarts, as IBKR's do),
trades several instruments through the real IBKR adapter, the engine and the SQLite journal (the run
is assembled as ``tradebus live`` assembles it), injects seeded random faults from R1-R15 on a
schedule, checks invariants while it runs and at the end, and reports a summary. Time runs
``speed`` times faster than the wall clock: the market steps, the adapter's and the gateway's
timers and the fault schedule are all compressed by that factor, so a 60-minute run at speed 8
covers an 8-hour session.

Parts: :mod:`~tradebus.soak.settings` (options and the time scale), :mod:`~tradebus.soak.gateway`
(the child process), :mod:`~tradebus.soak.trader` (the strategy), :mod:`~tradebus.soak.faults` and
:mod:`~tradebus.soak.injector` (what can go wrong, and when), :mod:`~tradebus.soak.monitor` and
:mod:`~tradebus.soak.probes` (what is watched while it runs), :mod:`~tradebus.soak.books` (the
journal against the gateway's ledger), :mod:`~tradebus.soak.summary` and
:mod:`~tradebus.soak.runner`. Run it with ``python benchmarks/soak.py --minutes 60 --speed 8``.
"""

from tradebus.soak.runner import SoakReport
from tradebus.soak.runner import run_soak
from tradebus.soak.settings import SoakConfig

__all__ = ["SoakConfig", "SoakReport", "run_soak"]
