"""Loading and validating historical bars: CSV, Parquet, any MarketData source; compact replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from framework.errors import DataError
from framework.history import BarData
from framework.marketdata import Bar
from framework.models import Instrument
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.data import bars_from_source
from tradebus.data import load_bars
from tradebus.data import load_csv
from tradebus.data import write_csv
from tradebus.sample_data import sample_data_path
from tradebus.sample_data.generate import sample_data

HEADER = "timestamp,symbol,open,high,low,close,volume\n"
GOOD = [
    "2024-01-02T14:30:00Z,AAPL,100,101,99,100.5,1000\n",
    "2024-01-02T14:31:00Z,AAPL,100.5,102,100,101,1200\n",
    "2024-01-02T14:30:00Z,MSFT,370,371,369,370.5,500\n",
]
MINUTE = timedelta(minutes=1)


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def test_csv_loads_into_per_symbol_columns_and_replays_as_bars(tmp_path: Path) -> None:
    data = load_csv(write(tmp_path, *GOOD))
    assert list(data) == ["AAPL", "MSFT"]
    assert data.bar_count == 3
    bars = list(data["AAPL"])
    assert bars[0] == Bar("AAPL", datetime(2024, 1, 2, 14, 30, tzinfo=UTC), MINUTE, 100, 101, 99, 100.5, 1000)
    events = list(data["AAPL"].events())
    assert [e.ts for e in events] == [b.end for b in bars]
    assert data["AAPL"].bar(-1).close == 101


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        ([GOOD[1], GOOD[0]], 3, "not in ascending order"),
        ([GOOD[0], GOOD[0]], 3, "duplicate timestamp"),
        (["2024-01-02T14:30:00Z,AAPL,100,99.5,99,100.5,1\n"], 2, "high 99.5 is below max(open, close) 100.5"),
        (["2024-01-02T14:30:00Z,AAPL,100,101,100.2,100.5,1\n"], 2, "low 100.2 is above min(open, close) 100.0"),
        (["2024-01-02T14:30:00Z,AAPL,100,101,99,100.5,-5\n"], 2, "volume -5.0 is negative"),
        (["2024-01-02T14:30:00Z,AAPL,100,101,0,100.5,1\n"], 2, "prices must be positive"),
        (["2024-01-02T14:30:00Z,AAPL,100,101,99,nan,1\n"], 2, "finite"),
        (["2024-01-02T14:30:00Z,AAPL,abc,101,99,100,1\n"], 2, "cannot parse"),
        (["2024-01-02T14:30:00,AAPL,100,101,99,100,1\n"], 2, "no timezone"),
        (["2024-01-02T14:30:00.5Z,AAPL,100,101,99,100,1\n"], 2, "fraction of a second"),
        (["2024-01-02T14:30:00Z,AAPL,100,101,99,100\n"], 2, "expected 7 fields, found 6"),
        ([GOOD[0], ",AAPL,100,101,99,100,1\n"], 3, "cannot parse"),
    ],
)
def test_bad_rows_fail_with_the_file_line_and_reason(tmp_path: Path, rows: list[str], line: int, reason: str) -> None:
    path = write(tmp_path, *rows)
    with pytest.raises(DataError) as caught:
        load_csv(path)
    error = caught.value
    assert (error.source, error.line) == (str(path), line)
    assert reason in error.reason
    assert str(error).startswith(f"{path}:{line}: ")


def test_a_missing_column_is_reported_on_the_header_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD[0], header="timestamp,symbol,open,high,low,close\n")
    with pytest.raises(DataError, match=r"missing column.*volume") as caught:
        load_csv(path)
    assert caught.value.line == 1


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown bar file type"):
        load_bars(tmp_path / "bars.xlsx")


def test_written_csv_loads_back_identically(tmp_path: Path) -> None:
    data = sample_data(days=1)
    write_csv(data, tmp_path / "out.csv")
    again = load_csv(tmp_path / "out.csv")
    for symbol in data:
        assert list(again[symbol]) == list(data[symbol])


def test_shipped_sample_is_packaged_small_and_valid() -> None:
    path = sample_data_path()
    assert path.stat().st_size < 2_000_000
    data = load_bars(path)
    assert sorted(data) == ["AAPL", "MSFT", "SPY"]
    assert all(len(s) == 5 * 390 for s in data.values())


def test_sample_generator_is_seeded() -> None:
    first, second = sample_data(days=1), sample_data(days=1)
    assert list(first["SPY"]) == list(second["SPY"])
    assert list(sample_data(days=1, seed=1)["SPY"]) != list(first["SPY"])


class HistoryBroker(ScriptedBroker):
    """A scripted broker whose history endpoint returns fixed bars."""

    def __init__(self, bars: Sequence[Bar]) -> None:
        super().__init__(FakeClock())
        self.bars = bars
        self.asked: list[tuple[str, timedelta, datetime, datetime]] = []

    def historical_bars(
        self, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
    ) -> Sequence[Bar]:
        self.asked.append((instrument.symbol, duration, start, end))
        return self.bars


T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def test_bars_from_any_market_data_source_are_validated_into_a_series() -> None:
    bars = [Bar("AAPL", T0 + i * MINUTE, MINUTE, 100, 101, 99, 100, 10) for i in range(3)]
    source = HistoryBroker(bars)
    series = bars_from_source(source, Instrument(symbol="AAPL"), MINUTE, T0, T0 + 3 * MINUTE)
    assert source.asked == [("AAPL", MINUTE, T0, T0 + 3 * MINUTE)]
    assert list(series) == bars
    assert BarData([series]).bar_count == 3


def test_a_source_returning_unordered_bars_fails_with_the_row() -> None:
    bars = [Bar("AAPL", T0 + MINUTE, MINUTE, 100, 101, 99, 100), Bar("AAPL", T0, MINUTE, 100, 101, 99, 100)]
    with pytest.raises(DataError, match="not in ascending order") as caught:
        bars_from_source(HistoryBroker(bars), Instrument(symbol="AAPL"), MINUTE, T0, T0 + 2 * MINUTE)
    assert caught.value.line == 2
    assert caught.value.source == "scripted history AAPL"


def test_a_source_returning_another_symbol_is_refused() -> None:
    bars = [Bar("MSFT", T0, MINUTE, 100, 101, 99, 100)]
    with pytest.raises(DataError, match="expected AAPL"):
        bars_from_source(HistoryBroker(bars), Instrument(symbol="AAPL"), MINUTE, T0, T0 + MINUTE)


def test_parquet_loads_like_csv(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "timestamp": [T0, T0 + MINUTE],
            "symbol": ["AAPL", "AAPL"],
            "open": [100.0, 100.5],
            "high": [101.0, 102.0],
            "low": [99.0, 100.0],
            "close": [100.5, 101.0],
            "volume": [1000.0, 1200.0],
        }
    )
    pq.write_table(table, tmp_path / "bars.parquet")
    data = load_bars(tmp_path / "bars.parquet")
    assert [b.close for b in data["AAPL"]] == [100.5, 101.0]
    bad = table.set_column(3, "high", pa.array([99.0, 102.0]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"high 99\.0 is below") as caught:
        load_bars(tmp_path / "bad.parquet")
    assert caught.value.line == 1


def test_a_window_of_bars_is_sliced_by_start_time_per_symbol() -> None:
    data = load_bars(sample_data_path())  # three symbols, 1-minute bars
    aapl = data["AAPL"]
    first, end = aapl.starts[10], aapl.starts[20]
    part = data.window(first, end)
    assert list(part) == list(data)
    for symbol, series in part.items():
        assert list(series.starts) == [s for s in data[symbol].starts if first <= s < end]
        assert list(series.closes) == [c for s, c in zip(data[symbol].starts, data[symbol].closes, strict=True)
                                       if first <= s < end]
        assert series.duration == data[symbol].duration
    assert part.bar_count == 30
    assert data.window(0, aapl.starts[0]).bar_count == 0  # before the data: every series is empty
    assert list(data.window(0, aapl.starts[0])) == list(data)
    assert list(data.window(aapl.starts[-1], aapl.starts[-1] + 1)["AAPL"].starts) == [aapl.starts[-1]]
