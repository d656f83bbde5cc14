"""QuoteBook: smd updates merged into quotes, and bars built from trades found by the day volume.

Each scenario starts from the recorded ``ws_smd`` payload plus the exact day volume (field 7762, the
way the simulated gateway renders it) and then scripts the incremental updates the gateway sends:
only the changed fields with ``topic`` and ``conid``.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.parsing import quote_tick
from brokers.ibkr.quotes import QuoteBook
from brokers.ibkr.wire_ws import MarketData
from framework.events import BarClosed
from framework.events import QuoteUpdated
from framework.marketdata import Bar

from .fakes import fixture

CONID = "265598"
SECOND = timedelta(seconds=1)
T0 = datetime(2024, 4, 8, 17, 21, 50, tzinfo=UTC)


def update(**fields: Any) -> dict[str, Any]:
    """An incremental smd message carrying only ``fields`` (keys given as ``f31`` for ``"31"``)."""
    return {"topic": f"smd+{CONID}", "conid": int(CONID), **{k.removeprefix("f"): v for k, v in fields.items()}}


def first_message(volume: str | None = "31845822") -> dict[str, Any]:
    message = fixture("ws_smd")  # last 189.60, last size 100
    if volume is not None:
        message["7762"] = volume
    return message


def book_with_bars(duration: timedelta = SECOND) -> QuoteBook:
    book = QuoteBook()
    book.watch_bars(CONID, "AAPL", duration)
    return book


def tick(message: dict[str, Any]) -> QuoteTick:
    """The message as the topic table hands it to the book."""
    result = quote_tick(MarketData.model_validate(message))
    assert result is not None
    return result


def feed(book: QuoteBook, messages: list[tuple[datetime, dict[str, Any]]]) -> list[Any]:
    events: list[Any] = []
    for ts, message in messages:
        events.extend(book.on_market_data(tick(message), ts))
    return events


def bars(events: list[Any]) -> list[Bar]:
    return [e.bar for e in events if isinstance(e, BarClosed)]


def test_repeated_trades_at_an_unchanged_price_count_their_volume() -> None:
    book = book_with_bars()
    events = feed(book, [
        (T0, first_message()),
        (T0 + 0.2 * SECOND, update(f7762="31845922")),  # +100 at 189.60: no new last price
        (T0 + 0.4 * SECOND, update(f7762="31846222", f7059="300")),  # +300, same price again
        (T0 + 0.6 * SECOND, update(f31="189.62", f7762="31846272", f7059="50")),
        (T0 + 1.1 * SECOND, update(f84="189.57")),  # a quote change alone is no trade
    ])
    book_events = events + book.flush(T0 + 2 * SECOND)
    [bar] = bars(book_events)
    assert (bar.open, bar.high, bar.low, bar.close) == (189.60, 189.62, 189.60, 189.62)
    assert bar.volume == 100 + 100 + 300 + 50  # the recorded last print, then the three volume steps


def test_an_interval_with_trades_but_no_price_change_still_makes_a_bar() -> None:
    book = book_with_bars()
    events = feed(book, [
        (T0, first_message()),
        (T0 + 1.3 * SECOND, update(f7762="31846022")),  # next second: 200 shares at the same 189.60
        (T0 + 2.1 * SECOND, update(f7762="31846122")),  # and the second after: 100 more
    ])
    events += book.flush(T0 + 3 * SECOND)
    closed = bars(events)
    assert [b.start for b in closed] == [T0, T0 + SECOND, T0 + 2 * SECOND]
    assert [b.close for b in closed] == [189.60, 189.60, 189.60]
    assert [b.volume for b in closed] == [100, 200, 100]


def test_a_price_arriving_before_its_volume_is_counted_once() -> None:
    book = book_with_bars()
    events = feed(book, [
        (T0, first_message()),
        (T0 + 0.3 * SECOND, update(f31="189.70", f7059="40")),  # the print's volume comes next
        (T0 + 0.5 * SECOND, update(f7762="31845862")),  # +40
    ])
    [bar] = bars(events + book.flush(T0 + SECOND))
    assert (bar.high, bar.close) == (189.70, 189.70)
    assert bar.volume == 100 + 40


def test_without_the_volume_field_a_new_last_price_or_size_is_a_trade() -> None:
    book = book_with_bars()
    events = feed(book, [
        (T0, first_message(volume=None)),
        (T0 + 0.2 * SECOND, update(f31="189.61", f7059="10")),
        (T0 + 0.4 * SECOND, update(f7059="25")),  # a new print at the same price, another size
        (T0 + 0.6 * SECOND, update(f86="189.64")),
    ])
    [bar] = bars(events + book.flush(T0 + SECOND))
    assert bar.volume == 100 + 10 + 25
    assert bar.close == 189.61


def test_a_volume_only_update_emits_no_quote() -> None:
    book = QuoteBook()
    book.watch_quotes(CONID, "AAPL")
    events = feed(book, [(T0, first_message()), (T0 + SECOND, update(f7762="31846822"))])
    assert [type(e) for e in events] == [QuoteUpdated]


def test_a_new_subscription_starts_a_new_volume_baseline() -> None:
    book = book_with_bars()
    feed(book, [(T0, first_message())])
    book.unwatch_bars(CONID, SECOND)
    book.watch_bars(CONID, "AAPL", SECOND)
    later = T0 + 60 * SECOND
    events = feed(book, [
        (later, update(f7762="31990000")),  # traded while nobody watched: not this bar's volume
        (later + 0.5 * SECOND, update(f7762="31990070")),
    ])
    [bar] = bars(events + book.flush(later + SECOND))
    assert bar.volume == 70
