"""Column names become unique input names: collisions and any Unicode header train and serve."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from conftest import run_cli

import kerakit as kk
from kerakit.deploy.serving_rest import _by_input_name
from kerakit.sources.rows import input_names


def test_column_names_that_clean_to_one_name_and_unicode_headers_train_predict_and_serve(
        tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame({"bill length": rng.normal(size=n), "bill_length": rng.normal(size=n),
                          "年龄": rng.integers(18, 80, n).astype(float),
                          "收入": rng.normal(size=n), "城市": rng.choice(["北京", "上海"], n)})
    frame["y"] = (frame["bill length"] > 0).astype(int)
    decl = kk.Model(kk.Input((None,)), [kk.use("dense_block", units=8)],
                    kk.use("classifier", classes=2), epochs=1, name="unicode_headers")
    run = kk.fit(decl, frame, target="y", out=tmp_path / "run", verbose=0)
    names = input_names(frame.columns.drop("y"))
    assert len(set(names.values())) == 5 and names["bill_length"] == "bill_length"
    assert sorted(i.name for i in kk.load(run.dir).inputs) == sorted(names.values())
    kk.export(run, tmp_path / "export")
    frame.drop(columns="y").to_csv(tmp_path / "rows.csv", index=False)
    result = run_cli("predict", str(tmp_path / "export"), str(tmp_path / "rows.csv"), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(json.loads(result.stdout)) == n
    # serve maps each request key to its own input, whatever the order of the two spellings
    row = {"bill_length": 2.0, "bill length": 1.0, "年龄": 30, "收入": 0.1, "城市": "北京"}
    keyed = _by_input_name(row, list(names.values()), "instances[0]")
    assert {names[k]: v for k, v in row.items()} == keyed
