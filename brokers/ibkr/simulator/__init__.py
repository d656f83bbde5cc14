"""A simulated IBKR Client Portal Web API gateway (HTTPS + WSS on loopback).

Three ways to run it: ``tradebus gateway-sim``, ``with SimulatedGateway(port=0) as gw:`` in tests,
and :class:`GatewayProcess` as a killable child process. See ``docs/simulator.md``.
"""

from brokers.ibkr.simulator.config import MarketMode
from brokers.ibkr.simulator.config import SessionState
from brokers.ibkr.simulator.config import SimulatorConfig
from brokers.ibkr.simulator.process import GatewayProcess
from brokers.ibkr.simulator.server import SimulatedGateway

__all__ = ["GatewayProcess", "MarketMode", "SessionState", "SimulatedGateway", "SimulatorConfig"]
