"""Use a plugin: MixUp and a squeeze-and-excitation block from kerakit-vision.

Installs kerakit-vision (from this repository) if it is not installed yet,
declares a model with components from it, trains, and reloads the model in a
fresh process with no import of the plugin.

Run:  python examples/use_plugins.py [--quick]
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import kerakit as kk

QUICK = "--quick" in sys.argv

if importlib.util.find_spec("kerakit_vision") is None:
    plugin = Path(__file__).resolve().parent.parent / "plugins" / "kerakit-vision"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", str(plugin)], check=True)
    kk.load_plugins(reload=True)

print([c.qualified_name for c in kk.components(plugin="vision")])

model = kk.Model(
    name="digits_mixup",
    inputs=(8, 8, 1),
    preprocess=["standardize"],
    # MixUp blends pairs of images and labels: a batch-level augmentation, run in the
    # input pipeline, never in the exported model.
    augment=[kk.use("vision.mixup", alpha=0.2), kk.use("random_rotation", factor=0.03)],
    blocks=[
        kk.use("conv_block", filters=32, convs=2),
        kk.use("vision.se_block", ratio=4),
        kk.use("conv_block", filters=64, convs=2),
        "global_avg_pool",
    ],
    head=kk.use("classifier", classes=10),
    callbacks=[kk.use("early_stopping", patience=8)],
    epochs=2 if QUICK else 60,
)
run = kk.fit(model, "digits", out="runs/digits_mixup", overwrite=True, verbose=0)
print(run.summary())

# A fresh Python process: no `import kerakit_vision`, no custom_objects.
code = f"import kerakit; m = kerakit.load({str(run.dir)!r}); print('reloaded', m.name)"
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                     check=True).stdout.strip())
