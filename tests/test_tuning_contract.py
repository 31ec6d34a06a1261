"""The tuner-engine contract: public names, engine options on the CLI, keywords of kk.tune."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
from conftest import cli_env, run_cli

import kerakit as kk
import kerakit.tuning
from kerakit import hp

HELP_IMPORTS = """
import sys
from kerakit.cli import main
try:
    main(["tune", "--help"])
except SystemExit:
    pass
heavy = [m for m in ("tensorflow", "keras", "keras_tuner", "optuna") if m in sys.modules]
print("HEAVY", heavy)
"""


def iris_space() -> kk.Model:
    return kk.Model(name="iris_contract", inputs=(4,), preprocess=["standardize"],
                    blocks=[kk.use("dense_block", units=hp.Choice([4, 8], default=8))],
                    head=kk.use("classifier", classes=3), epochs=1)


def test_the_public_names_are_sorted_and_resolve():
    names = kerakit.tuning.__all__
    assert names == sorted(names, key=lambda n: (not n[:1].isupper(), n))
    assert {"Search", "SearchOptions", "TuneResult", "TunerEngine", "direction",
            "tuner_engines"} <= set(names)
    for name in names:
        assert getattr(kerakit.tuning, name) is not None
    assert kerakit.tuning.TunerEngine is kk.TunerEngine
    assert kerakit.tuning.direction("val_loss") == "min"


def test_tune_help_without_the_optuna_plugin_shows_no_optuna_option():
    result = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True,
                            text=True, env=cli_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--engine" in result.stdout
    for flag in ("--storage", "--study", "--pruner"):
        assert flag not in result.stdout
    assert "HEAVY []" in result.stdout  # no TensorFlow, Keras, KerasTuner or Optuna


def test_tune_help_with_the_optuna_plugin_shows_its_options_cheaply(installed_plugins):
    # installed_plugins indexed every plugin; help reads that index, so it imports only
    # the plugin that registers an engine, and nothing heavy
    result = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True,
                            text=True, env=cli_env(installed_plugins), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "options of the optuna engine (optuna)" in result.stdout
    for flag in ("--storage", "--study", "--pruner"):
        assert flag in result.stdout
    assert "HEAVY []" in result.stdout


def test_an_engine_option_belongs_to_its_engine(installed_plugins):
    result = run_cli("tune", "--storage", "x.db", "--max-trials", "1",
                     plugin_site=installed_plugins)
    assert result.returncode != 0
    assert "unrecognized arguments: --storage" in result.stderr


def test_tune_takes_out_verbose_and_the_deprecated_directory(tmp_path, capsys):
    result = kk.tune(iris_space(), "iris", max_trials=2, out=tmp_path / "a", verbose=0)
    assert result.directory == tmp_path / "a" and len(result.trials) == 2
    assert "trial 1/2" not in capsys.readouterr().out  # verbose=0: no progress lines
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = kk.tune(iris_space(), "iris", max_trials=2, directory=tmp_path / "a")
    assert again.directory == tmp_path / "a"  # resumed where the first one ran
    assert any(issubclass(w.category, DeprecationWarning) and "use `out=`" in str(w.message)
               for w in caught)
    with pytest.raises(kk.UsageError, match=r"Expected `out=` alone"):
        kk.tune(iris_space(), "iris", out=tmp_path / "b", directory=tmp_path / "c")


def test_search_options_hold_the_only_defaults():
    from kerakit.tuning.search import tune

    defaults = kerakit.tuning.SearchOptions()
    assert tune.__kwdefaults__["max_trials"] == defaults.max_trials
    assert tune.__kwdefaults__["max_epochs"] == defaults.max_epochs
    with pytest.raises(kk.UsageError, match=r"Invalid value for argument `max_trials`. "
                                            r"Expected an int >= 1. Received: max_trials=0"):
        kerakit.tuning.SearchOptions(max_trials=0)


def test_search_options_check_folds_and_parse_a_time_budget():
    from kerakit.tuning.contract import TunerEngine

    options = kerakit.tuning.SearchOptions(cv=3, time_budget="1.5h")
    assert (options.cv, options.time_budget) == (3, 5400.0)
    TunerEngine().check_options(options, {})  # the base engine accepts every combination
    with pytest.raises(kk.UsageError, match=r"Invalid value for argument `cv`. Expected None "
                                            r"or an integer >= 2 \(the number of folds\). "
                                            r"Received: cv=1"):
        kerakit.tuning.SearchOptions(cv=1)
    with pytest.raises(kk.UsageError, match=r"Invalid value for argument `time_budget`.*"
                                            r"Received: time_budget='20 minutes'"):
        kerakit.tuning.SearchOptions(time_budget="20 minutes")
