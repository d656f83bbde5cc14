"""A simulated IBKR Client Portal Web API gateway (HTTPS + WSS on loopback).

Three ways to run it: ``tradebus gateway-sim``, ``with SimulatedGateway(port=0) as gw:`` in tests,
and :class:`GatewayProcess` as a killable child process. See ``docs/simulator.md``.
"""

from simulators.ibkr.config import MarketMode
from simulators.ibkr.config import SessionState
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.process import GatewayProcess
from simulators.ibkr.server import SimulatedGateway

__all__ = ["GatewayProcess", "MarketMode", "SessionState", "SimulatedGateway", "SimulatorConfig"]
