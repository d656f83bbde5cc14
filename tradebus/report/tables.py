"""The report's tables as HTML: statistics, trades, open positions, and the venue's assumptions.

Every value is escaped. Per-trade figures are labelled "(per trade)", figures from the per-bar
equity returns say the period they come from, and an annualised figure that is None because the
run is too short says so instead of showing a number.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from tradebus.report.formatting import NA
from tradebus.report.formatting import human_duration
from tradebus.report.formatting import money
from tradebus.report.formatting import number
from tradebus.report.formatting import percent
from tradebus.report.formatting import price
from tradebus.report.formatting import quantity
from tradebus.report.formatting import timestamp
from tradebus.stats import Statistics
from tradebus.trades import OpenPosition
from tradebus.trades import RoundTrip

MAX_TRADE_ROWS = 500
"""Trades listed at most (the last ones); the heading says when some are left out."""

Row = tuple[str, str]

TOO_SHORT = "not annualised (run too short)"
"""What an annualised figure shows when the run is too short to annualise (the note under the table says why)."""


def _annualised(value: float | None, stats: Statistics, shown: str) -> str:
    if value is not None:
        return shown
    return TOO_SHORT if stats.annualization_note else NA


def headline(stats: Statistics) -> list[Row]:
    """The statistics as ``(label, formatted value)`` pairs, most telling first (the CLI prints these)."""
    return [
        ("Total return", percent(stats.total_return)),
        ("CAGR", _annualised(stats.cagr, stats, percent(stats.cagr))),
        ("Max drawdown", percent(stats.max_drawdown)),
        ("Drawdown duration", human_duration(stats.max_drawdown_duration)),
        ("Sharpe", _annualised(stats.sharpe, stats, number(stats.sharpe))),
        ("Sortino", _annualised(stats.sortino, stats, number(stats.sortino))),
        ("Volatility (ann.)", _annualised(stats.annualized_volatility, stats, percent(stats.annualized_volatility))),
        ("Trades", str(stats.trade_count)),
        ("Win rate (per trade)", percent(stats.win_rate)),
        ("Profit factor (per trade)", number(stats.profit_factor)),
        ("Expectancy (per trade)", money(stats.expectancy)),
        ("Exposure", percent(stats.exposure)),
    ]


def statistics_rows(
    stats: Statistics, period: timedelta, benchmark_return: float | None
) -> list[tuple[str, list[Row]]]:
    """The statistics in groups ``(heading, rows)``: returns, risk (per period), trades (per trade)."""
    bar = human_duration(period)
    returns = [
        ("Total return", percent(stats.total_return)),
        ("Buy and hold, equal weight (benchmark)", percent(benchmark_return)),
        ("CAGR (annualised)", _annualised(stats.cagr, stats, percent(stats.cagr))),
    ]
    risk = [
        ("Max drawdown", percent(stats.max_drawdown)),
        ("Max drawdown duration", human_duration(stats.max_drawdown_duration)),
        (f"Volatility (annualised from {bar} returns)",
         _annualised(stats.annualized_volatility, stats, percent(stats.annualized_volatility))),
        (f"Sharpe (annualised from {bar} returns)", _annualised(stats.sharpe, stats, number(stats.sharpe))),
        (f"Sortino (annualised from {bar} returns)", _annualised(stats.sortino, stats, number(stats.sortino))),
        (f"Exposure (share of {bar} periods with a position)", percent(stats.exposure)),
        ("Periods per year (annualisation factor)", number(stats.periods_per_year, 0)),
    ]  # fmt: skip
    trades = [
        ("Closed trades", f"{stats.trade_count:,}"),
        ("Win rate (per trade)", percent(stats.win_rate)),
        ("Profit factor (per trade)", number(stats.profit_factor)),
        ("Average win (per trade)", money(stats.average_win)),
        ("Average loss (per trade)", money(stats.average_loss)),
        ("Expectancy (per trade)", money(stats.expectancy)),
    ]
    return [("Returns", returns), ("Risk (per period)", risk), ("Trades (per trade, net of commission)", trades)]


def _cells(values: Sequence[str], tag: str = "td") -> str:
    return "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values)


def _unbroken(value: str) -> str:
    # a number and its unit stay on one line ("12.30 %", "3 d 4 h") when a narrow cell wraps
    return re.sub(r"(\d) (?=[%dhms]|min)", "\\1&nbsp;", html.escape(value))


def key_value_table(rows: Sequence[Row], css: str = "kv") -> str:
    """A two-column table of labels and values."""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{_unbroken(v)}</td></tr>" for k, v in rows)
    return f'<table class="{css}">{body}</table>'


def statistics_table(stats: Statistics, period: timedelta, benchmark_return: float | None) -> str:
    """The statistics, grouped, each group a small table under its heading."""
    parts = [
        f'<div class="group"><h3>{html.escape(heading)}</h3>{key_value_table(rows)}</div>'
        for heading, rows in statistics_rows(stats, period, benchmark_return)
    ]
    note = stats.annualization_note
    why = f'<p class="note">{html.escape(note[:1].upper() + note[1:])}.</p>' if note else ""
    return '<div class="groups">' + "".join(parts) + "</div>" + why


_TRADE_HEAD = ("#", "symbol", "side", "quantity", "entry time", "entry price", "exit time", "exit price",
               "commission", "holding time", "net P&L")  # fmt: skip


def _sign_class(value: Decimal) -> str:
    return "pos" if value > 0 else "neg" if value < 0 else ""


def trade_row(number_: int, trade: RoundTrip) -> list[str]:
    """One trade's cells, as the trades table shows them."""
    return [
        str(number_), trade.symbol, "long" if trade.side.sign > 0 else "short", quantity(trade.quantity),
        timestamp(trade.entry_time), price(trade.entry_price), timestamp(trade.exit_time), price(trade.exit_price),
        money(trade.commission), human_duration(trade.holding_time), money(trade.pnl),
    ]  # fmt: skip


def trades_table(trades: Sequence[RoundTrip]) -> str:
    """Closed round trips, the last :data:`MAX_TRADE_ROWS` of them, net P&L coloured."""
    if not trades:
        return '<p class="empty">No closed trades.</p>'
    first = max(0, len(trades) - MAX_TRADE_ROWS)
    rows = "".join(
        f'<tr class="{_sign_class(t.pnl)}">{_cells(trade_row(first + i + 1, t))}</tr>'
        for i, t in enumerate(trades[first:])
    )
    note = f'<p class="note">Showing the last {MAX_TRADE_ROWS:,} of {len(trades):,} trades.</p>' if first else ""
    return f'{note}<table class="grid trades"><tr>{_cells(_TRADE_HEAD, "th")}</tr>{rows}</table>'


_POSITION_HEAD = ("symbol", "quantity", "average price", "last price", "market value", "unrealised P&L")


def position_row(position: OpenPosition) -> list[str]:
    """One open position's cells."""
    return [
        position.symbol, quantity(position.quantity), price(position.average_price),
        NA if position.last_price is None else price(position.last_price),
        money(position.market_value), money(position.unrealized_pnl),
    ]  # fmt: skip


def positions_table(positions: Sequence[OpenPosition]) -> str:
    """Positions still open at the end, valued at the last price."""
    if not positions:
        return '<p class="empty">None: every position was flat at the end.</p>'
    rows = "".join(f'<tr class="{_sign_class(p.unrealized_pnl)}">{_cells(position_row(p))}</tr>' for p in positions)
    return f'<table class="grid"><tr>{_cells(_POSITION_HEAD, "th")}</tr>{rows}</table>'
