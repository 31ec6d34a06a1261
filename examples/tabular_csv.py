"""Your own table, start to finish: a CSV with text categories and gaps, trained and served.

The script writes its own CSV (penguin-like measurements, an island and a sex
column as text, some cells empty), then does in Python what
``kerakit train --data penguins.csv --target species`` does with no code:
infer each column's kind and the task, build the default declaration, train
it, and export a SavedModel that takes raw rows by column name.

Run:  python examples/tabular_csv.py [--quick]
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import kerakit as kk
from kerakit.deploy.predict import format_predictions, predict_file

QUICK = "--quick" in sys.argv


def write_penguins(path: Path, rows: int = 600) -> None:
    """Three species told apart by measurements and island; 5% of cells left empty."""
    rng = np.random.default_rng(0)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows)
    centre = {"Adelie": (38.8, 18.3, 190), "Chinstrap": (48.8, 18.4, 196),
              "Gentoo": (47.5, 15.0, 217)}
    islands = {"Adelie": ["Biscoe", "Dream", "Torgersen"], "Chinstrap": ["Dream"],
               "Gentoo": ["Biscoe"]}
    table = pd.DataFrame({
        "island": [rng.choice(islands[s]) for s in species],
        "bill_length_mm": [rng.normal(centre[s][0], 2.5) for s in species],
        "bill_depth_mm": [rng.normal(centre[s][1], 1.0) for s in species],
        "flipper_length_mm": [rng.normal(centre[s][2], 6.0) for s in species],
        "sex": rng.choice(["male", "female"], rows),
        "species": species,
    })
    for column in ("bill_length_mm", "bill_depth_mm", "sex"):
        table.loc[rng.random(rows) < 0.05, column] = None
    table.to_csv(path, index=False)


write_penguins(Path("penguins.csv"))

# The no-code default, in Python: columns, task and classes are read from the data.
decl, data = kk.default_for("penguins.csv", target="species")
print(decl.columns)  # {'island': 'categorical', 'bill_length_mm': 'numeric', ...}

run = kk.fit(decl, data, epochs=3 if QUICK else None, out="runs/penguins", overwrite=True,
             verbose=0)
print(run.summary())

# The export takes raw rows: text categories, numbers and empty cells, by column name.
kk.export(run, "exports/penguins", force=True)
Path("new_penguins.csv").write_text(
    "island,bill_length_mm,bill_depth_mm,flipper_length_mm,sex\n"
    "Dream,49.1,18.2,195,female\n"
    "Biscoe,,15.1,220,male\n"
    "Atlantis,39.0,18.0,188,\n"  # an island never seen in training: the unknown bucket
)
print(format_predictions(predict_file("exports/penguins", "new_penguins.csv")))
