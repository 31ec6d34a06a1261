"""Table values get the checks array values get, in training, `kerakit predict` and `serve`.

Infinity, a number float32 cannot hold, a fraction or an integer beyond int64
in an integer column are refused with the column and the row named; request
faults are 400s, never 500s; no answer carries NaN (which is not JSON); and
pandas' nullable integers with gaps train. One table model is trained and
exported for the module, one `kerakit predict` process runs every predict case,
and one `kerakit serve` process answers every request.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import run_cli_batch
from test_serve import start_server

import kerakit as kk
from kerakit.errors import DataError

ROWS = [{"x1": 0.5, "year": 2008, "island": "Dream"},
        {"x1": -1.0, "year": 2007, "island": "Biscoe"},
        {"x1": 1.5, "year": 2009, "island": "Dream"},
        {"x1": 0.0, "year": 2008, "island": "Biscoe"}]
#: input file -> (column, value) put in row 3 (None: the rows as they are)
PREDICT_CASES = {
    "good": None,
    "infinite": ("x1", "inf"),
    "beyond_float32": ("x1", "1e39"),
    "fraction": ("year", "2008.7"),
    "beyond_int64": ("year", "99999999999999999999"),
}


def table(rows: int = 48, seed: int = 0) -> pd.DataFrame:
    """A number, an integer column of three years (a category) and text; two classes."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "year": rng.choice([2007, 2008, 2009],
                                                                          rows),
                          "island": rng.choice(["Dream", "Biscoe"], rows)})
    frame["label"] = np.where(frame["x1"] > 0, "up", "down")
    return frame


def tiny_model() -> kk.Model:
    return kk.Model(kk.Input((None,)), [kk.use("dense_block", units=4)],
                    kk.use("classifier", classes=2), epochs=1, name="values")


def strict_json(text: str) -> object:
    """JSON as the standard has it: NaN and Infinity are refused."""
    def refuse(constant: str) -> None:
        raise AssertionError(f"the answer holds {constant}, which is not JSON: {text[:300]}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's table model, trained for one epoch and exported."""
    tmp = tmp_path_factory.mktemp("values")
    table().to_csv(tmp / "train.csv", index=False)
    run = kk.fit(tiny_model(), str(tmp / "train.csv"), target="label", out=tmp / "run",
                 verbose=0)
    kk.export(run, tmp / "export")
    return tmp / "export"


@pytest.fixture(scope="module")
def predictions(export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every predict case's outcome, from one process running `kerakit predict` for each."""
    tmp = tmp_path_factory.mktemp("predict")
    for name, change in PREDICT_CASES.items():
        lines = ["x1,year,island"] + [f"{r['x1']},{r['year']},{r['island']}" for r in ROWS]
        if change is not None:
            column, value = change
            row = dict(ROWS[3], **{column: value})
            lines[4] = f"{row['x1']},{row['year']},{row['island']}"
        (tmp / f"{name}.csv").write_text("\n".join(lines) + "\n")
    np.save(tmp / "rows.npy", np.zeros((3, 3), dtype="float32"))  # an array, not a table
    outcomes = run_cli_batch(*[["predict", str(export), str(tmp / f"{name}.csv"), "--json"]
                               for name in PREDICT_CASES],
                             ["predict", str(export), str(tmp / "rows.npy"), "--json"])
    return {**dict(zip(PREDICT_CASES, outcomes[:-1], strict=True)), "npy": outcomes[-1],
            "npy_path": tmp / "rows.npy"}


@pytest.fixture(scope="module")
def client(export: Path):
    """A real `kerakit serve` process serving the module's model as `table`."""
    proc, url = start_server(str(export), "--name", "table", model="table")
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            yield c
    finally:
        proc.kill()
        log = proc.communicate()[0]
    assert "Traceback" not in log, log[-3000:]  # every request fault was answered as such


def post(client: httpx.Client, body: str, verb: str = "predict") -> httpx.Response:
    """POST a raw body: Infinity, NaN and deep nesting as a client may send them."""
    return client.post(f"/v1/models/table:{verb}", content=body,
                       headers={"content-type": "application/json"})


def rows_with(column: str, value: str) -> str:
    rows = [dict(r) for r in ROWS]
    rows[3][column] = "@"
    return json.dumps({"instances": rows}).replace('"@"', value)


# -- training ---------------------------------------------------------------------------


def test_a_value_beyond_float32_in_a_training_table_is_refused_with_the_column_named(tmp_path):
    frame = table()
    frame.loc[5, "x1"] = 1e39  # finite as float64, infinite as the float32 the model takes
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match=r"column 'x1' within float32's range .* magnitude "
                                        r"1e\+39 in row 5"):
        kk.fit(tiny_model(), str(tmp_path / "train.csv"), target="label",
               out=tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_nullable_int64_column_with_gaps_trains(tmp_path):
    frame = table()
    frame["year"] = frame["year"].astype("Int64")
    frame.loc[[1, 7], "year"] = pd.NA  # as Parquet round-trips an integer column with gaps
    frame.to_parquet(tmp_path / "train.parquet")
    run = kk.fit(tiny_model(), str(tmp_path / "train.parquet"), target="label",
                 out=tmp_path / "run", verbose=0)
    assert run.declaration.columns["year"] == "numeric"  # as a CSV file with gaps reads
    assert np.isfinite(run.metrics["loss"])


# -- kerakit predict --------------------------------------------------------------------


def test_good_rows_are_predicted(predictions):
    result = predictions["good"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(strict_json(result.stdout)) == len(ROWS)


def test_a_table_export_given_an_npy_file_names_the_table_formats(predictions):
    result = predictions["npy"]
    assert result.returncode == 1
    assert (f"Invalid table file {str(predictions['npy_path'])!r}. Expected an existing "
            ".csv, .tsv, .parquet, .pq file. Received: a .npy file") in result.stderr
    assert "UTF-8" not in result.stderr and "bug" not in result.stderr


def test_infinite_value_in_a_table_row_is_refused_by_predict_with_the_column_named(
        predictions):
    result = predictions["infinite"]
    assert result.returncode != 0 and "NaN" not in result.stdout
    assert "expected finite numbers in column 'x1'. Received: inf in row 3" in result.stderr


def test_value_beyond_float32_in_a_table_row_is_refused_by_predict(predictions):
    result = predictions["beyond_float32"]
    assert result.returncode != 0 and "NaN" not in result.stdout
    assert "column 'x1' within float32's range" in result.stderr
    assert "magnitude 1e+39 in row 3" in result.stderr


def test_predict_refuses_a_fractional_value_in_an_integer_column(predictions):
    result = predictions["fraction"]
    assert result.returncode != 0
    assert "expected integers in column 'year', not fractions. Received: 2008.7 in row 3" \
        in result.stderr


def test_predict_refuses_an_integer_beyond_int64(predictions):
    result = predictions["beyond_int64"]
    assert result.returncode != 0
    assert "integers in column 'year' within int64's range" in result.stderr
    assert "Received: 99999999999999999999 in row 3" in result.stderr


# -- kerakit serve ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "received"), [
    ("Infinity", "expected finite numbers in column 'x1'. Received: inf in row 3"),
    ("1e39", "within float32's range (|x| <= 3.4e+38). Received: a value of magnitude 1e+39"),
], ids=["Infinity", "1e39"])
def test_serve_answers_400_not_nan_json_for_an_infinite_table_value(client, value, received):
    answer = post(client, rows_with("x1", value))
    body = strict_json(answer.text)
    assert answer.status_code == 400 and received in body["error"], answer.text


def test_serve_answers_good_rows_with_finite_json(client):
    answer = post(client, json.dumps({"instances": ROWS}))
    assert answer.status_code == 200, answer.text
    assert np.isfinite(strict_json(answer.text)["predictions"]).all()


@pytest.mark.parametrize(("value", "received"), [
    ("NaN", "not a missing or infinite value. Received: NaN in row 3"),
    ("Infinity", "not a missing or infinite value. Received: inf in row 3"),
    ("null", "not a missing or infinite value. Received: null in row 3"),
    ("2008.5", "not fractions. Received: 2008.5 in row 3"),
    ("1e30", "within int64's range"),
    (str(2**70), f"within int64's range [-9223372036854775808, 9223372036854775807]. "
                 f"Received: {2**70} in row 3"),
], ids=["NaN", "Infinity", "null", "fraction", "1e30", "2**70"])
def test_nan_in_an_integer_column_is_a_400(client, value, received):
    answer = post(client, rows_with("year", value))
    body = strict_json(answer.text)
    assert answer.status_code == 400, answer.text
    assert "column 'year'" in body["error"] and received in body["error"], answer.text


def test_classify_checks_integer_columns_too(client):
    body = json.dumps({"examples": [{"x1": 0.5, "island": "Dream"}],
                       "context": {"year": "@"}}).replace('"@"', "NaN")
    answer = post(client, body, "classify")
    assert answer.status_code == 400 and "column 'year'" in answer.json()["error"], answer.text


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_400(client, depth):
    answer = post(client, '{"instances": ' + "[" * depth + "]" * depth + "}")
    assert answer.status_code == 400, answer.text
    assert "nested too deeply. Expected at most 64 levels" in answer.json()["error"]
    assert client.get("/v1/models/table").status_code == 200  # and it keeps serving


def test_a_body_of_escaped_quotes_is_refused_at_once(client):
    # an unterminated string of escaped quotes: a string pattern run over raw bytes is
    # quadratic in it (200 KB would take minutes); the parser refuses it in milliseconds
    answer = post(client, '{"instances": "' + '\\"' * 100_000)
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]


@pytest.mark.parametrize("name", [["serving_default"], {"name": "serving_default"}])
@pytest.mark.parametrize("verb", ["predict", "classify"])
def test_non_string_signature_name_is_a_400(client, name, verb):
    body = {"signature_name": name, "instances": ROWS, "examples": ROWS}
    body.pop("examples" if verb == "predict" else "instances")
    answer = post(client, json.dumps(body), verb)
    assert answer.status_code == 400, answer.text
    assert "Invalid `signature_name`. Expected a string" in answer.json()["error"]


def test_an_answer_that_is_not_json_becomes_a_500_that_is():
    from kerakit.deploy.serving import _answer

    response = _answer({"predictions": [[float("nan")]]})
    assert response.status_code == 500
    assert "not valid JSON" in strict_json(response.body.decode())["error"]
