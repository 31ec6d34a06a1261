"""Your own image folder: one subfolder per class, trained with no model code.

The script writes the scikit-learn digits as PNG files, one folder per digit,
then does in Python what ``kerakit train --data digits_png/`` does: find the
classes and the most common image size, build the default small CNN (resizing
and rescaling inside the model, light augmentation in training only), and
train it while streaming the files through ``tf.data``.

Run:  python examples/image_folder.py [--quick]
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

import kerakit as kk

QUICK = "--quick" in sys.argv


def write_digits(root: Path, limit: int | None = None) -> None:
    """Each 8x8 digit as a greyscale PNG in ``root/<digit>/``."""
    digits = load_digits()
    pairs = zip(digits.images[:limit], digits.target[:limit], strict=True)
    for i, (image, label) in enumerate(pairs):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(image * 16, 0, 255).astype("uint8")  # 0..16 -> 0..255
        Image.fromarray(pixels, "L").save(folder / f"{i}.png")


write_digits(Path("digits_png"), limit=300 if QUICK else None)

decl, data = kk.default_for("digits_png")
print(f"classes {decl.head.params['class_names']}, inputs {decl.inputs}")

run = kk.fit(decl, data, epochs=2 if QUICK else None, out="runs/digits_png", overwrite=True,
             verbose=0)
print(run.summary())
