"""Guards on the third-party internals kerakit relies on: each fails loudly if the name
moves or disappears, so a KerasTuner or Keras release cannot silently break resume."""

from __future__ import annotations

import inspect
import json

from kerakit.tuning.adapter import patched_keras_tuner


def test_keras_tuner_state_still_goes_through_utils_save_json():
    # kerakit makes KerasTuner's oracle.json / trial.json writes atomic by swapping
    # keras_tuner.src.utils.save_json while a search runs (tuning/adapter.py).
    from keras_tuner.src import utils
    from keras_tuner.src.engine import stateful

    assert callable(utils.save_json)
    assert "utils.save_json(" in inspect.getsource(stateful.Stateful.save), (
        "Stateful.save no longer writes through utils.save_json: the atomic-write patch in "
        "kerakit/tuning/adapter.py would do nothing; revisit it")


def test_patched_save_json_is_atomic_and_restored(tmp_path):
    from keras_tuner.src import utils

    original = utils.save_json
    target = tmp_path / "state.json"
    with patched_keras_tuner():
        assert utils.save_json is not original
        utils.save_json(str(target), {"a": 1})
    assert utils.save_json is original
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left


def test_keras_tuner_conditions_module_and_its_debug_print():
    # kerakit silences a debug print in Parent.to_proto by shadowing `print` in
    # keras_tuner.src.engine.conditions while a search runs.
    from keras_tuner.src.engine import conditions

    source = inspect.getsource(conditions.Parent.to_proto)
    assert "print(" in source, (
        "Parent.to_proto no longer prints: drop the print patch in kerakit/tuning/adapter.py")
    with patched_keras_tuner():
        assert conditions.print("silenced") is None
    assert "print" not in vars(conditions)


def test_keras_tuner_is_in_the_tested_range():
    import keras_tuner

    major, minor = (int(p) for p in keras_tuner.__version__.split(".")[:2])
    assert (major, minor) == (1, 4), keras_tuner.__version__
