"""Tuner engines: the hook, the default engine, dispatch, and the kerakit-optuna package.

The Optuna engine's own suite (real worker processes on SQLite and on a
journal file) runs in tests/test_plugin_suites.py, against the pip-installed package.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import sys
import types
import warnings

import pytest
from conftest import run_cli

import kerakit as kk
from kerakit import hp
from kerakit.errors import PluginWarning, UsageError
from kerakit.registry import discovery, loader
from kerakit.tuning import engines
from kerakit.tuning.join import join_search


def iris_space() -> kk.Model:
    return kk.Model(name="iris_engines", inputs=(4,), preprocess=["standardize"],
                    blocks=[kk.use("dense_block", units=hp.Choice([4, 8], default=8))],
                    head=kk.use("classifier", classes=3), epochs=1)


def test_engines_list_the_default_and_the_plugins(installed_plugins):
    table = kk.tuner_engines()
    assert table["keras_tuner"].plugin == "kerakit"
    assert table["optuna"].plugin == "optuna"
    assert type(engines.get_engine("optuna")).__name__ == "OptunaEngine"


def test_an_unknown_engine_names_the_available_ones(installed_plugins, tmp_path):
    with pytest.raises(ValueError, match=r"Unknown tuner engine. Expected one of: keras_tuner, "
                                         r"optuna. Did you mean 'optuna'\?.*engine='optunaa'"):
        kk.tune(iris_space(), "iris", engine="optunaa", out=tmp_path / "t")


def test_the_default_engine_takes_no_engine_options(tmp_path):
    with pytest.raises(UsageError, match=r"Invalid option for the engine `keras_tuner`. "
                                         r"Expected one of: none. Received: storage='x.db'"):
        kk.tune(iris_space(), "iris", storage="x.db", out=tmp_path / "t")
    assert not (tmp_path / "t").exists()


class DefaultsOnly(engines.TunerEngine):
    """Runs one trial, of the defaults: enough to check the contract, not a real tuner."""

    tuners = ("defaults", "annealing")  # its own tuner names, not KerasTuner's
    options = ("note",)
    calls: list = []

    def search(self, search, directory, *, overwrite, workers, note=""):
        from kerakit.declaration.model import Sampler

        plan = search.trial_plan(Sampler())
        search.trial_started("0", {})
        model = plan.build(adapt_data=search.dataset.x_train)
        history = model.fit(**plan.fit_inputs(search.dataset), epochs=1, verbose=0)
        score = history.history[search.objective][-1]
        row = {"trial": 0, "status": "COMPLETED", "score": score, "seconds": 0.0,
               "worker": "here", "reason": note}
        search.trial_finished(row)
        self.calls.append(note)
        return search.finish(directory, [row], {}, score, 1)


@contextlib.contextmanager
def engine_plugin(module: types.ModuleType):
    """Load ``module`` through discovery as the only third-party plugin, ``fake``."""
    point = importlib.metadata.EntryPoint("fake", module.__name__, "kerakit")
    found = functools.lru_cache(maxsize=1)(lambda: (point,))
    patch = pytest.MonkeyPatch()
    sys.modules[module.__name__] = module
    try:
        patch.setattr(loader, "entry_points", found)
        patch.setattr(discovery, "entry_points", found)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            discovery.load_plugins(reload=True)
        yield caught
    finally:
        patch.undo()
        sys.modules.pop(module.__name__, None)
        discovery.load_plugins(reload=True)


def test_a_plugin_engine_gets_the_search_and_writes_the_outputs(tmp_path, monkeypatch):
    module = types.ModuleType("kerakit_fake_engine")

    @kk.hookimpl
    def kerakit_tuner_engines(register):
        register("defaults_only", DefaultsOnly)

    module.kerakit_tuner_engines = kerakit_tuner_engines
    with engine_plugin(module):
        heard = []

        class Listener:
            def trial_started(self, trial, values):
                heard.append(("start", trial))

            def trial_finished(self, row):
                heard.append(("end", row["trial"]))

        from kerakit.tuning import search as search_module

        original = search_module.prepare

        def prepare(*args, **kwargs):
            found = original(*args, **kwargs)
            found.listeners.append(Listener())
            return found

        monkeypatch.setattr(search_module, "prepare", prepare)
        result = kk.tune(iris_space(), "iris", engine="defaults_only", note="hi",
                         out=tmp_path / "t", retrain_best=True)
        assert DefaultsOnly.calls == ["hi"]
        assert kk.tuner_engines()["defaults_only"].plugin == "fake"
        assert heard == [("start", "0"), ("end", 0)]
        for name in ("best_hyperparameters.json", "best_declaration.json", "trials.csv",
                     "tuning.png"):
            assert (tmp_path / "t" / name).exists()
        assert result.best_run is not None and "accuracy" in result.best_run.metrics
        with pytest.raises(UsageError, match=r"Invalid value for argument `tuner` of the engine "
                                             r"`defaults_only`. Expected one of: defaults, "
                                             r"annealing. Received: tuner='grid'"):
            kk.tune(iris_space(), "iris", engine="defaults_only", tuner="grid")
        # a tuner name KerasTuner lacks is the engine's own to accept
        kk.tune(iris_space(), "iris", engine="defaults_only", tuner="annealing", note="own",
                out=tmp_path / "own")
        assert DefaultsOnly.calls[-1] == "own"


def test_a_broken_engine_hook_is_dropped_with_one_warning():
    module = types.ModuleType("kerakit_broken_engine")

    @kk.hookimpl
    def kerakit_tuner_engines(register):
        register("first", DefaultsOnly)
        raise RuntimeError("boom")

    module.kerakit_tuner_engines = kerakit_tuner_engines
    with engine_plugin(module) as caught:
        table = kk.tuner_engines()
        assert "first" not in table and "keras_tuner" in table
        messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
        assert len(messages) == 1 and "plugin `fake`" in messages[0]
        assert "hook `kerakit_tuner_engines` raised RuntimeError: boom" in messages[0]


@pytest.mark.parametrize("oracle", ["10.0.0.1:8000", "0.0.0.0:8000"])
def test_a_chief_refuses_a_non_loopback_address(oracle):
    with pytest.raises(UsageError, match=rf"Invalid oracle address for the chief.*"
                                         rf"--allow-remote-oracle.*Received: oracle='{oracle}'"):
        join_search(iris_space(), "iris", role="chief", oracle=oracle)


def test_the_cli_chief_needs_the_flag_for_a_remote_address():
    result = run_cli("tune", "--chief", "--oracle", "10.0.0.1:8000", "--max-trials", "1")
    assert result.returncode != 0
    assert "Invalid oracle address for the chief" in result.stderr
    assert "--allow-remote-oracle" in result.stderr


CONDITIONAL = kk.Model(
    name="space", inputs=(8, 8, 1),
    blocks=[hp.OneOf(kk.use("conv_block", filters=hp.Choice([8, 16]),
                            kernel_size=hp.Int(3, 5, step=2)),
                     kk.use("residual_conv_block", filters=hp.Int(8, 32, step=8, log=False))),
            "global_avg_pool",
            kk.use("dropout", rate=hp.Float(0.0, 0.5, step=0.1))],
    head=kk.use("classifier", classes=10),
    optimizer=hp.OneOf(kk.use("adam", learning_rate=hp.Float(1e-4, 1e-2, log=True)),
                       kk.use("sgd", momentum=hp.Boolean()), "rmsprop"),
    batch_size=hp.Choice([16, 32]), epochs=hp.Int(2, 6))


def test_the_optuna_search_space_matches_the_keras_tuner_engine(installed_plugins):
    import keras_tuner as kt
    import optuna
    from kerakit_optuna.sampler import OptunaSampler, distribution

    from kerakit.declaration.model import resolve
    from kerakit.tuning.search_space import TunerSampler

    class EveryBranch(TunerSampler):
        all_branches = True  # declare every option's placeholders, as trials discover them

    kt_hp = kt.HyperParameters()
    resolve(CONDITIONAL, EveryBranch(kt_hp))
    kt_space = {p.name: p for p in kt_hp.space}
    assert set(kt_space) == set(CONDITIONAL.hyperparameters())

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: set[str] = set()
    for _ in range(60):
        trial = study.ask()
        resolve(CONDITIONAL, OptunaSampler(trial))
        seen |= set(trial.params)
        # the names Optuna drew are exactly the ones KerasTuner holds active for these values
        hps = kt_hp.copy()
        for name, p in kt_space.items():
            hps.values[name] = trial.params.get(name, p.default)
        active = {name for name, p in kt_space.items() if hps.is_active(p)}
        assert set(trial.params) == active, (trial.params, active)
        for name, value in trial.params.items():
            assert _in_keras_tuner_domain(kt_space[name], value), (name, value)
        study.tell(trial, 0.0)
    assert seen == set(kt_space)
    # and the domains agree value for value where they are finite
    for name, p in CONDITIONAL.hyperparameters().items():
        dist, kt_p = distribution(p), kt_space[name]
        if isinstance(kt_p, kt.engine.hyperparameters.Boolean):
            assert set(dist.choices) == set(kt_p.values), name
        elif isinstance(kt_p, kt.engine.hyperparameters.Choice):
            assert list(dist.choices) == list(kt_p.values), name
        else:
            assert (dist.low, dist.high, dist.log, dist.step or None) == (
                kt_p.min_value, kt_p.max_value, kt_p.sampling == "log",
                kt_p.step if kt_p.step != 1 or isinstance(dist.low, int) else None), name


def _in_keras_tuner_domain(p, value) -> bool:
    if not hasattr(p, "min_value"):  # Choice, Boolean
        return value in p.values
    if not p.min_value <= value <= p.max_value + 1e-9:
        return False
    return not p.step or abs((value - p.min_value) / p.step - round((value - p.min_value)
                                                                     / p.step)) < 1e-6


def test_the_optuna_grid_runs_every_point_once(installed_plugins, tmp_path):
    decl = iris_space().replace(optimizer=kk.use("adam", learning_rate=hp.Choice([0.01, 0.05])))
    result = kk.tune(decl, "iris", engine="optuna", tuner="grid", max_trials=10,
                     out=tmp_path / "t", verbose=0)
    points = {(r["blocks.0.units"], r["optimizer.learning_rate"]) for r in result.trials}
    assert len(result.trials) == 4 and points == {(u, lr) for u in (4, 8)
                                                  for lr in (0.01, 0.05)}
    assert all(r["status"] == "COMPLETED" for r in result.trials)
