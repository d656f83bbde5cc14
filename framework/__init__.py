"""tradebus core: what strategies and broker adapters are written against.

Models, events, the bus, the broker contract and its commands, the order lifecycle, the portfolio,
pre-trade checks, the engine and the strategy API. ``from framework import Strategy, ...`` writes
a strategy; ``from tradebus import run_backtest, ...`` runs one.
"""

from framework.broker import Broker
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.broker import Execution
from framework.broker import MarketData
from framework.bus import ANY
from framework.bus import EventBus
from framework.bus import Subscription
from framework.checks import PreTradeCheck
from framework.checks import TradingState
from framework.clock import Clock
from framework.clock import SimulatedClock
from framework.clock import SystemClock
from framework.commands import CancelAllOrders
from framework.commands import CancelOrder
from framework.commands import ModifyOrder
from framework.commands import OrderCommand
from framework.commands import SubmitOrder
from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.config import FrozenConfig
from framework.config import StrategyConfig
from framework.context import StrategyContext
from framework.engine import Engine
from framework.errors import BrokerConnectionError
from framework.errors import BrokerError
from framework.errors import ConfigError
from framework.errors import DataError
from framework.errors import FrameworkError
from framework.errors import IllegalTransitionError
from framework.errors import OrderError
from framework.errors import StrategyLoadError
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Account
from framework.models import ExecutionReport
from framework.models import Fill
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Position
from framework.models import SecurityType
from framework.models import Side
from framework.models import TimeInForce
from framework.portfolio import Portfolio
from framework.strategy import Strategy

__all__ = [
    "ANY",
    "Account",
    "Bar",
    "Broker",
    "BrokerConnectionError",
    "BrokerError",
    "CancelAllOrders",
    "CancelOrder",
    "Clock",
    "ConfigError",
    "ConnectionState",
    "DataError",
    "Engine",
    "EngineConfig",
    "ErrorPolicy",
    "EventBus",
    "EventSink",
    "Execution",
    "ExecutionReport",
    "Fill",
    "FrameworkError",
    "FrozenConfig",
    "IllegalTransitionError",
    "Instrument",
    "MarketData",
    "ModifyOrder",
    "Order",
    "OrderCommand",
    "OrderError",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Portfolio",
    "Position",
    "PreTradeCheck",
    "Quote",
    "SecurityType",
    "Side",
    "SimulatedClock",
    "Strategy",
    "StrategyConfig",
    "StrategyContext",
    "StrategyLoadError",
    "SubmitOrder",
    "Subscription",
    "SystemClock",
    "TimeInForce",
    "TradingState",
]
