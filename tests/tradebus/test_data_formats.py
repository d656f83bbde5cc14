"""Bar files users have: Yahoo Finance, IBKR (TWS CSV, Client Portal JSON), column mappings, Parquet, folders."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from framework.errors import ConfigError
from framework.errors import DataError
from tradebus.data import load_bars
from tradebus.data import load_csv
from tradebus.data import load_json

FIXTURES = Path(__file__).parent / "data_files"
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yahoo_daily_export_loads_with_the_symbol_from_the_file_name_and_one_day_bars() -> None:
    data = load_bars(FIXTURES / "AAPL.csv")
    assert list(data) == ["AAPL"]
    series = data["AAPL"]
    assert series.duration == DAY
    first, last = series.bar(0), series.bar(-1)
    assert (first.start, first.open, first.high, first.low, first.close, first.volume) == (
        utc(2024, 1, 2), 187.15, 188.44, 183.89, 185.64, 82488700.0
    )
    assert last.start == utc(2024, 1, 16)  # after the weekend and the 15th (a holiday)
    assert len(series) == 10


def test_yahoo_dates_start_at_midnight_of_the_given_time_zone() -> None:
    series = load_bars(FIXTURES / "AAPL.csv", tz="America/New_York")["AAPL"]
    assert series.bar(0).start == utc(2024, 1, 2, 5)
    assert series.duration == DAY


def test_yahoo_adjusted_close_scales_the_bar_when_asked() -> None:
    plain = load_bars(FIXTURES / "AAPL.csv")["AAPL"].bar(0)
    adjusted = load_bars(FIXTURES / "AAPL.csv", adjusted=True)["AAPL"].bar(0)
    factor = 184.94 / 185.64
    assert adjusted.close == pytest.approx(184.94)
    assert adjusted.open == pytest.approx(plain.open * factor)
    assert (adjusted.high, adjusted.low) == (pytest.approx(plain.high * factor), pytest.approx(plain.low * factor))
    assert adjusted.volume == plain.volume


def test_adjusted_needs_an_adj_close_column(tmp_path: Path) -> None:
    path = write(tmp_path / "X.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,2,5\n")
    with pytest.raises(DataError, match="Adj Close") as caught:
        load_bars(path, adjusted=True)
    assert caught.value.line == 1


def test_yahoo_intraday_export_with_offsets_is_converted_to_utc(tmp_path: Path) -> None:
    path = write(
        tmp_path / "MSFT.csv",
        "Datetime,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-07-01 09:30:00-04:00,10,11,9,10,10,100\n"
        "2024-07-01 09:35:00-04:00,10,11,9,10,10,100\n"
        "2024-07-01 09:40:00-04:00,10,11,9,10,10,100\n",
    )
    series = load_bars(path, symbol="MSFT.O")["MSFT.O"]
    assert [series.bar(i).start for i in range(3)] == [utc(2024, 7, 1, 13, 30 + 5 * i) for i in range(3)]
    assert series.duration == timedelta(minutes=5)


IBKR_TWS = "date,open,high,low,close,volume,average,barCount\n"


@pytest.mark.parametrize(
    ("header", "stamps", "tz"),
    [
        (IBKR_TWS, ["2024-01-02 09:30:00-05:00", "2024-01-02 09:31:00-05:00"], None),  # ib_insync util.df
        (IBKR_TWS, ["20240102  09:30:00", "20240102  09:31:00"], "America/New_York"),  # TWS, exchange time
        (IBKR_TWS, ["20240102 09:30:00 US/Eastern", "20240102 09:31:00 US/Eastern"], None),  # TWS with its zone
        ("Date/Time,Open,High,Low,Close,Volume\n", ["2024-01-02 14:30:00Z", "2024-01-02 14:31:00Z"], None),
    ],
)
def test_ibkr_csv_exports(tmp_path: Path, header: str, stamps: list[str], tz: str | None) -> None:
    extra = ",10.1,12" if "average" in header else ""
    rows = "".join(f"{s},10,11,9,10.5,300{extra}\n" for s in stamps)
    data = load_bars(write(tmp_path / "SPY.csv", header + rows), tz=tz)
    assert [b.start for b in data["SPY"]] == [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 14, 31)]
    assert data["SPY"].duration == MINUTE


def test_ibkr_daily_tws_dates(tmp_path: Path) -> None:
    path = write(tmp_path / "SPY.csv", IBKR_TWS + "20240102,10,11,9,10,5,10,1\n20240103,10,11,9,10,5,10,1\n")
    series = load_bars(path)["SPY"]
    assert (series.bar(0).start, series.duration) == (utc(2024, 1, 2), DAY)


def client_portal(bars: int, **extra: object) -> dict[str, object]:
    t0 = int(utc(2024, 1, 2, 14, 30).timestamp()) * 1000
    data = [{"t": t0 + i * 300_000, "o": 10, "h": 11, "l": 9, "c": 10.5, "v": 700} for i in range(bars)]
    return {"symbol": "AAPL", "text": "APPLE INC", "timePeriod": "1d", "barLength": 300, "data": data, **extra}


def test_ibkr_client_portal_history_json(tmp_path: Path) -> None:
    path = write(tmp_path / "history.json", json.dumps(client_portal(3)))
    data = load_bars(path)
    series = data["AAPL"]
    assert [b.start for b in series] == [utc(2024, 1, 2, 14, 30 + 5 * i) for i in range(3)]
    assert (series.duration, series.bar(0).volume) == (timedelta(minutes=5), 700.0)
    one = write(tmp_path / "one.json", json.dumps(client_portal(1)))  # barLength: no inference needed
    assert load_json(one, symbol="AAPL.US")["AAPL.US"].duration == timedelta(minutes=5)


def test_ibkr_json_bad_bar_and_bad_shape(tmp_path: Path) -> None:
    document = client_portal(2)
    document["data"][1]["h"] = 1  # type: ignore[index]
    path = write(tmp_path / "bad.json", json.dumps(document))
    with pytest.raises(DataError, match=r"bad\.json:2: AAPL: high 1\.0 is below"):
        load_bars(path)
    with pytest.raises(DataError, match=r"expected an IBKR history response"):
        load_bars(write(tmp_path / "list.json", "[1, 2]"))
    with pytest.raises(DataError, match=r"broken\.json:1: not valid JSON"):
        load_bars(write(tmp_path / "broken.json", '{"data": ['))


def test_generic_column_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.csv",
        "Time,Ticker,O,H,L,Last,Vol,Note\n"
        "2024-01-02T14:30:00Z,ES,10,11,9,10.5,3,x\n"
        "2024-01-02T14:31:00Z,ES,10,11,9,10.5,3,y\n",
    )
    mapping = {"timestamp": "Time", "symbol": "Ticker", "open": "O", "high": "H", "low": "L", "close": "Last",
               "volume": "vol"}
    series = load_csv(path, columns=mapping)["ES"]
    assert (len(series), series.bar(0).close, series.duration) == (2, 10.5, MINUTE)
    with pytest.raises(DataError, match=r"column 'Px' \(columns\['close'\]\) is not in the header"):
        load_csv(path, columns={**mapping, "close": "Px"})


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing column\(s\) timestamp; expected timestamp,symbol"):
        load_bars(FIXTURES / "AAPL.csv", format="tradebus")


def test_an_unknown_header_asks_for_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "when,px\n1,2\n")
    with pytest.raises(DataError, match=r"x\.csv:1: cannot tell the format .*columns= mapping"):
        load_bars(path)


def test_naive_timestamps_need_tz_and_name_file_line_and_option(tmp_path: Path) -> None:
    path = write(tmp_path / "SPY.csv", IBKR_TWS + "2024-01-02 09:30:00,10,11,9,10,5,10,1\n")
    with pytest.raises(DataError) as caught:
        load_bars(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ")
    assert "no timezone" in message
    assert 'tz="America/New_York"' in message
    assert "\n" not in message


def test_local_times_are_converted_across_daylight_saving(tmp_path: Path) -> None:
    path = write(
        tmp_path / "SPY.csv",
        IBKR_TWS + "2024-03-08 09:30:00,10,11,9,10,5,10,1\n2024-03-11 09:30:00,10,11,9,10,5,10,1\n"
        "2024-11-01 09:30:00,10,11,9,10,5,10,1\n2024-11-04 09:30:00,10,11,9,10,5,10,1\n",
    )
    starts = [b.start for b in load_bars(path, duration=MINUTE, tz="America/New_York")["SPY"]]
    assert starts == [utc(2024, 3, 8, 14, 30), utc(2024, 3, 11, 13, 30), utc(2024, 11, 1, 13, 30),
                      utc(2024, 11, 4, 14, 30)]


def test_repeated_local_time_is_the_first_and_a_skipped_one_is_refused(tmp_path: Path) -> None:
    repeated = write(tmp_path / "A.csv", IBKR_TWS + "2024-11-03 01:30:00,10,11,9,10,5,10,1\n")
    assert load_bars(repeated, MINUTE, tz="America/New_York")["A"].bar(0).start == utc(2024, 11, 3, 5, 30)
    skipped = write(tmp_path / "B.csv", IBKR_TWS + "2024-03-10 02:30:00,10,11,9,10,5,10,1\n")
    with pytest.raises(DataError, match=r"B\.csv:2: .*does not exist in America/New_York"):
        load_bars(skipped, MINUTE, tz="America/New_York")


def test_an_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        load_bars(FIXTURES / "AAPL.csv", tz="Mars/Olympus")


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_bytes((FIXTURES / "AAPL.csv").read_bytes().replace(b"Date", b"\xef\xbb\xbfDate", 1))
    assert load_bars(path)["AAPL"].bar(0).close == 185.64


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty; expected a CSV header"),
        (b"\n\n", "the file is empty; expected a CSV header"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe", "not a CSV text file: it contains NUL bytes"),
        (b"\xff\xd8\xff\xe0JFIF,\xc3\x28\n", "not a CSV text file: it is not UTF-8 text"),
        (b"timestamp,symbol\x00,open\n", "not a CSV text file: it contains NUL bytes"),
        (b"timestamp,symbol,open,high,low,close,volume\n", "no bars: the file has a header but no rows"),
        (b"Date,Open,High,Low,Close,Adj Close,Volume\r\n", "no bars: the file has a header but no rows"),
    ],
)
def test_empty_binary_and_header_only_files_get_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        load_bars(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_a_binary_file_after_a_good_header_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(b"timestamp,symbol,open,high,low,close,volume\n2024-01-02T14:30:00Z,A,1,2,1,2,3\n\xff\xfe\x00\n")
    with pytest.raises(DataError, match="not a CSV text file") as caught:
        load_bars(path)
    assert caught.value.source == str(path)


def test_a_folder_of_per_symbol_files(tmp_path: Path) -> None:
    (tmp_path / "AAPL.csv").write_bytes((FIXTURES / "AAPL.csv").read_bytes())
    write(tmp_path / "MSFT.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,2,1,2,2,5\n"
          "2024-01-03,1,2,1,2,2,5\n")
    write(tmp_path / "minutes.csv", "timestamp,symbol,open,high,low,close,volume\n"
          "2024-01-02T14:30:00Z,SPY,1,2,1,2,5\n2024-01-02T14:30:00Z,QQQ,1,2,1,2,5\n"
          "2024-01-02T14:31:00Z,SPY,1,2,1,2,5\n")
    write(tmp_path / "notes.txt", "not bars")
    data = load_bars(tmp_path)
    assert list(data) == ["AAPL", "MSFT", "QQQ", "SPY"]
    assert [data[s].duration for s in data] == [DAY, DAY, MINUTE, MINUTE]
    write(tmp_path / "more.csv", "timestamp,symbol,open,high,low,close,volume\n2024-01-02T14:30:00Z,MSFT,1,2,1,2,5\n")
    with pytest.raises(DataError, match=r"more\.csv: MSFT is also in .*MSFT\.csv"):
        load_bars(tmp_path, MINUTE)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no bar files \(\.csv, \.parquet, \.pq, \.json\) in the folder"):
        load_bars(tmp_path)


def test_parquet_with_yahoo_columns_and_naive_timestamps(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    daily = pa.table({"Date": pa.array([datetime(2024, 1, 2).date(), datetime(2024, 1, 3).date()]),  # noqa: DTZ001
                      "Open": [1.0, 1.0], "High": [2.0, 2.0], "Low": [1.0, 1.0], "Close": [2.0, 2.0],
                      "Adj Close": [2.0, 2.0], "Volume": [5, 5]})
    pq.write_table(daily, tmp_path / "IBM.parquet")
    series = load_bars(tmp_path / "IBM.parquet")["IBM"]
    assert (series.bar(0).start, series.duration) == (utc(2024, 1, 2), DAY)
    naive = pa.table({"timestamp": pa.array([datetime(2024, 7, 1, 9, 30), datetime(2024, 7, 1, 9, 31)]),  # noqa: DTZ001
                      "open": [1.0, 1.0], "high": [2.0, 2.0], "low": [1.0, 1.0], "close": [2.0, 2.0],
                      "volume": [5.0, 5.0]})
    pq.write_table(naive, tmp_path / "IBM.parquet")
    with pytest.raises(DataError, match=r"IBM\.parquet:1: .*no timezone"):
        load_bars(tmp_path / "IBM.parquet")
    assert load_bars(tmp_path / "IBM.parquet", tz="America/New_York")["IBM"].bar(0).start == utc(2024, 7, 1, 13, 30)


def test_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = write(tmp_path / "bars.parquet", "timestamp,symbol\n")
    with pytest.raises(DataError, match="not a Parquet file") as caught:
        load_bars(path)
    assert "\n" not in str(caught.value)
