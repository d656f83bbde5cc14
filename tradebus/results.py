"""What a run produced: orders, fills, round-trip trades, an equity curve, and their exports.

:class:`RunRecorder` listens on an engine's bus while a run goes (fills, position changes) and
samples equity when told to; :class:`RunResult` holds the outcome and writes it as CSV and JSON.
Exports are deterministic: the same run writes the same bytes (no wall-clock times, sorted keys,
Decimals in plain notation, floats by ``repr``).

The equity curve is analytics, so it is kept in floats, in columns (``array('d')``), one sample per
distinct event time: a million samples take about 17 MB. Money (fills, cash, trade P&L, final
equity) stays Decimal.
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from brokers.paper.config import PaperConfig
from framework.engine import Engine
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.models import Fill
from framework.models import Order
from framework.models import Position
from framework.models import Side
from framework.private_files import open_private
from framework.private_files import private_dir
from framework.private_files import write_private_text
from framework.supervision import RunOutcome
from tradebus.stats import Statistics
from tradebus.stats import compute_statistics
from tradebus.stats import drawdown_series
from tradebus.stats import periods_per_year
from tradebus.trades import OpenPosition
from tradebus.trades import RoundTrip
from tradebus.trades import open_positions
from tradebus.trades import round_trips

if TYPE_CHECKING:
    from tradebus.frames import RunFrames

__all__ = ["EquityCurve", "OpenPosition", "RoundTrip", "RunRecorder", "RunResult", "round_trips"]

ZERO = Decimal(0)


class EquityCurve:
    """Equity samples in columns: epoch seconds, equity, and whether a position was open.

    Args:
        period: The bar length the samples follow (for annualisation).
    """

    def __init__(self, period: timedelta) -> None:
        self.period = period
        self.seconds: array[float] = array("d")
        self.equity: array[float] = array("d")
        self.invested = bytearray()

    def __len__(self) -> int:
        return len(self.equity)

    def append(self, seconds: float, equity: float, invested: bool) -> None:
        """Add a sample."""
        self.seconds.append(seconds)
        self.equity.append(equity)
        self.invested.append(invested)

    def times(self) -> list[datetime]:
        """Sample times as aware UTC datetimes."""
        return [datetime.fromtimestamp(s, UTC) for s in self.seconds]

    def drawdowns(self) -> Iterator[float]:
        """Drawdown (<= 0) of every sample from its running peak."""
        return drawdown_series(self.equity)


class RunRecorder:
    """Records a run from the bus: every fill, and equity at the times the driver samples it.

    Args:
        engine: The engine of the run; fills are heard on its bus for every strategy, cash and the
            position are read from its portfolio after each (the engine books a fill before it
            publishes it), and last prices are the engine's.
        period: Bar length, stored with the equity curve.

    Attributes:
        last_prices: Latest price per symbol (the engine's, updated on every quote and bar).
    """

    def __init__(self, engine: Engine, period: timedelta) -> None:
        self.fills: list[Fill] = []
        self.curve = EquityCurve(period)
        self.last_prices: dict[str, float] = engine.subscriptions.last_prices
        self._orders = engine.orders
        self._portfolio = engine.portfolio
        self._cash = float(engine.portfolio.cash)
        self._held: dict[str, float] = {}  # symbol -> quantity x multiplier
        self._multipliers: dict[str, Decimal] = {}
        curve = self.curve  # the columns' appends, bound once: sample() runs for every bar time
        self._append_seconds, self._append_equity = curve.seconds.append, curve.equity.append
        self._append_invested = curve.invested.append
        bus = engine.bus
        self._subs = [
            bus.subscribe(OrderFilled, self._on_fill),
            bus.subscribe(OrderPartiallyFilled, self._on_fill),
        ]

    def _on_fill(self, event: OrderFilled | OrderPartiallyFilled) -> None:
        fill = event.fill
        self.fills.append(fill)
        self._cash = float(self._portfolio.cash)
        symbol = fill.symbol
        order = self._orders.get(fill.client_order_id)
        multiplier = order.request.instrument.multiplier if order is not None else Decimal(1)
        self._multipliers[symbol] = multiplier
        quantity = self._portfolio.quantity(symbol)
        if quantity:
            self._held[symbol] = float(quantity * multiplier)
        else:
            self._held.pop(symbol, None)

    def sample(self, seconds: float) -> None:
        """Record equity (cash plus positions at the last prices) at epoch ``seconds``."""
        # called once per distinct time of a backtest: appends go straight to the columns
        equity = self._cash
        held = self._held
        if held:
            last = self.last_prices
            for symbol, quantity in held.items():
                equity += quantity * last[symbol]
        self._append_seconds(seconds)
        self._append_equity(equity)
        self._append_invested(1 if held else 0)

    def close(self) -> None:
        """Stop listening."""
        for sub in self._subs:
            sub.cancel()

    @property
    def multipliers(self) -> dict[str, Decimal]:
        """Contract multiplier of every symbol that was traded."""
        return dict(self._multipliers)


def _text(value: Any) -> Any:
    # plain, deterministic rendering for CSV and JSON
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


ORDER_COLUMNS = (
    "client_order_id", "strategy_id", "symbol", "side", "order_type", "quantity", "limit_price", "stop_price",
    "time_in_force", "status", "filled_quantity", "average_fill_price", "reason", "updated",
)  # fmt: skip
"""The columns of ``orders.csv`` and of ``result.frames.orders``, in order."""


def order_row(order: Order) -> dict[str, Any]:
    """One order's final state as a row of :data:`ORDER_COLUMNS` (values not yet formatted)."""
    r = order.request
    return {
        "client_order_id": r.client_order_id,
        "strategy_id": r.strategy_id,
        "symbol": r.symbol,
        "side": r.side.value,
        "order_type": r.order_type.value,
        "quantity": r.quantity,
        "limit_price": r.limit_price,
        "stop_price": r.stop_price,
        "time_in_force": r.time_in_force.value,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_fill_price": order.average_fill_price,
        "reason": order.reason,
        "updated": order.updated,
    }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, Side) else v) for k, v in row.items()}


def _trade_rows(trades: Sequence[RoundTrip]) -> list[dict[str, Any]]:
    return [_plain(t.model_dump()) for t in trades]


def _fill_rows(fills: Sequence[Fill]) -> list[dict[str, Any]]:
    return [_plain(fill._asdict()) for fill in fills]


class RunResult:
    """Everything a run produced.

    Args:
        orders: Final snapshot of every order, in submission order.
        fills: Every fill, in execution order.
        curve: The equity curve.
        starting_cash: Cash at the start.
        final_cash: Cash at the end.
        final_equity: Cash plus positions at the last prices, exactly.
        multipliers: Contract multiplier per traded symbol (for trade P&L).
        bar_count: Number of bars replayed.
        bars_total: Number of bars the replay had (a backtest); more than ``bar_count`` when it
            stopped early.
        outcome: How the run ended (failed strategies, an interruption); default: completed.
        positions: The portfolio's positions when the run ended (flat ones are ignored).
        paper_config: The simulated venue's settings (cash, costs, fill model), when the run had one.
    """

    def __init__(
        self,
        *,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        curve: EquityCurve,
        starting_cash: Decimal,
        final_cash: Decimal,
        final_equity: Decimal,
        multipliers: dict[str, Decimal] | None = None,
        bar_count: int = 0,
        bars_total: int | None = None,
        outcome: RunOutcome | None = None,
        positions: Iterable[Position] = (),
        paper_config: PaperConfig | None = None,
    ) -> None:
        self.orders = list(orders)
        self.fills = list(fills)
        self.curve = curve
        self.starting_cash = starting_cash
        self.final_cash = final_cash
        self.final_equity = final_equity
        self.bar_count = bar_count
        self.bars_total = bars_total
        self.outcome = outcome if outcome is not None else RunOutcome()
        self._multipliers = multipliers
        self.open_positions: list[OpenPosition] = open_positions(positions, multipliers)
        """Positions still held when the run ended, valued at the last prices, by symbol."""
        self.paper_config = paper_config
        self._trades: list[RoundTrip] | None = None
        self._statistics: Statistics | None = None

    @property
    def trades(self) -> list[RoundTrip]:
        """Flat-to-flat round trips of the fills (grouped on first use)."""
        if self._trades is None:
            self._trades = round_trips(self.fills, self._multipliers)
        return self._trades

    @property
    def statistics(self) -> Statistics:
        """The run's statistics (computed on first use)."""
        if self._statistics is None:
            curve = self.curve
            self._statistics = compute_statistics(
                curve.times(), curve.equity, curve.invested, [t.pnl for t in self.trades],
                periods_per_year(curve.period),
            )  # fmt: skip
        return self._statistics

    @property
    def frames(self) -> RunFrames:
        """The results as pandas Series and DataFrames (needs the ``pandas`` extra; see :mod:`tradebus.frames`)."""
        from tradebus.frames import RunFrames  # noqa: PLC0415 - frames imports this module

        return RunFrames(self)

    def _repr_html_(self) -> str:
        from tradebus.summary_html import result_html  # noqa: PLC0415 - only notebooks need it

        return result_html(self)

    def __repr__(self) -> str:
        stats = self.statistics
        return (
            f"<RunResult {self.run_info()['status']}: {self.bar_count} bars, {len(self.orders)} orders, "
            f"{len(self.fills)} fills, {stats.trade_count} trades, final equity {self.final_equity}>"
        )

    def summary(self) -> dict[str, Any]:
        """Totals and statistics as plain JSON-ready values."""
        totals = {
            "bars": self.bar_count,
            "orders": len(self.orders),
            "fills": len(self.fills),
            "starting_cash": self.starting_cash,
            "final_cash": self.final_cash,
            "final_equity": self.final_equity,
            "commissions": sum((f.commission for f in self.fills), ZERO),
        }
        stats = self.statistics.model_dump()
        return {k: _text(v) for k, v in {**totals, **stats}.items()}

    @property
    def partial(self) -> bool:
        """Whether the run ended before its planned end (interrupted, stopped on an error)."""
        stopped_early = self.bars_total is not None and self.bar_count < self.bars_total
        return self.outcome.stop_reason is not None or stopped_early

    def run_info(self) -> dict[str, Any]:
        """How the run ended, JSON-ready: status, whether the results are partial and why, the failures."""
        outcome = self.outcome
        info: dict[str, Any] = {
            "status": outcome.status,
            "partial": self.partial,
            "stop_reason": outcome.stop_reason,
            "bars_replayed": self.bar_count,
            "bars_total": self.bars_total,
            "strategy_failures": [
                {
                    "ts": _text(f.ts),
                    "strategy_id": f.strategy_id,
                    "hook": f.hook,
                    "event": f.event,
                    "error_type": f.error_type,
                    "error": f.error,
                    "policy": f.policy,
                    "cancelled": list(f.cancelled),
                }
                for f in outcome.failures
            ],
            "errors_tolerated": dict(sorted(outcome.tolerated.items())),
            "errors": list(outcome.errors),
        }
        return info

    def to_json(self) -> str:
        """The whole result (without the equity curve) as deterministic JSON.

        ``run`` says how the run ended (see :meth:`run_info`): ``partial`` is true when it was
        interrupted or stopped on an error before its end.
        """
        doc = {
            "run": self.run_info(),
            "summary": self.summary(),
            "orders": [{k: _text(v) for k, v in order_row(o).items()} for o in self.orders],
            "fills": [{k: _text(v) for k, v in row.items()} for row in _fill_rows(self.fills)],
            "trades": [{k: _text(v) for k, v in row.items()} for row in _trade_rows(self.trades)],
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    def export(self, directory: str | Path) -> list[Path]:
        """Write ``orders.csv``, ``fills.csv``, ``trades.csv``, ``equity.csv`` and ``result.json``.

        Returns:
            The paths written.
        """
        out = Path(directory)
        private_dir(out)
        written = [
            _write_csv(out / "orders.csv", [order_row(o) for o in self.orders]),
            _write_csv(out / "fills.csv", _fill_rows(self.fills)),
            _write_csv(out / "trades.csv", _trade_rows(self.trades)),
            self._write_equity(out / "equity.csv"),
        ]
        path = out / "result.json"
        write_private_text(path, self.to_json())
        return [*written, path]

    def _write_equity(self, path: Path) -> Path:
        curve = self.curve
        with open_private(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["timestamp", "equity", "drawdown", "invested"])
            rows = zip(curve.times(), curve.equity, curve.drawdowns(), curve.invested, strict=True)
            for ts, equity, dd, invested in rows:
                writer.writerow([_text(ts), repr(equity), repr(dd), invested])
        return path


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open_private(path, "w", newline="", encoding="utf-8") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else _text(v) for k, v in row.items()})
    return path
