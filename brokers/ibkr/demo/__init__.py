"""``tradebus demo``: the simulated gateway, the real IBKR adapter and a strategy, end to end.

A composition root (like ``examples/``): it wires the simulator, the adapter, the engine and a
strategy loaded by name. The adapter modules themselves never import the simulator.
"""
