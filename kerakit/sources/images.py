"""Image folders: one subfolder per class, streamed through ``tf.data``.

Every file is checked once with Pillow before training (a corrupt image is
named, not met halfway through an epoch), and the most common size is found
from the headers. The splits are stratified by class with seed 0, like
arrays. Training streams the files: decoded, resized, cached after the first
epoch and prefetched; only tuning, which re-batches for every trial, loads a
folder into memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.data import Dataset, Streams, split
from kerakit.errors import DataError
from kerakit.sources.formats import IMAGE_SUFFIXES

IN_MEMORY_LIMIT = 2 * 1024**3  # bytes of float32 pixels tuning may hold
#: What TensorFlow's decode_image reads, by Pillow's format name (MPO is a JPEG with extras)
DECODABLE = ("PNG", "JPEG", "MPO", "BMP", "GIF")

__all__ = ["DECODABLE", "IMAGE_SUFFIXES", "Folder", "image_folder", "open_image",
           "scan_folder"]


def open_image(path: str | Path) -> Any:
    """Open an image with Pillow, refusing what training or prediction could not decode.

    One rule for the folder scan and for ``kerakit predict``: the file must be
    one of :data:`DECODABLE` whatever its suffix says, and at most Pillow's
    ``MAX_IMAGE_PIXELS`` (between that and twice it Pillow only warns).

    Example:
        >>> with open_image("cat.png") as image:  # doctest: +SKIP
        ...     image.size

    Raises:
        DataError: for an unreadable file, another format, or too many pixels, naming it.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DataError(f"Refused input image {str(path)!r}: it is too large to decode safely "
                            f"({exc}). Expected at most {Image.MAX_IMAGE_PIXELS} pixels.") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DataError(f"Cannot read image {str(path)!r}: {exc}. Expected a readable "
                            "PNG, JPEG, BMP or GIF file.") from exc
    if image.format not in DECODABLE:
        image.close()
        raise DataError(f"Invalid image {str(path)!r}. Expected PNG, JPEG, BMP or GIF data, "
                        f"which training decodes. Received: {image.format} data in a "
                        f"{Path(path).suffix} file")
    return image


@dataclass
class Folder:
    """What a scan of an image folder found.

    Attributes:
        path: The folder.
        files: Every image, as a path string.
        labels: Each image's class index.
        class_names: The subfolder names, sorted.
        size: The most common ``(height, width)``.
        channels: 1 when every image is greyscale, else 3.
    """

    path: Path
    files: list[str]
    labels: np.ndarray
    class_names: list[str]
    size: tuple[int, int]
    channels: int


def scan_folder(path: str | Path) -> Folder:
    """Find and check every image of a folder with one subfolder per class.

    Example:
        >>> folder = scan_folder("images/")  # doctest: +SKIP
        >>> folder.class_names, folder.size  # doctest: +SKIP
        (['cat', 'dog'], (128, 128))

    Raises:
        DataError: for fewer than two classes, no images, or an image that
            cannot be read (naming it).
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[str] = []
    labels: list[int] = []
    sizes: Counter = Counter()
    grey = True
    names = []
    for name in classes:
        found = sorted(f for f in (root / name).rglob("*")
                       if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not found:
            continue
        names.append(name)
        for file in found:
            with open_image(file) as image:
                sizes[(image.height, image.width)] += 1
                grey = grey and image.mode in ("1", "L", "I", "I;16", "F")
            try:
                with Image.open(file) as image:
                    image.verify()  # reads the whole file: truncation shows here
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                raise DataError(f"Cannot read image {str(file)!r}: {exc}. Expected a "
                                "readable PNG, JPEG, BMP or GIF file.") from exc
            files.append(str(file))
            labels.append(len(names) - 1)
    if not files:
        raise DataError(f"Invalid image folder {str(root)!r}. Expected one subfolder per class "
                        f"holding images ({', '.join(IMAGE_SUFFIXES)}). Received: no images")
    if len(names) < 2:
        raise DataError(f"Invalid image folder {str(root)!r}. Expected at least two class "
                        f"subfolders with images. Received: {names or classes}")
    return Folder(root, files, np.asarray(labels, dtype="int64"), names,
                  sizes.most_common(1)[0][0], 1 if grey else 3)


def image_folder(
    path: str | Path | Folder,
    *,
    image_size: tuple[int, int] | None = None,
    batch_size: int = 32,
    val_size: float = 0.15,
    test_size: float = 0.2,
    seed: int = 0,
    in_memory: bool = False,
) -> Streams | Dataset:
    """An image folder as stratified train / validation / test pipelines.

    Example:
        >>> streams = image_folder("images/", image_size=(64, 64))  # doctest: +SKIP

    Args:
        path: A folder with one subfolder of images per class, or its scan.
        image_size: ``(height, width)`` every image is resized to; defaults to
            the most common size.
        batch_size: Batch size of the pipelines.
        val_size, test_size: Fractions of the images (split with seed 0).
        seed: Shuffle seed of the training pipeline.
        in_memory: Load every image into arrays (a :class:`~kerakit.data.Dataset`),
            as tuning needs.

    Returns:
        :class:`~kerakit.data.Streams` of float32 pixels in [0, 255], or a
        :class:`~kerakit.data.Dataset` with ``in_memory=True``.

    Raises:
        DataError: as :func:`scan_folder`, or a folder too large to hold.
    """
    import tensorflow as tf

    folder = path if isinstance(path, Folder) else scan_folder(path)
    size = tuple(image_size) if image_size else folder.size
    index = split(np.arange(len(folder.files)), folder.labels, name=str(folder.path),
                  task="classification", val_size=val_size, test_size=test_size, seed=0,
                  class_names=folder.class_names)
    files = np.asarray(folder.files)

    def decode(file: Any, label: Any) -> tuple[Any, Any]:
        image = tf.io.decode_image(tf.io.read_file(file), channels=folder.channels,
                                   expand_animations=False)
        image = tf.image.resize(tf.cast(image, "float32"), size)
        return tf.ensure_shape(image, (*size, folder.channels)), label

    def pipeline(part: str, shuffle: bool) -> Any:
        x, y = getattr(index, f"x_{part}"), getattr(index, f"y_{part}")
        ds = tf.data.Dataset.from_tensor_slices((files[x], y))
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache()
        if shuffle:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    if in_memory:
        return _in_memory(folder, size, pipeline)
    return Streams(str(folder.path), pipeline("train", True), pipeline("val", False),
                   pipeline("test", False) if len(index.x_test) else None,
                   task="classification", class_names=folder.class_names)


def _in_memory(folder: Folder, size: tuple[int, ...], pipeline: Any) -> Dataset:
    """Every split's images decoded into arrays, within :data:`IN_MEMORY_LIMIT`.

    Raises:
        DataError: for a folder whose pixels would not fit the limit.
    """
    pixels = len(folder.files) * size[0] * size[1] * folder.channels * 4
    if pixels > IN_MEMORY_LIMIT:
        raise DataError(f"Image folder {str(folder.path)!r} is too large to hold in memory "
                        f"for tuning. Expected at most {IN_MEMORY_LIMIT >> 20} MiB of "
                        f"pixels. Received: {pixels >> 20} MiB; pass a smaller image size")
    arrays = {}
    for part in ("train", "val", "test"):
        batches = list(pipeline(part, False).as_numpy_iterator())
        arrays[part] = (np.concatenate([b[0] for b in batches]) if batches else
                        np.zeros((0, *size, folder.channels), "float32"),
                        np.concatenate([b[1] for b in batches]) if batches else
                        np.zeros((0,), "int64"))
    return Dataset(str(folder.path), *arrays["train"], *arrays["val"], *arrays["test"],
                   task="classification", class_names=folder.class_names)
