"""The pyarrow path and the pure-Python path read the same files into the same bars and the same errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from framework.errors import DataError
from framework.history import BarData
from tradebus.data import load_bars
from tradebus.data import load_csv

pytest.importorskip("pyarrow")

HEADER = "timestamp,symbol,open,high,low,close,volume\n"
A0 = "2024-01-02T14:30:00Z,AAPL,100,101,99,100.5,1000\n"
A1 = "2024-01-02T14:31:00Z,AAPL,100.5,102,100,101,1200\n"
M0 = "2024-01-02T14:30:00Z,MSFT,370,371,369,370.5,500\n"
YAHOO = "Date,Open,High,Low,Close,Adj Close,Volume\n"

GOOD = {
    "interleaved symbols": HEADER + A0 + M0 + A1,
    "blank lines and padded symbols": HEADER + A0 + "\n" + M0.replace("MSFT", " MSFT ") + A1 + "\n\n",
    "leading blank lines": "\n\n" + HEADER + A0 + A1,
    "offsets": HEADER + "2024-01-02 09:30:00-05:00,X,1,2,1,2,3\n2024-01-02 09:31:00-05:00,X,1,2,1,2,3\n",
    "no symbol column": "timestamp,open,high,low,close,volume\n2024-01-02T14:30:00Z,1,2,1,2,3\n"
                        "2024-01-02T14:35:00Z,1,2,1,2,3\n",
    "yahoo daily": YAHOO + "2024-01-02,10,11,9,10.5,10.2,7\n2024-01-03,10,11,9,10.5,10.4,7\n",
    "tws dates": "date,open,high,low,close,volume\n20240102,10,11,9,10.5,7\n20240103,10,11,9,10.5,7\n",
    "integers and exponents": HEADER + "2024-01-02T14:30:00Z,A,1e2,101,99,100,0\n"
                              "2024-01-02T14:31:00Z,A,100,101,99,100,5\n",
}


def columns(data: BarData) -> dict[str, tuple[object, ...]]:
    return {s: (bars.duration, *(list(c) for c in (bars.starts, bars.opens, bars.highs, bars.lows, bars.closes,
                                                    bars.volumes))) for s, bars in data.items()}


@pytest.mark.parametrize("text", GOOD.values(), ids=GOOD.keys())
@pytest.mark.parametrize("options", [{}, {"tz": "America/New_York"}, {"adjusted": True}], ids=["utc", "tz", "adj"])
def test_both_paths_give_identical_bars(tmp_path: Path, text: str, options: dict[str, object]) -> None:
    if options.get("adjusted") and not text.startswith("Date"):
        pytest.skip("adjusted applies to Yahoo files")
    path = tmp_path / "X.csv"
    path.write_text(text, encoding="utf-8")
    fast, pure = (load_csv(path, engine="arrow", **options), load_csv(path, engine="python", **options))  # type: ignore[arg-type]
    assert columns(fast) == columns(pure)
    assert fast.bar_count > 0


def test_the_arrow_path_reads_good_files_without_falling_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("fell back to the pure-Python path")

    monkeypatch.setattr("tradebus.data.files.RowCollector", refuse)
    for name in ("interleaved symbols", "offsets", "yahoo daily"):
        path = tmp_path / "X.csv"
        path.write_text(GOOD[name], encoding="utf-8")
        assert load_csv(path, engine="arrow", tz="America/New_York").bar_count == 2 + (name == "interleaved symbols")


NAIVE = HEADER + "2024-01-02 09:30:00,X,1,2,1,2,3\n"
BAD = [
    (HEADER + A1 + A0, 3, "AAPL: timestamps are not in ascending order"),
    (HEADER + A0 + M0 + A0, 4, "AAPL: duplicate timestamp"),
    (HEADER + "2024-01-02T14:30:00Z,AAPL,100,99.5,99,100.5,1\n", 2, "AAPL: high 99.5 is below max(open, close) 100.5"),
    (HEADER + "2024-01-02T14:30:00Z,AAPL,100,101,100.2,100.5,1\n", 2, "low 100.2 is above min(open, close) 100.0"),
    (HEADER + A0 + "2024-01-02T14:31:00Z,AAPL,100,101,99,100.5,-5\n", 3, "AAPL: volume -5.0 is negative"),
    (HEADER + "2024-01-02T14:30:00Z,AAPL,100,101,0,100.5,1\n", 2, "AAPL: prices must be positive"),
    (HEADER + "2024-01-02T14:30:00Z,AAPL,100,101,99,nan,1\n", 2, "prices and volume must be finite numbers"),
    (HEADER + "2024-01-02T14:30:00Z,AAPL,100,inf,99,100,1\n", 2, "prices and volume must be finite numbers"),
    (HEADER + "2024-01-02T14:30:00Z,AAPL,abc,101,99,100,1\n", 2, "cannot parse row: could not convert"),
    (HEADER + A0 + "2024-01-02T14:31:00Z,AAPL,,101,99,100,1\n", 3, "cannot parse row"),
    (NAIVE, 2, "timestamp '2024-01-02 09:30:00' has no timezone"),
    (HEADER + "2024-01-02T14:30:00.5Z,AAPL,100,101,99,100,1\n", 2, "has a fraction of a second"),
    (HEADER + A0 + "2024-01-02T14:30:00Z,AAPL,100,101,99,100\n", 3, "expected 7 fields, found 6"),
    (HEADER + A0 + ",AAPL,100,101,99,100,1\n", 3, "cannot parse row"),
    (HEADER + A0 + "2024-01-02T14:31:00Z, ,100,101,99,100,1\n", 3, "symbol is empty"),
    (HEADER + A0 + "2024-13-02T14:31:00Z,AAPL,100,101,99,100,1\n", 3, "cannot parse row"),
    (YAHOO + "2024-01-02,10,11,9,10.5,10.2,7\n2024-01-02,10,11,9,10.5,10.2,7\n", 3, "duplicate timestamp"),
    (YAHOO + "2024-01-02,10,11,9,10.5,10.2,7\n", None, "cannot infer the bar length from single bars"),
]


@pytest.mark.parametrize("engine", ["arrow", "python"])
@pytest.mark.parametrize(("text", "line", "reason"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_both_paths_name_the_same_bad_line(tmp_path: Path, engine: str, text: str, line: int | None,
                                           reason: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_bars(path, engine=engine)
    error = caught.value
    assert (error.source, error.line) == (str(path), line)
    assert reason in error.reason
    with pytest.raises(DataError) as other:
        load_bars(path, engine="python" if engine == "arrow" else "arrow")
    assert str(other.value) == str(error)


def test_pure_path_is_used_when_pyarrow_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow fails
    monkeypatch.setitem(sys.modules, "tradebus.data.arrow", None)
    path = tmp_path / "X.csv"
    path.write_text(GOOD["interleaved symbols"], encoding="utf-8")
    assert load_csv(path).bar_count == 3
    with pytest.raises(ImportError, match=r"^engine='arrow' needs pyarrow and numpy: pip install 'tradebus\[data\]'$"):
        load_csv(path, engine="arrow")


@pytest.mark.parametrize("engine", ["arrow", "python"])
def test_parquet_both_paths(tmp_path: Path, engine: str) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"timestamp": ["2024-01-02T14:30:00Z", "2024-01-02T14:31:00Z", "2024-01-02T14:30:00Z"],
                      "symbol": ["A", "A", "B"], "open": [1.0, 1.0, 1.0], "high": [2.0, 2.0, 2.0],
                      "low": [1.0, 1.0, 1.0], "close": [2.0, 2.0, 2.0], "volume": [3, 4, 5]})
    pq.write_table(table, tmp_path / "x.parquet")
    data = load_bars(tmp_path / "x.parquet", engine=engine)
    assert columns(data) == columns(load_bars(tmp_path / "x.parquet", engine="python"))
    assert (data.bar_count, data["A"].volumes.tolist()) == (3, [3.0, 4.0])
    bad = table.set_column(6, "volume", pa.array([3, -4, 5]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(DataError) as caught:
        load_bars(tmp_path / "bad.parquet", engine=engine)
    assert str(caught.value) == f"{tmp_path / 'bad.parquet'}:2: A: volume -4.0 is negative"


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "X.csv"
    path.write_text(GOOD["interleaved symbols"], encoding="utf-8")
    with pytest.raises(ValueError, match="engine must be one of auto, arrow, python"):
        load_csv(path, engine="polars")


BLOCKED = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pandas", "pyarrow", "numpy"):
            raise ImportError("not installed: " + name)
sys.meta_path.insert(0, Block())
import tradebus
from tradebus.data import load_bars
print(load_bars(sys.argv[1]).bar_count)
try:
    tradebus.bars_from_frame(None)
except ImportError as e:
    print(e)
"""


def test_the_core_works_without_pandas_pyarrow_and_numpy() -> None:
    import subprocess

    fixture = Path(__file__).parent / "data_files" / "AAPL.csv"
    done = subprocess.run([sys.executable, "-c", BLOCKED, str(fixture)], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["10", "bars_from_frame needs pandas: pip install 'tradebus[pandas]'"]


YFINANCE = (
    "Price,Close,High,Low,Open,Volume\nTicker,AAPL,AAPL,AAPL,AAPL,AAPL\nDate,,,,,\n"
    "2024-01-02,185.64,188.44,183.89,187.15,82488700\n2024-01-03,184.25,185.88,183.43,184.22,58414500\n"
)


@pytest.mark.parametrize("engine", ["arrow", "python"])
def test_yfinance_to_csv_with_its_three_header_rows(tmp_path: Path, engine: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "download.csv"
    path.write_text(YFINANCE, encoding="utf-8")
    if engine == "arrow":
        monkeypatch.setattr("tradebus.data.files.RowCollector", None)  # must not fall back
    data = load_bars(path, engine=engine)
    assert list(data) == ["AAPL"]  # the symbol comes from the Ticker row
    bar = data["AAPL"].bar(1)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (184.22, 185.88, 183.43, 184.25, 58414500.0)
    assert data["AAPL"].duration.days == 1


@pytest.mark.parametrize("engine", ["arrow", "python"])
def test_yfinance_bad_row_line_counts_the_three_header_rows(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "download.csv"
    path.write_text(YFINANCE.replace("185.88", "5.88"), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_bars(path, engine=engine)
    assert str(caught.value) == f"{path}:5: AAPL: high 5.88 is below max(open, close) 184.25"
    several = tmp_path / "several.csv"
    several.write_text(YFINANCE.replace("Ticker,AAPL,AAPL", "Ticker,AAPL,MSFT"), encoding="utf-8")
    with pytest.raises(DataError, match=r"several\.csv:2: a yfinance export of several tickers"):
        load_bars(several, engine=engine)
