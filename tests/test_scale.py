"""Precision inside the build, and data-parallel training on two logical CPU devices."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import pytest
from conftest import cli_env

import kerakit as kk
from kerakit import hp
from kerakit.errors import DeclarationError


def small(**changes) -> kk.Model:
    decl = kk.Model(inputs=(4,), preprocess=["standardize"], blocks=["dense_block"],
                    head=kk.use("classifier", classes=3), epochs=2)
    return decl.replace(**changes) if changes else decl


def test_precision_is_applied_inside_the_build_and_not_leaked():
    before = keras.config.dtype_policy().name
    model = kk.build(small(precision="mixed_bfloat16"))
    assert model.get_layer("block_0_dense_block").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("head_classifier").dtype_policy.name == "float32"
    assert model.outputs[0].dtype == "float32"
    assert keras.config.dtype_policy().name == before
    assert kk.Model.from_json(small(precision="mixed_float16").to_json()).precision == \
        "mixed_float16"


def test_precision_survives_a_cleared_session_and_can_be_tuned():
    keras.backend.clear_session()  # what KerasTuner does before each trial
    model = kk.build(small(precision=hp.Choice(["float32", "mixed_bfloat16"],
                                               default="mixed_bfloat16")))
    assert model.get_layer("block_0_dense_block").dtype_policy.name == "mixed_bfloat16"
    with pytest.raises(DeclarationError, match="Expected None or one of: float32"):
        small(precision="float8")


def test_mixed_precision_trains(tmp_path):
    run = kk.fit(small(precision="mixed_bfloat16"), "iris", out=tmp_path / "run", verbose=0)
    assert run.metrics["loss"] == run.metrics["loss"]  # finite, not NaN


MIRRORED = """
import json, os, sys
if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import kerakit as kk
decl = kk.Model(inputs=(4,), preprocess=["standardize"], blocks=["dense_block"],
                head=kk.use("classifier", classes=3), epochs=3, batch_size=16)
run = kk.fit(decl, "iris", out=sys.argv[1], verbose=0, distribute="mirrored")
print(json.dumps({"replicas": run.replicas, "metrics": run.metrics}))
"""


def test_data_parallel_on_two_logical_cpus(tmp_path):
    # Two logical CPU devices, set before the framework starts: TF in the script, JAX here.
    env = cli_env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "run")],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["metrics"]["accuracy"] > 0.3
    assert (tmp_path / "run" / "model.keras").is_file()


def test_unknown_strategy(tmp_path):
    with pytest.raises(kk.KerakitError, match="Expected None or one of: mirrored"):
        kk.fit(small(), "iris", out=tmp_path / "run", distribute="ring")
    assert not list(tmp_path.iterdir())
