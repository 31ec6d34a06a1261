"""`kerakit predict` on large tables: streamed in chunks, bounded memory, resumed after kill -9.

One table classifier is trained (two epochs) and exported for the module. Its
streamed predictions are compared row for row with the in-memory path's
(`predict_file` and `format_predictions`), which small inputs still take.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli_env, run_cli, wait_for
from test_data_inputs import penguins, small_table_model

import kerakit as kk
from kerakit.deploy import batch_predict
from kerakit.deploy.batch_predict import predict_stream, stream_reason
from kerakit.deploy.predict import format_predictions, predict_file
from kerakit.errors import DataError, UsageError


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A penguins classifier: text categories with gaps, an integer year, missing numbers."""
    tmp = tmp_path_factory.mktemp("stream")
    penguins().to_csv(tmp / "train.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the running `id` column is ignored, with a warning
        run = kk.fit(small_table_model(kk.use("classifier", classes=3)), str(tmp / "train.csv"),
                     target="species", out=tmp / "run", verbose=0)
    return kk.export(run, tmp / "export").path


def in_memory(export: Path, csv: Path) -> pd.DataFrame:
    """What `kerakit predict EXPORT rows.csv` prints today, read back."""
    from io import StringIO

    return pd.read_csv(StringIO(format_predictions(predict_file(export, csv))))


def assert_same_predictions(streamed: pd.DataFrame, expected: pd.DataFrame) -> None:
    probabilities = [c for c in expected.columns if c.startswith("p_")]
    assert list(streamed.columns[1:]) == ["class", "probability", *probabilities]
    assert streamed["class"].tolist() == expected["class"].tolist()
    # the model sees other batch sizes here, so float sums may differ in the last bits
    np.testing.assert_allclose(streamed[["probability", *probabilities]].to_numpy(),
                               expected[["probability", *probabilities]].to_numpy(), atol=1e-6)


# -- the same predictions as the in-memory path ----------------------------------------------


def test_streamed_csv_and_parquet_folder_predict_as_the_in_memory_path(export, tmp_path):
    frame = penguins(5_000, seed=3)
    frame["id"] = [f"pg-{i:05d}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "rows.csv", index=False)
    expected = in_memory(export, tmp_path / "rows.csv")

    result = predict_stream(export, tmp_path / "rows.csv", tmp_path / "by_id.parquet",
                            id_column="id", chunk_rows=777, progress=False)
    assert result == {"rows": 5_000, "parts": 7, "resumed_parts": 0,
                      "out": str(tmp_path / "by_id.parquet")}
    streamed = pd.read_parquet(tmp_path / "by_id.parquet")
    assert streamed.columns[0] == "id" and streamed["id"].tolist() == frame["id"].tolist()
    assert_same_predictions(streamed, expected)

    folder = tmp_path / "parts"  # three files, read in name order, as one table
    folder.mkdir()
    for i, start in enumerate((0, 1_800, 3_100)):
        frame.iloc[start:start + [1_800, 1_300, 1_900][i]].to_parquet(folder / f"p{i}.parquet")
    predict_stream(export, folder, tmp_path / "folder.csv", chunk_rows=1_000, progress=False)
    streamed = pd.read_csv(tmp_path / "folder.csv")
    assert streamed["row"].tolist() == list(range(5_000))  # `row` numbers the whole input
    assert_same_predictions(streamed, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "by_id.parquet", "folder.csv", "parts", "rows.csv"]  # work folders and locks gone


def test_small_inputs_keep_the_in_memory_path_and_streaming_is_chosen_by_its_reasons(
        export, tmp_path):
    (tmp_path / "rows.csv").write_text("island,bill_length_mm,sex,year\nDream,39.1,male,2007\n")
    pd.read_csv(tmp_path / "rows.csv").to_parquet(tmp_path / "rows.parquet")
    rows = str(tmp_path / "rows.csv")
    assert stream_reason(export, rows, None) is None
    assert stream_reason(export, rows, "p.csv") is None
    assert stream_reason(export, rows, "p.json") is None
    assert stream_reason(export, rows, "p.parquet") == "--out ending in .parquet"
    assert stream_reason(export, str(tmp_path / "rows.parquet"), "p.csv") == "a Parquet input"
    assert stream_reason(export, str(tmp_path / "*.csv"), "p.csv") == "a glob input"
    with pytest.raises(UsageError, match=r"Invalid use of --id.*Expected --out ending in"):
        stream_reason(export, rows, None, id_column="id")
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:  # a sparse file: its size is all that is read
        f.truncate(batch_predict.STREAM_BYTES + 1)
    assert stream_reason(export, str(big), "p.csv") == "an input over 100 MB"


# -- bounded memory ---------------------------------------------------------------------------

MEMORY_CHILD = r"""
import json, sys
from kerakit.deploy.batch_predict import predict_stream
from kerakit.deploy.predict import format_predictions, predict_file
export, small, large, out = sys.argv[1:5]
def peak_mib():  # this process's own high-water mark (see the test)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
peaks = []
for name in (small, large):
    predict_stream(export, name, out + "/" + name.rsplit("/", 1)[-1] + ".parquet",
                   chunk_rows=5_000, progress=False)
    peaks.append(peak_mib())
format_predictions(predict_file(export, large))  # the in-memory path, last: it raises the peak
peaks.append(peak_mib())
print(json.dumps(peaks))
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's VmHWM")
def test_streaming_ten_times_the_rows_barely_raises_the_peak_where_memory_does(export,
                                                                               tmp_path):
    # Peak resident memory, not an address-space limit (RLIMIT_AS): TensorFlow reserves
    # gigabytes of virtual address space it never touches, so a limit on it would measure
    # reservations and break with TensorFlow's version. The peak is the child's VmHWM, not
    # ru_maxrss: Linux counts in a child's ru_maxrss the parent's resident memory at the
    # fork (this test process's, over 1 GB with TensorFlow and a trained model). It only
    # rises, so one child streams 30,000 rows, then 300,000, then reads the 300,000 into
    # memory; each step's rise is what that step needed beyond the steps before. Measured
    # on 2 cores: streaming 10x the rows raised the peak by 30-40 MiB (a second model load
    # and the CSV reader's blocks), reading them into memory by about 290 MiB.
    penguins(30_000, seed=5).to_csv(tmp_path / "small.csv", index=False)
    penguins(300_000, seed=6).to_csv(tmp_path / "large.csv", index=False)
    child = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(export),
                            str(tmp_path / "small.csv"), str(tmp_path / "large.csv"),
                            str(tmp_path)], capture_output=True, text=True, env=cli_env(),
                           timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    small, large, whole = json.loads(child.stdout.strip().splitlines()[-1])
    streamed_rise, in_memory_rise = large - small, whole - large
    assert streamed_rise < 100, (small, large, whole)
    assert in_memory_rise > 3 * max(streamed_rise, 10), (small, large, whole)


# -- kill -9 and resume -----------------------------------------------------------------------


def test_a_run_killed_mid_way_resumes_without_repeating_or_losing_a_row(export, tmp_path):
    frame = penguins(30_000, seed=8)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    out, work = tmp_path / "preds.parquet", tmp_path / "preds.parquet.partial"
    command = ["predict", str(export), str(tmp_path / "rows.csv"), "--out", str(out),
               "--id", "id", "--chunk-rows", "300"]
    proc = subprocess.Popen([sys.executable, "-m", "kerakit", *command], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(list(work.glob("part-*.parquet"))) >= 2 or proc.poll() is not None,
                 timeout=120, what="the first parts")
        assert proc.poll() is None, "the prediction ended before it was killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert not out.exists()  # never half-written
    done = len(list(work.glob("part-*.parquet")))
    assert 2 <= done < 100

    resumed = run_cli(*command)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"({done} of 100 parts from the interrupted run)" in resumed.stderr
    assert not work.exists()
    streamed = pd.read_parquet(out)
    assert streamed["id"].tolist() == [str(i) for i in range(30_000)]  # each once, in order
    assert_same_predictions(streamed, in_memory(export, tmp_path / "rows.csv"))


def test_parts_made_from_other_inputs_are_refused_until_restart(export, tmp_path, monkeypatch):
    penguins(2_000, seed=9).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "preds.csv"

    def killed(*args):
        raise KeyboardInterrupt  # as if the process died before combining the parts

    with monkeypatch.context() as patch:
        patch.setattr(batch_predict, "_combine", killed)
        with pytest.raises(KeyboardInterrupt):
            predict_stream(export, tmp_path / "rows.csv", out, chunk_rows=500, progress=False)
    state = json.loads((tmp_path / "preds.csv.partial" / "progress.json").read_text())
    assert state["parts_done"] == 4 and state["chunk_rows"] == 500
    with pytest.raises(UsageError, match=r"made with another --chunk-rows\. .*Received: "
                                         r"--chunk-rows 500 then, 400 now\. Add --restart"):
        predict_stream(export, tmp_path / "rows.csv", out, chunk_rows=400, progress=False)
    penguins(2_000, seed=10).to_csv(tmp_path / "rows.csv", index=False)  # the input changed
    with pytest.raises(UsageError, match=r"made with another input files"):
        predict_stream(export, tmp_path / "rows.csv", out, chunk_rows=500, progress=False)
    result = predict_stream(export, tmp_path / "rows.csv", out, chunk_rows=500, restart=True,
                            progress=False)
    assert result["resumed_parts"] == 0 and len(pd.read_csv(out)) == 2_000


# -- bad input --------------------------------------------------------------------------------


def test_bad_input_is_named_with_its_column_and_row_in_the_whole_input(export, tmp_path):
    frame = penguins(3_000, seed=11)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "preds.parquet"
    with pytest.raises(UsageError, match=r"`--id`: .* has no column 'key'. Expected one of its "
                                         r"columns: \['id', 'island'"):
        predict_stream(export, tmp_path / "rows.csv", out, id_column="key", progress=False)

    text = frame.astype({"bill_length_mm": object})
    text.loc[2_345, "bill_length_mm"] = "n/k"
    text.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match=r"column 'bill_length_mm' of .*text\.csv'\. Expected a "
                                        r"number\. Received: 'n/k' at row 2345"):
        predict_stream(export, tmp_path / "text.csv", out, chunk_rows=1_000, progress=False)

    frame.loc[2_346, "bill_length_mm"] = np.inf
    frame.to_parquet(tmp_path / "inf.parquet")
    with pytest.raises(DataError, match=r"expected finite numbers in column 'bill_length_mm'\. "
                                        r"Received: inf in row 2346"):
        predict_stream(export, tmp_path / "inf.parquet", out, chunk_rows=1_000, progress=False)

    folder = tmp_path / "folder"
    folder.mkdir()
    frame.iloc[:10].to_csv(folder / "a.csv", index=False)
    frame.iloc[10:20].drop(columns=["year"]).to_csv(folder / "b.csv", index=False)
    with pytest.raises(DataError, match=r"column 'year' is missing from .*b\.csv"):
        predict_stream(export, folder, out, progress=False)
    assert not out.exists()


def test_text_that_looks_like_numbers_and_mixed_parquet_types_stream_as_read(export, tmp_path):
    """Each chunk is typed alone: a chunk of digit-only text must stay text, as written."""
    frame = penguins(60, seed=5)
    frame["island"] = ["007", "02130"] * 20 + ["Dream"] * 20  # the first chunks: digits only
    frame.to_csv(tmp_path / "rows.csv", index=False)
    expected = in_memory(export, tmp_path / "rows.csv")
    predict_stream(export, tmp_path / "rows.csv", tmp_path / "out.CSV", chunk_rows=8,
                   progress=False)
    assert (tmp_path / "out.CSV").read_bytes()[:4] != b"PAR1"  # the suffix's case is ignored
    assert_same_predictions(pd.read_csv(tmp_path / "out.CSV"), expected)

    folder = tmp_path / "mixed"  # one file stores the year as int64, the other as double
    folder.mkdir()
    frame.iloc[:30].to_parquet(folder / "a.parquet")
    later = frame.iloc[30:].copy()
    later["year"] = later["year"].astype("float64")
    later.to_parquet(folder / "b.parquet")
    predict_stream(export, folder, tmp_path / "mixed.parquet", chunk_rows=20, progress=False)
    assert_same_predictions(pd.read_parquet(tmp_path / "mixed.parquet"), expected)
