"""pandas DataFrames into bars: index or column timestamps, one or many symbols, the same checks as files."""

from __future__ import annotations

import sys
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from framework.errors import DataError
from tradebus.data import bars_from_frame
from tradebus.data import load_csv

pd = pytest.importorskip("pandas")

MINUTE = timedelta(minutes=1)


def frame(n: int = 3, start: str = "2024-01-02 14:30", tz: str | None = "UTC", freq: str = "1min") -> object:
    index = pd.date_range(start, periods=n, freq=freq, tz=tz, name="Datetime")
    return pd.DataFrame({"Open": 10.0, "High": 20.0, "Low": 9.0, "Close": [10.0 + i for i in range(n)],
                         "Volume": 100}, index=index)


def test_a_datetime_index_and_one_symbol() -> None:
    data = bars_from_frame(frame(), symbol="AAPL")
    series = data["AAPL"]
    assert [b.start for b in series] == [datetime(2024, 1, 2, 14, 30 + i, tzinfo=UTC) for i in range(3)]
    assert [b.close for b in series] == [10.0, 11.0, 12.0]
    assert series.duration == MINUTE


def test_a_timestamp_column_and_many_symbols(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "timestamp": ["2024-01-02T14:30:00Z", "2024-01-02T14:30:00Z", "2024-01-02T14:31:00Z"],
        "symbol": ["AAPL", "MSFT", "AAPL"],
        "open": [100, 370, 100.5], "high": [101, 371, 102], "low": [99, 369, 100], "close": [100.5, 370.5, 101],
        "volume": [1000, 500, 1200],
    })
    data = bars_from_frame(df)
    path = tmp_path / "same.csv"
    df.to_csv(path, index=False)
    from_file = load_csv(path)
    assert list(data) == ["AAPL", "MSFT"]
    for symbol in data:
        assert list(data[symbol]) == list(from_file[symbol])


def test_a_symbol_timestamp_multiindex() -> None:
    df = pd.concat({"AAPL": frame(), "MSFT": frame()}, names=["symbol"])
    data = bars_from_frame(df)
    assert list(data) == ["AAPL", "MSFT"]
    assert data.bar_count == 6


def test_daily_frame_with_weekends_infers_one_day() -> None:
    df = frame(10, start="2024-01-01", freq="B")
    assert bars_from_frame(df, symbol="SPY")["SPY"].duration == timedelta(days=1)


def test_naive_index_needs_tz_and_is_converted_with_it() -> None:
    naive = frame(2, start="2024-07-01 09:30", tz=None)
    with pytest.raises(DataError, match=r'^DataFrame: timestamps have no timezone: pass tz \(e\.g\. tz="America'):
        bars_from_frame(naive, symbol="X")
    series = bars_from_frame(naive, symbol="X", tz="America/New_York")["X"]
    assert series.bar(0).start == datetime(2024, 7, 1, 13, 30, tzinfo=UTC)


def test_a_bad_row_is_named_by_its_1_based_position() -> None:
    df = frame(4)
    df.iloc[2, df.columns.get_loc("High")] = 5.0
    with pytest.raises(DataError) as caught:
        bars_from_frame(df, symbol="AAPL")
    assert str(caught.value) == "DataFrame:3: AAPL: high 5.0 is below max(open, close) 12.0"


def test_column_mapping_explicit_duration_and_missing_symbol() -> None:
    df = frame().rename(columns={"Close": "Last"})
    series = bars_from_frame(df, symbol="ES", columns={"close": "Last"}, duration=timedelta(seconds=30))["ES"]
    assert (series.duration, series.bar(-1).close) == (timedelta(seconds=30), 12.0)
    with pytest.raises(DataError, match="give symbol="):
        bars_from_frame(frame())


def test_without_pandas_one_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"^bars_from_frame needs pandas: pip install 'tradebus\[pandas\]'$"):
        bars_from_frame(object())


def test_text_timestamps_with_offsets_across_daylight_saving() -> None:
    df = pd.DataFrame({"Datetime": ["2024-03-08 09:30:00-05:00", "2024-03-11 09:30:00-04:00"],
                       "Open": 1.0, "High": 2.0, "Low": 1.0, "Close": 2.0, "Volume": 3})
    series = bars_from_frame(df, symbol="X", duration=MINUTE)["X"]
    assert [b.start.hour for b in series] == [14, 13]
    with pytest.raises(DataError, match=r"^DataFrame:2: cannot parse row: .*'soon'"):
        bars_from_frame(df.assign(Datetime=["2024-03-08 09:30:00-05:00", "soon"]), symbol="X", duration=MINUTE)


def test_yfinance_download_frame_with_price_ticker_columns() -> None:
    index = pd.date_range("2024-01-02", periods=3, freq="B", name="Date")
    columns = pd.MultiIndex.from_product([["Close", "High", "Low", "Open", "Volume"], ["AAPL", "MSFT"]],
                                         names=["Price", "Ticker"])
    df = pd.DataFrame([[2.0, 3.0, 2.5, 3.5, 1.0, 2.0, 1.5, 2.5, 10, 20]] * 3, index=index, columns=columns)
    df.loc[index[1], (slice(None), "MSFT")] = float("nan")  # MSFT has no bar that day: yfinance pads it
    data = bars_from_frame(df, tz="America/New_York")
    assert list(data) == ["AAPL", "MSFT"]
    assert (len(data["AAPL"]), len(data["MSFT"])) == (3, 2)
    assert data["AAPL"].bar(0).start == datetime(2024, 1, 2, 5, tzinfo=UTC)
    assert (data["MSFT"].bar(0).close, data["MSFT"].duration) == (3.0, timedelta(days=1))
