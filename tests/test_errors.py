"""Bad input ends in one clear line: numbers, recipes, files, manifests, model files, --json.

One small image model is trained and exported once, in a fresh process with
the fixture plugins installed; it uses a block from the one that prints on
import. Every other case runs ``kerakit.cli.main`` in this process against it.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli

import kerakit as kk
from kerakit.cli import main

RECIPE = '''
import kerakit as kk

data = "digits"

model = kk.Model(
    name="tiny_digits", inputs=(8, 8, 1),
    blocks=[kk.use("conv_block", filters=kk.hp.Choice([4, 8], default=4)), "noisy_identity",
            "global_avg_pool"],
    head=kk.use("classifier", classes=10), epochs=1,
)
'''
NOISE = "kerakit-fixture-noisy: hello from import"
# Writable by no one, root included, on Linux: a real PermissionError.
UNWRITABLE = Path("/sys/kerakit-test-unwritable")


def fail(capsys, *argv: str) -> str:
    """Run the command in this process; it must fail with one error line. Returns stderr."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, plugin_site):
    """A run and its SavedModel export, from `train --json --export` in a fresh process."""
    base = tmp_path_factory.mktemp("errors")
    (base / "recipe.py").write_text(RECIPE)
    result = run_cli("train", str(base / "recipe.py"), "--out", str(base / "run"),
                     "--export", str(base / "export"), "--json", plugin_site=plugin_site)
    assert result.returncode == 0, result.stderr[-3000:]
    return base, result


def test_train_json_stdout_is_only_json_with_a_plugin_that_prints(trained):
    base, result = trained
    assert NOISE in result.stderr  # the plugin was imported, and printed, during the command
    document = json.loads(result.stdout)
    assert document["dir"] == str(base / "run") and document["export"] == str(base / "export")


def test_export_json_stdout_is_only_json_with_a_plugin_that_prints(trained, plugin_site):
    base, _ = trained
    result = run_cli("export", str(base / "run"), "--out", str(base / "m.keras"),
                     "--format", "keras", "--json", plugin_site=plugin_site)
    assert result.returncode == 0, result.stderr[-3000:]
    assert NOISE not in result.stdout
    assert json.loads(result.stdout)["format"] == "keras"
    assert NOISE in result.stderr  # loading the model imported the plugin


def test_predict_and_tune_json_stdout_is_only_json(capsys, trained, installed_plugins):
    base, _ = trained
    np.save(base / "x.npy", np.zeros((3, 8, 8, 1), dtype="float32"))
    capsys.readouterr()
    assert main(["predict", str(base / "export"), str(base / "x.npy"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["tune", str(base / "recipe.py"), "--max-trials", "1", "--max-epochs", "1",
                 "--out", str(base / "tuning"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["trials"] == 1
    assert "trial 1/1" in err  # the search's progress went to stderr


@pytest.mark.parametrize("argv, option, minimum", [
    (["train", "--epochs", "0"], "--epochs", 1),
    (["train", "--epochs", "-1"], "--epochs", 1),
    (["train", "--batch-size", "0"], "--batch-size", 1),
    (["train", "--batch-size", "-5"], "--batch-size", 1),
    (["train", "--seed", "-1"], "--seed", 0),
    (["train", "--epochs", "two"], "--epochs", 1),
    (["tune", "--workers", "0"], "--workers", 1),
    (["tune", "--max-epochs", "0"], "--max-epochs", 1),
    (["tune", "--max-trials", "0"], "--max-trials", 1),
])
def test_numeric_arguments_are_refused_before_anything_runs(capsys, tmp_path, argv, option,
                                                             minimum):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"argument {option}: Invalid value. Expected an int >= {minimum}. Received:" in err
    assert not out.exists()


@pytest.mark.parametrize("argv, expected", [
    (["--port", "70000"], "argument --port: Invalid value. Expected a port from 0 to 65535. "
                          "Received: 70000"),
    (["--port", "-1"], "argument --port: Invalid value. Expected a port from 0 to 65535."),
    (["--workers", "0"], "argument --workers: Invalid value. Expected an int >= 1. Received: 0"),
    (["--max-body", "-5"], "argument --max-body: Invalid value. Expected an int >= 1."),
])
def test_serve_port_workers_and_max_body_are_range_checked_with_status_2(capsys, tmp_path,
                                                                         argv, expected):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(tmp_path / "no-such-export"), *argv])
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err


def test_tune_workers_is_checked_before_overwrite_touches_the_disk(capsys, tmp_path):
    (tmp_path / "thesis.txt").write_text("keep me")
    with pytest.raises(SystemExit):
        main(["tune", "--workers", "-1", "--overwrite", "--out", str(tmp_path)])
    assert "Expected an int >= 1" in capsys.readouterr().err
    assert (tmp_path / "thesis.txt").read_text() == "keep me"


def test_declaration_and_library_validate_numbers(tmp_path):
    base = dict(name="n", inputs=(4,), head=kk.use("classifier", classes=3))
    for field, value in [("epochs", 0), ("epochs", -1), ("batch_size", 0), ("batch_size", -5),
                         ("validation_split", 1.0), ("validation_split", -0.1), ("seed", -1)]:
        with pytest.raises(kk.DeclarationError, match=rf"Invalid `{field}`.*Received: "):
            kk.Model(**base, **{field: value})
    decl = kk.Model(**base)
    x, y = np.zeros((60, 4), "float32"), np.arange(60) % 3
    with pytest.raises(kk.DeclarationError, match=r"Invalid `epochs`"):
        kk.fit(decl, (x, y), epochs=0, out=tmp_path / "run")
    with pytest.raises(kk.DeclarationError, match=r"Invalid `batch_size`"):
        kk.fit(decl, (x, y), batch_size=-5, out=tmp_path / "run")
    for option, value in [("max_epochs", 0), ("max_trials", 0), ("workers", 0), ("workers", -1)]:
        with pytest.raises(kk.UsageError,
                           match=rf"Invalid value for argument `{option}`.*Received: "
                                 rf"{option}={value}"):
            kk.tune(decl, (x, y), out=str(tmp_path / "tuning"), **{option: value})
    assert not any(tmp_path.iterdir())


def test_recipe_mistakes_name_the_file_and_line(capsys, tmp_path):
    syntax = tmp_path / "syntax.py"
    syntax.write_text("import kerakit as kk\nmodel = kk.Model(name='x', inputs=(4,)\n")
    err = fail(capsys, "train", str(syntax))
    assert f"Invalid recipe {str(syntax)!r}: syntax error at line 2" in err
    broken = tmp_path / "broken.py"
    broken.write_text("import kerakit as kk\n\nmodel = undefined_name\n")
    err = fail(capsys, "tune", str(broken))
    assert f"Recipe {str(broken)!r} failed at line 3: NameError" in err
    listed = tmp_path / "declaration.json"
    listed.write_text("[1, 2]")
    assert "Expected a JSON object (a declaration). Received: a JSON list" in \
        fail(capsys, "train", str(listed))
    listed.write_text("{not json")
    assert f"Invalid recipe {str(listed)!r}: not valid JSON" in fail(capsys, "train", str(listed))


def test_debug_shows_the_traceback(capsys, tmp_path, monkeypatch):
    syntax = tmp_path / "syntax.py"
    syntax.write_text("model = (\n")
    for argv in (["--debug", "train", str(syntax)], ["train", str(syntax), "--debug"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and "SyntaxError" in err
        assert err.rstrip().splitlines()[-1].startswith("error: Invalid recipe")
    monkeypatch.setenv("KERAKIT_DEBUG", "1")
    assert main(["train", str(syntax)]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_that_points_to_debug(capsys, monkeypatch):
    from kerakit.cli import train

    def broken(args):
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    monkeypatch.setattr(train, "run_train", broken)
    err = fail(capsys, "train")
    assert "unexpected AttributeError" in err and "--debug" in err


def test_a_plugin_value_error_is_a_bug_and_a_usage_error_is_one_line(capsys, monkeypatch):
    from kerakit.cli import runs

    def buggy_block(width: int = 2):
        """A plugin's block with a bug of its own: a bare ValueError."""
        raise ValueError("could not broadcast shapes (2,) and (3,)")

    kk.register_component("blocks", "buggy_block_fixture", buggy_block)
    monkeypatch.setattr(runs, "run_runs", lambda args: kk.get("blocks", "buggy_block_fixture"))
    err = fail(capsys, "runs")
    assert "unexpected ValueError: could not broadcast shapes" in err
    assert "This is a bug in kerakit or a plugin" in err and "--debug" in err
    # kerakit's own bad-argument error, from the real command: one line, no bug report.
    err = fail(capsys, "serve", "--name", "digits")
    assert err == ("error: Invalid value for `--name`. Expected it with EXPORT_DIR. "
                   "Received: --name digits without EXPORT_DIR\n")
    monkeypatch.setattr(runs, "run_runs", lambda args: kk.get("blocks", {"params": {}}))
    err = fail(capsys, "runs")
    assert err.startswith("error: Invalid block config.") and "unexpected" not in err
    assert isinstance(kk.UsageError("x"), ValueError)


def test_unwritable_out_and_out_under_a_file(capsys, trained, installed_plugins, tmp_path):
    base, _ = trained
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    err = fail(capsys, "train", str(base / "recipe.py"), "--out", str(UNWRITABLE / "run"))
    assert "Permission denied for '/sys/" in err
    err = fail(capsys, "train", str(base / "recipe.py"), "--out", str(a_file / "run"))
    assert f"Invalid path {str(a_file)!r}. Expected a directory. Received: a file" in err
    err = fail(capsys, "export", str(base / "run"), "--out", str(UNWRITABLE / "export"))
    assert "Permission denied for '/sys/" in err
    err = fail(capsys, "export", str(base / "run"), "--out", str(a_file / "export"))
    assert str(a_file) in err and re.search(r"Received: .*a file", err)
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 1), dtype="float32"))
    err = fail(capsys, "predict", str(base / "export"), str(tmp_path / "x.npy"),
               "--out", f"{UNWRITABLE}.csv")
    assert f"Permission denied for '{UNWRITABLE}.csv'" in err
    err = fail(capsys, "predict", str(base / "export"), str(tmp_path / "x.npy"),
               "--out", str(a_file / "p.csv"))
    assert f"Expected directories above it. Received: {str(a_file)!r} is a file" in err
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_unreadable_inputs_to_predict(capsys, trained, tmp_path):
    base, _ = trained
    export = str(base / "export")
    for name in ("empty.npy", "empty.npz"):
        (tmp_path / name).write_bytes(b"")
        err = fail(capsys, "predict", export, str(tmp_path / name))
        assert f"Cannot read input file {str(tmp_path / name)!r}: it ended early" in err
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(20000, 20000))
    err = fail(capsys, "predict", export, str(bomb))
    assert f"Refused input image {str(bomb)!r}: it is too large to decode safely" in err
    bomb.write_bytes(png_header(10000, 10000))  # over Pillow's limit, under twice it: a warning
    assert "too large to decode safely" in fail(capsys, "predict", export, str(bomb))


def png_header(width: int, height: int) -> bytes:
    """A PNG signature, IHDR and IEND: enough for Pillow to read the size, no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_values_that_overflow_float32_are_refused():
    from kerakit.deploy.predict import conform

    spec = {"shape": [None, 2], "dtype": "float32"}
    with pytest.raises(kk.DataError, match=r"within float32's range .* magnitude 1e\+300"):
        conform(np.array([[1e300, 0.0]]), spec)
    with pytest.raises(kk.DataError, match="expected finite values"):
        conform(np.array([[np.nan, 0.0]]), spec)
    assert conform(np.array([[3e38, -1.0]]), spec).dtype == np.float32
    with pytest.raises(kk.DataError, match=r"within int8's range"):
        conform(np.array([[300, 1]]), {"shape": [None, 2], "dtype": "int8"})


def test_duplicate_class_names_are_refused(tmp_path):
    from kerakit.builtins.heads import ClassificationHead
    from kerakit.deploy.predict import format_predictions

    with pytest.raises(ValueError, match=r"Expected distinct names. Received: 'a', 'b' more"):
        ClassificationHead(classes=4, class_names=["a", "b", "a", "b"])
    decl = kk.Model(name="dup", inputs=(4,), head=kk.use("classifier", classes=3), epochs=1)
    x, y = np.zeros((30, 4), "float32"), np.arange(30) % 3
    data = kk.split(x, y, class_names=["cat", "cat", "dog"])
    with pytest.raises(kk.DataError, match=r"Expected distinct names. Received: 'cat' more"):
        kk.fit(decl, data, out=tmp_path / "run")
    assert not any(tmp_path.iterdir())
    with pytest.raises(kk.ExportError, match=r"Expected distinct names.*'0', '1' more than once"):
        format_predictions({"outputs": np.eye(4), "class_names": ["0", "1", "0", "1"]})


def test_a_string_for_a_number_names_the_parameter(tmp_path):
    decl = kk.Model(name="s", inputs=(8, 8, 1), blocks=[kk.use("conv_block", filters="big")],
                    head=kk.use("classifier", classes=10), epochs=1)
    with pytest.raises(kk.DeclarationError,
                       match=r"parameter `filters` of block `kerakit.conv_block`. Expected an int."
                             r" Received: filters='big'"):
        kk.fit(decl, "digits", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def copy_run(base: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    return run


def test_malformed_manifests_name_the_file(capsys, trained, installed_plugins, tmp_path):
    base, _ = trained
    run = copy_run(base, tmp_path)
    manifest = run / "manifest.json"
    good = json.loads(manifest.read_text())
    cases = [
        ("[1, 2]", "Expected a JSON object. Received: a JSON list"),
        ("{oops", "Invalid JSON in"),
        (json.dumps({**good, "components": [{"name": "conv_block", "plugin": "kerakit"}]}),
         "Invalid `components[0]`"),
        (json.dumps({**good, "components": "conv_block"}), "Invalid `components`"),
    ]
    for text, expected in cases:
        manifest.write_text(text)
        err = fail(capsys, "export", str(run), "--out", str(tmp_path / "export"))
        assert expected in err and str(manifest) in err, err
    manifest.write_text("[]")
    with pytest.raises(kk.ModelFileError, match="Expected a JSON object"):
        kk.load(run)
    assert not (tmp_path / "export").exists()


def test_malformed_export_manifests_name_the_file(capsys, trained, tmp_path):
    base, _ = trained
    export = tmp_path / "export"
    shutil.copytree(base / "export", export)
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 1), dtype="float32"))
    manifest = export / "export_manifest.json"
    good = json.loads(manifest.read_text())
    cases = [
        ("[]", "Expected a JSON object. Received: a JSON list"),
        ("{oops", "Invalid JSON in"),
        (json.dumps({k: v for k, v in good.items() if k != "inputs"}), "`inputs` is not a list"),
        (json.dumps({**good, "files": []}), "`files` (the SHA-256 of each file) is missing"),
    ]
    for text, expected in cases:
        manifest.write_text(text)
        err = fail(capsys, "predict", str(export), str(tmp_path / "x.npy"))
        assert expected in err and str(manifest) in err, err


def test_a_corrupted_model_file_says_so(capsys, trained, installed_plugins, tmp_path):
    base, _ = trained
    run = copy_run(base, tmp_path)
    model = run / "model.keras"
    whole = model.read_bytes()
    model.write_bytes(whole[: len(whole) // 2])
    err = fail(capsys, "export", str(run), "--out", str(tmp_path / "export"))
    assert f"Cannot load {str(model)!r}" in err and "truncated or corrupted" in err
    assert "File not found" not in err
    model.write_bytes(b"not a zip at all")
    with pytest.raises(kk.ModelFileError, match="truncated or corrupted"):
        kk.load(model)
    assert not (tmp_path / "export").exists()


def test_loading_needs_a_keras_with_every_safe_mode_fix(trained, monkeypatch):
    import keras

    from kerakit.keras_gate import SAFE_KERAS, check_keras_version

    floor = ".".join(map(str, SAFE_KERAS))
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf'"keras>={re.escape(floor)}"', pyproject)
    assert f"keras>={floor}" in (ROOT / "docs" / "deployment.md").read_text()
    check_keras_version(keras.__version__)  # the installed one passes
    with pytest.raises(kk.UnsafeModelError, match=r"Expected keras>=3\.15\.1\. Received: "
                                                  r"keras==3\.8\.0"):
        check_keras_version("3.8.0")
    monkeypatch.setattr(keras, "__version__", "3.12.0")
    with pytest.raises(kk.UnsafeModelError, match=r"keras==3\.12\.0"):
        kk.load(trained[0] / "run")


def test_declarations_deserialise_keras_objects_only_behind_the_version_gate(
        tmp_path, monkeypatch):
    # a crafted {"keras": ...} block naming a module that leaves a trace when imported
    (tmp_path / "crafted_module.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    decl = kk.Model(inputs=(4,), blocks=[kk.use("dense_block", units=4)],
                    head=kk.use("classifier", classes=3))
    document = json.loads(decl.to_json())
    document["loss"] = {"keras": {"module": "crafted_module", "class_name": "Evil",
                                  "config": {}, "registered_name": None}}
    import keras

    monkeypatch.setattr(keras, "__version__", "3.8.0")
    with pytest.raises(kk.UnsafeModelError, match=r"Expected keras>=3\.15\.1\. Received: "
                                                  r"keras==3\.8\.0"):
        kk.Model.from_json(json.dumps(document))
    assert not (tmp_path / "imported").exists()
