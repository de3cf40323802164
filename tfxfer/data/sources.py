"""Data sources -> batched ``tf.data`` pipelines and the class list.

Images: a folder with one sub-folder per class, a CSV manifest ``path,label`` (tfxfer.data.manifests),
or ``tfds:NAME[:SPLIT]``.
Text: ``.csv``, ``.tsv``, ``.jsonl`` with a text and a label column, or ``tfds:NAME[:SPLIT]``.
Without an explicit validation set, a seeded, stratified ``val_split`` of the training data
is held out. Every problem a user can cause raises :class:`tfxfer.errors.TfxferError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfxfer.config import DEFAULT_SEED, header_hint, text_columns
from tfxfer.data.class_names import check_class_names
from tfxfer.data.csv_files import CSV_FIELD_LIMIT as CSV_FIELD_LIMIT  # where tests and callers have read it
from tfxfer.data.csv_files import csv_records, decode_lines
from tfxfer.data.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, decode_and_resize, decode_image, encoded_size
from tfxfer.data.label_sets import is_label_set, label_names, multi_hot, rarest_label, read_label_sets
from tfxfer.data.manifests import is_manifest, read_manifest
from tfxfer.data.splits import stratified_split, target_bins
from tfxfer.data.targets import infer_labels, parse_targets
from tfxfer.errors import TfxferError, first_line
from tfxfer.io.progress import Progress

log = logging.getLogger("tfxfer")

AUTOTUNE = tf.data.AUTOTUNE
# Decoded, resized training images are kept in memory when they take less than this.
_IMAGE_CACHE_BYTES = 2 * 1024**3
# Shuffle buffers: decoded images are large, texts small.
_IMAGE_SHUFFLE_BUFFER = 10_000
_TEXT_SHUFFLE_BUFFER = 100_000
_BUCKET_BATCHES = 16  # batches per window sorted by length (text training batches)
_TEXT_EXTENSIONS = (".csv", ".tsv", ".jsonl")


@dataclass
class Examples:
    """One split before batching: inputs (file paths or texts), their labels (class indices,
    int64, or float32 targets for numeric labels) and, for sentence pairs, each input's second
    text."""

    inputs: list[str]
    labels: np.ndarray
    pairs: list[str] | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def shown(self) -> list[str]:
        """Each input as a report names it: the text, path, or ``text [SEP] text_pair``."""
        if self.pairs is None:
            return list(self.inputs)
        return [f"{text} [SEP] {pair}" for text, pair in zip(self.inputs, self.pairs)]


@dataclass
class Datasets:
    """What training needs: batched datasets of ``(inputs, label)`` and the class list.

    Built from files, it also keeps the examples behind each split and how they are batched,
    so that :func:`tfxfer.fine_tune` can train a head on cached backbone features in exactly
    the order the images or texts would have come in (see :meth:`batch_like`).
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset | None
    class_names: list[str]
    num_examples: dict[str, int]
    skipped: dict[str, list[str]] = field(default_factory=dict)
    splits: Splits | None = None  # None for tfds: (streamed, no example list)
    batch_size: int = 0
    seed: int = DEFAULT_SEED
    shuffle_buffer: int = 0
    pipeline: Callable[[Examples, bool], tf.data.Dataset] | None = field(default=None, repr=False)
    bucket_by_length: bool = False  # text: training batches group texts of similar length
    labels: str = "single"  # "numeric": float targets, no classes (tfxfer.data.targets)

    def examples(self, role: str) -> Examples | None:
        return getattr(self.splits, role) if self.splits is not None else None

    def in_order(self, role: str) -> tf.data.Dataset:
        """Split ``role`` batched without shuffling: the order :meth:`batch_like` indexes."""
        return self.pipeline(self.examples(role), False)

    def batch_like(self, elements: tf.data.Dataset, role: str) -> tf.data.Dataset:
        """Per-example ``elements`` (one per example of ``role``, in :meth:`in_order` order)
        shuffled and batched exactly as split ``role`` is: same seed, buffer, batch size, and
        for text the same length buckets."""
        train = role == "train"
        lengths = text_lengths(self.examples(role)) if train and self.bucket_by_length else None
        return _batched(elements, self.batch_size, self.shuffle_buffer if train else 0, self.seed, lengths)


def is_tfds(spec: str) -> bool:
    return str(spec).startswith("tfds:")


# ---------------------------------------------------------------------------------------------
# Splitting


def _subset(examples: Examples, idx: np.ndarray) -> Examples:
    pairs = [examples.pairs[i] for i in idx] if examples.pairs is not None else None
    return Examples([examples.inputs[i] for i in idx], examples.labels[idx], pairs)


# ---------------------------------------------------------------------------------------------
# Images


def _list_class_folder(root: Path, role: str) -> tuple[list[str], list[str]]:
    """(file paths, their class names) of a folder with one sub-folder per class."""
    if not root.exists():
        raise TfxferError(f"{role} path {root} does not exist: pass a folder with one sub-folder per class")
    if not root.is_dir():
        raise TfxferError(f"{role} path {root} is not a folder: pass a folder with one sub-folder per class")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise TfxferError(
            f"{role} folder {root} has no class sub-folders: put each class's images in "
            f"{root}/CLASS_NAME/ ({', '.join(IMAGE_EXTENSIONS)})"
        )
    paths, names = [], []
    for class_dir in class_dirs:
        files = sorted(
            str(p) for p in class_dir.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise TfxferError(
                f"class folder {class_dir} has no image files ({', '.join(IMAGE_EXTENSIONS)})"
            )
        paths.extend(files)
        names.extend([class_dir.name] * len(files))
    return paths, names


def find_unusable_images(paths: list[str], max_pixels: int = DEFAULT_MAX_PIXELS,
                         role: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(the paths TensorFlow's decoder, the one training uses, cannot decode; the paths whose
    header declares more than ``max_pixels`` pixels, each with its ``WIDTHxHEIGHT``). The
    latter are never decoded: a decompression bomb costs its header's bytes here. With
    ``role`` named, progress is shown."""

    def probe(index, path):
        data = tf.io.read_file(path)
        size = encoded_size(data)
        too_large = size[0] * size[1] > max_pixels
        decodes = tf.cond(too_large, lambda: True, lambda: tf.shape(decode_image(data, max_pixels))[0] >= 0)
        return index, too_large, size, decodes

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    ds = ds.map(probe, num_parallel_calls=AUTOTUNE).ignore_errors()
    readable = np.zeros(len(paths), dtype=bool)
    too_large = {}
    with Progress(f"checking the {role} images", len(paths), "image", enabled=role is not None) as progress:
        for index, large, size, _ in ds.batch(256).as_numpy_iterator():
            readable[index] = True
            too_large.update({paths[i]: f"{w}x{h}" for i, (h, w) in zip(index[large], size[large])})
            progress.advance(int(index.max()) + 1 - progress.count)  # in order: files before it are done
        progress.advance(len(paths) - progress.count)
    return [p for p, ok in zip(paths, readable) if not ok], too_large


def _list_images(spec: str, role: str) -> tuple[list[str], list[str], list[str], list[str], list[int]]:
    """(file paths, their class names (label cells), paths left out already, their class names,
    the manifest line of each path) of a folder with one sub-folder per class or of a CSV
    manifest (tfxfer.data.manifests), which reports the rows it leaves out (outside its folder
    tree, missing) itself."""
    if is_manifest(spec):
        manifest = read_manifest(Path(spec), role)
        return manifest.paths, manifest.labels, manifest.left_out, manifest.left_out_labels, manifest.lines
    paths, names = _list_class_folder(Path(spec), role)
    return paths, names, [], [], []


def _image_source(spec: str) -> str:
    return "manifest" if is_manifest(spec) else "folder"


def _image_examples(spec: str, role: str, class_names: list[str] | None,
                    max_pixels: int = DEFAULT_MAX_PIXELS,
                    labels: str | None = "single") -> tuple[Examples, list[str], list[str], str]:
    """(examples, class names, files left out: missing, outside a manifest's folder, unreadable
    or over ``max_pixels``, the kind of labels) for one image folder or manifest;
    ``labels="multi"``: a manifest's label cells are sets (tfxfer.data.label_sets); None: multi
    when some cell of a manifest holds a set, else single."""
    if labels == "multi" and not is_manifest(spec):
        raise TfxferError(f"{role} folder {spec}: multi-label images come from a CSV manifest with a header row "
                          f"path,labels (a cell like cat|indoor), not from class sub-folders")
    paths, names, left_out, left_out_names, lines = _list_images(spec, role)
    if labels is None:
        labels = "multi" if is_manifest(spec) and any(is_label_set(name) for name in names) else "single"
    unreadable, too_large = find_unusable_images(paths, max_pixels, role)
    if unreadable:
        log.warning(
            "%s: %d file(s) cannot be decoded and are left out: %s%s", role, len(unreadable),
            ", ".join(unreadable[:5]), " ..." if len(unreadable) > 5 else "",
        )
    if too_large:
        log.warning(
            "%s: %d image(s) over the limit of %s pixels (--max-image-pixels) are left out undecoded: %s%s", role,
            len(too_large), f"{max_pixels:,}", ", ".join(f"{p} ({s})" for p, s in list(too_large.items())[:5]),
            " ..." if len(too_large) > 5 else "",
        )
    unusable = set(unreadable) | set(too_large)
    if labels == "multi":
        return (*_multi_label_examples([(p, n, line) for p, n, line in zip(paths, names, lines, strict=True)
                                        if p not in unusable], class_names, f"{role} manifest {spec}"),
                left_out + unreadable + list(too_large), labels)
    kept = [(p, n) for p, n in zip(paths, names) if p not in unusable]
    for class_name in sorted(set(names) | set(left_out_names)):
        if not any(n == class_name for _, n in kept):
            listed = sum(n == class_name for n in [*names, *left_out_names])
            where = (f"class {class_name!r} of manifest {spec}" if is_manifest(spec)
                     else f"class folder {Path(spec) / class_name}")
            raise TfxferError(f"{where} has no readable image ({listed} file(s), none "
                              f"{'exists inside the folder and ' if left_out_names else ''}decodes within "
                              f"{max_pixels:,} pixels)")
    paths, names = [p for p, _ in kept], [n for _, n in kept]
    examples, class_names = _with_label_ids(paths, names, class_names, f"{role} {_image_source(spec)} {spec}", sorted)
    return examples, class_names, left_out + unreadable + list(too_large), labels


def _multi_label_examples(rows: list[tuple[str, str, int]], class_names: list[str] | None,
                          where: str) -> tuple[Examples, list[str]]:
    """Examples with multi-hot labels from (input, label cell, line) rows; without
    ``class_names`` the sorted names of the sets become the classes."""
    sets = read_label_sets([cell for _, cell, _ in rows], [line for _, _, line in rows], where)
    check_class_names(set(label_names(sets)), where)
    class_names = class_names if class_names is not None else label_names(sets)
    return Examples([item for item, _, _ in rows], multi_hot(sets, class_names, where)), class_names


def _with_label_ids(inputs, labels, class_names, where: str, sort_classes) -> tuple[Examples, list[str]]:
    """Examples with integer labels. Without ``class_names`` the sorted labels become the
    classes; with them, a label that training never saw is an error naming it."""
    check_class_names(set(labels), where)
    if class_names is None:
        class_names = list(sort_classes(set(labels)))
    else:
        unseen = sorted(set(labels) - set(class_names))
        if unseen:
            raise TfxferError(
                f"{where} has label(s) never seen in training: {', '.join(unseen[:10])} "
                f"(training labels: {', '.join(class_names[:20])})"
            )
    index = {name: i for i, name in enumerate(class_names)}
    return Examples(list(inputs), np.array([index[label] for label in labels], dtype=np.int64)), class_names


def _image_pipeline(examples: Examples, image_size, batch_size: int, shuffle: bool, seed: int,
                    max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((examples.inputs, examples.labels))
    ds = ds.map(
        lambda path, label: (decode_and_resize(tf.io.read_file(path), image_size, max_pixels), label),
        num_parallel_calls=AUTOTUNE,
    )
    if len(examples) * image_size[0] * image_size[1] * 3 * 4 < _IMAGE_CACHE_BYTES:
        ds = ds.cache()
    return _batched(ds, batch_size, min(len(examples), _IMAGE_SHUFFLE_BUFFER) if shuffle else 0, seed)


def _batched(ds: tf.data.Dataset, batch_size: int, shuffle_buffer: int, seed: int,
             lengths: np.ndarray | None = None) -> tf.data.Dataset:
    """The one place examples are shuffled and batched, so that a dataset of cached features
    built the same way (:meth:`Datasets.batch_like`) yields the same order: tf.data's shuffle
    order depends only on the seed, the buffer size and the element count. With ``lengths``
    (one per example) shuffled batches hold examples of similar length (see below)."""
    if shuffle_buffer and lengths is not None:
        return _length_bucketed(ds, batch_size, shuffle_buffer, seed, lengths)
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def _length_bucketed(ds: tf.data.Dataset, batch_size: int, shuffle_buffer: int, seed: int,
                     lengths: np.ndarray) -> tf.data.Dataset:
    """Shuffled, then each window of ``_BUCKET_BATCHES`` batches sorted by length and cut into
    batches, and the batches shuffled again: a text model pads each batch only to its longest
    text (tfxfer.models.layers.TrimToLongest), so short texts stop paying for long ones, while every
    epoch still sees the examples in a new random order."""
    window = batch_size * _BUCKET_BATCHES
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(np.asarray(lengths, np.int64))))
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).batch(window)

    def by_length(elements, length):
        order = tf.argsort(length, stable=True)
        return tf.nest.map_structure(lambda t: tf.gather(t, order), elements)

    ds = ds.map(by_length).unbatch().batch(batch_size)
    ds = ds.shuffle(_BUCKET_BATCHES, seed=seed + 1, reshuffle_each_iteration=True)
    # Windows are whole batches, so there are exactly ceil(n / batch_size) of them.
    return ds.apply(tf.data.experimental.assert_cardinality(-(-len(lengths) // batch_size))).prefetch(AUTOTUNE)


def text_lengths(examples: Examples) -> np.ndarray:
    """Characters per text (both texts of a pair): the length :func:`_length_bucketed` groups texts by."""
    lengths = np.fromiter((len(text) for text in examples.inputs), dtype=np.int64, count=len(examples))
    if examples.pairs is not None:
        lengths += np.fromiter((len(text) for text in examples.pairs), dtype=np.int64, count=len(examples))
    return lengths


def _tfds_builder(spec: str, role: str = "train"):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - a dependency of tfxfer
        raise TfxferError(f"{spec}: tensorflow-datasets is not installed") from e
    name = spec[len("tfds:"):].split(":")[0]
    try:
        return tfds.builder(name)
    except Exception as e:  # noqa: BLE001 - unknown names, missing metadata
        raise TfxferError(
            f"could not load {role} dataset {spec}: {first_line(e)} — tfds downloads "
            f"need internet; offline, pass a local folder or file instead"
        ) from e


def tfds_class_names(spec: str) -> list[str]:
    """The class list of a ``tfds:NAME`` dataset, from its metadata."""
    info = _tfds_builder(spec).info
    label = info.features[info.supervised_keys[1]]
    return list(getattr(label, "names", [])) or [str(i) for i in range(label.num_classes)]


def tfds_num_examples(spec: str) -> int:
    """Training examples of ``tfds:NAME[:SPLIT]`` (default split train), from its metadata."""
    builder = _tfds_builder(spec)
    try:
        builder.download_and_prepare()
        return int(builder.info.splits[spec[len("tfds:"):].partition(":")[2] or "train"].num_examples)
    except Exception as e:  # noqa: BLE001 - download errors, bad splits
        raise TfxferError(f"could not load dataset {spec}: {first_line(e)}") from e


def _tfds_pipeline(spec: str, role: str, default_split: str, image_size, batch_size, shuffle, seed):
    """(dataset, class names, example count) for ``tfds:NAME[:SPLIT]``; images or text."""
    builder = _tfds_builder(spec, role)
    split = spec[len("tfds:"):].partition(":")[2] or default_split
    try:
        builder.download_and_prepare()
        ds = builder.as_dataset(split=split, as_supervised=True)
    except Exception as e:  # noqa: BLE001 - download errors, bad splits
        raise TfxferError(
            f"could not load {role} dataset {spec} (split {split!r}): {first_line(e)} "
            f"— tfds downloads need internet; offline, pass a local folder or file instead"
        ) from e
    class_names = tfds_class_names(spec)
    count = int(builder.info.splits[split].num_examples)
    if image_size is not None:
        def prepare(image, label):
            image = tf.cast(image, tf.float32)
            if image.shape[-1] == 1:
                image = tf.image.grayscale_to_rgb(image)
            return tf.image.resize(image[..., :3], image_size, antialias=True), label
        ds = ds.map(prepare, num_parallel_calls=AUTOTUNE)
    return _batched(ds, batch_size, _IMAGE_SHUFFLE_BUFFER if shuffle else 0, seed), class_names, count


@dataclass
class Splits:
    """Examples of each split before any TensorFlow pipeline, and the sorted class list (empty
    for numeric labels, ``labels == "numeric"``)."""

    train: Examples
    val: Examples
    test: Examples | None
    class_names: list[str]
    skipped: dict[str, list[str]] = field(default_factory=dict)
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # images: the limit the files were checked against
    labels: str = "single"


def _strata(examples: Examples, labels: str) -> np.ndarray:
    """What splits stratify by: the classes, a numeric target's quantile bins, or each
    multi-label row's rarest class."""
    if labels == "multi":
        return rarest_label(examples.labels)
    return target_bins(examples.labels) if labels == "numeric" else examples.labels


def _split_train_val(examples: Examples, val: Examples | None, val_split: float, seed: int, labels: str = "single"):
    if val is not None:
        return examples, val
    train_idx, val_idx = stratified_split(_strata(examples, labels), val_split, seed)
    return _subset(examples, train_idx), _subset(examples, val_idx)


def read_image_splits(
    train: str, val: str | None = None, test: str | None = None, *, val_split: float = 0.1, seed: int = DEFAULT_SEED,
    max_image_pixels: int = DEFAULT_MAX_PIXELS, labels: str | None = None,
) -> Splits:
    """Lists and checks image folders (one sub-folder per class) or CSV manifests (``path,label``;
    multi-label: ``path,labels`` with cells such as ``cat|indoor``, ``labels`` "multi", or None
    to decide from the cells); decodes nothing twice. Files that are missing, outside a
    manifest's folder tree, do not decode, or whose header declares over ``max_image_pixels``
    pixels, are left out."""
    examples, class_names, bad_train, labels = _image_examples(train, "train", None, max_image_pixels, labels)
    if labels == "multi" and len(class_names) < 2:
        raise TfxferError(f"train manifest {train} names a single label ({class_names[0]}) in all its label sets: a "
                          f"multi-label classifier needs at least two")
    if len(class_names) < 2:
        raise TfxferError(
            f"train {_image_source(train)} {train} has a single class ({class_names[0]}): a classifier needs "
            f"at least two{' labels' if is_manifest(train) else ' class sub-folders'}"
        )
    skipped = {"train": bad_train}
    val_examples = None
    if val:
        val_examples, _, skipped["val"], _ = _image_examples(val, "val", class_names, max_image_pixels, labels)
    test_examples = None
    if test:
        test_examples, _, skipped["test"], _ = _image_examples(test, "test", class_names, max_image_pixels, labels)
    examples, val_examples = _split_train_val(examples, val_examples, val_split, seed, labels)
    return Splits(examples, val_examples, test_examples, class_names, skipped, max_image_pixels, labels)


def _datasets(splits: Splits, pipeline, batch_size: int, seed: int, shuffle_buffer: int) -> Datasets:
    return Datasets(
        train=pipeline(splits.train, True),
        val=pipeline(splits.val, False),
        test=pipeline(splits.test, False) if splits.test else None,
        class_names=splits.class_names,
        num_examples={"train": len(splits.train), "val": len(splits.val),
                      "test": len(splits.test) if splits.test else 0},
        skipped=splits.skipped,
        splits=splits, batch_size=batch_size, seed=seed,
        shuffle_buffer=min(len(splits.train), shuffle_buffer), pipeline=pipeline, labels=splits.labels,
    )


def image_datasets(splits: Splits, image_size, batch_size: int = 32, seed: int = DEFAULT_SEED) -> Datasets:
    image_size = tuple(int(s) for s in image_size)
    return _datasets(splits, lambda ex, shuffle: _image_pipeline(ex, image_size, batch_size, shuffle, seed,
                                                                 splits.max_image_pixels),
                     batch_size, seed, _IMAGE_SHUFFLE_BUFFER)


def _tfds_datasets(train, val, test, *, image_size, batch_size, val_split, seed) -> Datasets:
    """``tfds:NAME[:SPLIT]``: without --val, the last ``val_split`` of the train split."""
    name = train[len("tfds:"):].split(":")[0]
    if train.count(":") < 2 and not val:
        cut = int(round(100 * (1 - val_split)))
        train, val = f"tfds:{name}:train[:{cut}%]", f"tfds:{name}:train[{cut}%:]"
    train_ds, class_names, n_train = _tfds_pipeline(train, "train", "train", image_size, batch_size, True, seed)
    val_ds, _, n_val = _tfds_pipeline(val, "val", "validation", image_size, batch_size, False, seed)
    test_ds, n_test = None, 0
    if test:
        test_ds, _, n_test = _tfds_pipeline(test, "test", "test", image_size, batch_size, False, seed)
    return Datasets(train_ds, val_ds, test_ds, class_names, {"train": n_train, "val": n_val, "test": n_test},
                    batch_size=batch_size, seed=seed)


def load_image_data(
    train: str,
    val: str | None = None,
    test: str | None = None,
    *,
    image_size: tuple[int, int] = (224, 224),
    batch_size: int = 32,
    val_split: float = 0.1,
    seed: int = DEFAULT_SEED,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
) -> Datasets:
    """Image folders (one sub-folder per class), CSV manifests (a header row ``path,label``,
    paths relative to the CSV's folder) or ``tfds:`` names -> :class:`Datasets`.

    Class names are sorted, from folders and manifests alike; a manifest whose label cells hold
    sets (``path,labels`` with ``cat|indoor``) gives multi-label Datasets (multi-hot labels,
    ``labels == "multi"``). Files that cannot be decoded, or whose header declares more than ``max_image_pixels`` pixels
    (decompression bombs; never decoded), are found before training, reported by name and
    count, and left out. Without ``val``, a seeded, stratified ``val_split`` is held out.

    Example:

    ```python
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from tfxfer import load_image_data

    for name in ("daisy", "roses"):  # a folder of class folders
        for i in range(3):
            Path("flowers", name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(f"flowers/{name}/{i}.png")
    data = load_image_data("flowers/", image_size=(224, 224), batch_size=32)
    assert data.class_names == ["daisy", "roses"]
    ```
    """
    if is_tfds(train):
        return _tfds_datasets(train, val, test, image_size=image_size, batch_size=batch_size,
                              val_split=val_split, seed=seed)
    splits = read_image_splits(train, val, test, val_split=val_split, seed=seed, max_image_pixels=max_image_pixels)
    return image_datasets(splits, image_size, batch_size, seed)


# ---------------------------------------------------------------------------------------------
# Text


def _read_rows(path: Path, text_column: str, label_column: str | None, role: str) -> list[tuple[int, tuple, object]]:
    """(line number, texts, label) for every record of a .csv, .tsv or .jsonl file: ``texts``
    holds one value per column of ``text_column`` (``text``, or ``a,b`` for sentence pairs);
    label None for every record when ``label_column`` is None (inputs to predict on)."""
    columns = column_names(text_column)
    lines = decode_lines(path, role)
    rows = []
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise TfxferError(f"{path} line {number} is not valid JSON: {e.msg}") from None
            if not isinstance(record, dict):
                raise TfxferError(f"{path} line {number} is not a JSON object")
            missing = [key for key in (*columns, label_column) if key is not None and key not in record]
            if missing:
                raise TfxferError(
                    f"{path} line {number} has no {missing[0]!r} key; it has {', '.join(map(repr, record))} "
                    f"(choose with --text-column/--label-column{_PAIR_HINT})"
                )
            rows.append((number, tuple(record[c] for c in columns), record.get(label_column)))
        return rows
    records = csv_records(lines, "\t" if path.suffix.lower() == ".tsv" else ",", path)
    header = records[0][1] if records else None
    if not header:
        raise TfxferError(f"{path} is empty: expected a header row with {', '.join(map(repr, columns))} "
                          f"and {label_column!r}")
    header = [h.strip() for h in header]
    for column in (*columns, label_column):
        if column is not None and column not in header:
            raise TfxferError(
                f"{path} has no {column!r} column; its columns are {', '.join(map(repr, header))} "
                f"(choose with --text-column/--label-column{_PAIR_HINT}){header_hint(header)}"
            )
    tis = [header.index(c) for c in columns]
    li = header.index(label_column) if label_column is not None else len(header)
    for number, record in records[1:]:
        if not record:
            continue
        rows.append((number, tuple(record[i] if i < len(record) else None for i in tis),
                     record[li] if li < len(record) else None))
    return rows


_PAIR_HINT = "; --text-column a,b for sentence pairs"


def column_names(text_column: str) -> tuple[str, ...]:
    """``--text-column``'s one or two column names; a bad value is a TfxferError."""
    try:
        return text_columns(text_column)
    except ValueError as e:
        raise TfxferError(f"--text-column {e}") from None


def _text(value) -> str:
    if isinstance(value, list):  # a .jsonl multi-label cell: kept as the JSON list it is
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value).strip()


def read_inputs_file(spec: str, task: str, column: str) -> list:
    """What to predict on, from ``--file``: for a text model, column ``column`` of a
    .csv/.tsv/.jsonl file or one text a line of any other file (a sentence-pair model's
    ``column`` names two columns, ``a,b``: then each input is a (text, text_pair) tuple, and
    only a .csv/.tsv/.jsonl file holds them); for an image model, the
    ``path`` column of a CSV manifest (tfxfer.data.manifests: missing files and paths outside
    its folder reported and left out) or one image path a line, relative to the file's folder."""
    path = Path(spec)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise TfxferError(f"--file {spec} {what}: pass a file with one input a line, or a .csv/.tsv/.jsonl file")
    if task == "image" and is_manifest(spec):
        return read_manifest(path, "--file", labelled=False).paths
    pair = len(column_names(column)) == 2
    if task == "text" and path.suffix.lower() in _TEXT_EXTENSIONS:
        rows = _read_rows(path, column, None, "--file")
        if pair:  # an empty second text is allowed: the pair packs as [CLS] a [SEP] [SEP]
            inputs = [(_text(a), _text(b)) for _, (a, b), _ in rows if _text(a)]
        else:
            inputs = [_text(texts[0]) for _, texts, _ in rows]
    elif pair:
        raise TfxferError(f"--file {spec}: a sentence-pair model reads its two texts from the columns "
                          f"{column} of a .csv/.tsv/.jsonl file")
    else:
        inputs = [line.strip() for line in decode_lines(path, "--file")]
    inputs = [value for value in inputs if value]
    if not inputs:
        raise TfxferError(f"--file {spec} holds no inputs")
    if task == "image":
        inputs = [str(path.parent / value) if not Path(value).is_absolute() else value for value in inputs]
    return inputs


def _clean_rows(path: Path, rows, role: str) -> tuple[list[tuple[str, ...]], list[str], list[int]]:
    """Texts (a tuple a row: one text, or a sentence pair's two) and labels as strings, and the
    line each came from; rows with an empty text (either text of a pair) or label reported and
    left out."""
    texts, labels, numbers, dropped = [], [], [], []
    for number, row_texts, label in rows:
        row_texts = tuple(_text(text) for text in row_texts)
        label = _text(label)
        if not all(row_texts) or not label:
            dropped.append(number)
            continue
        texts.append(row_texts)
        labels.append(label)
        numbers.append(number)
    if dropped:
        log.warning("%s: %d row(s) with empty text or label are left out: line %s%s", path, len(dropped),
                    ", ".join(map(str, dropped[:5])), " ..." if len(dropped) > 5 else "")
    if not texts:
        raise TfxferError(f"{role} file {path} has no row with both a text and a label")
    return texts, labels, numbers


def _sorted_classes(labels: list[str]) -> list[str]:
    """Integer labels sort as numbers, others as strings."""
    unique = set(labels)
    if all(label.lstrip("-").isdigit() for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def _text_examples(spec: str, role: str, text_column: str, label_column: str, class_names,
                   labels: str | None = "single") -> tuple[Examples, list[str], str]:
    """(examples, class names, label kind) of one text file; ``labels`` None: decided from
    this file's labels (tfxfer.data.targets.infer_labels)."""
    path = Path(spec)
    if not path.exists():
        raise TfxferError(f"{role} file {spec} does not exist: pass a .csv, .tsv or .jsonl file")
    if path.suffix.lower() not in _TEXT_EXTENSIONS:
        raise TfxferError(f"{role} file {spec} is not a .csv, .tsv or .jsonl file")
    if not path.is_file() or path.stat().st_size == 0:
        raise TfxferError(f"{role} file {spec} is empty: it needs a header naming its columns ({text_column} and "
                          f"{label_column}) and a row an example")
    rows, values, numbers = _clean_rows(path, _read_rows(path, text_column, label_column, role), role)
    texts = [row[0] for row in rows]
    where = f"{role} file {spec}"
    labels = labels or infer_labels(values, f"{where} (column {label_column!r})")
    if labels == "numeric":
        examples = Examples(texts, parse_targets(values, numbers, where))
        class_names = []
    elif labels == "multi":
        examples, class_names = _multi_label_examples(list(zip(texts, values, numbers, strict=True)), class_names,
                                                      where)
    else:
        examples, class_names = _with_label_ids(texts, values, class_names, where, _sorted_classes)
    if len(column_names(text_column)) == 2:
        examples.pairs = [row[1] for row in rows]
    return examples, class_names, labels


def read_text_splits(
    train: str, val: str | None = None, test: str | None = None, *, text_column: str = "text",
    label_column: str = "label", val_split: float = 0.1, seed: int = DEFAULT_SEED, max_train_examples: int | None = None,
    labels: str | None = None,
) -> Splits:
    """Reads and checks .csv/.tsv/.jsonl files; ``max_train_examples`` keeps a stratified subset.
    ``labels``: "single" (classes), "numeric" (a regression target) or None (decided from the
    training labels, see tfxfer.data.targets)."""
    examples, class_names, labels = _text_examples(train, "train", text_column, label_column, None, labels)
    if labels == "multi" and len(class_names) < 2:
        raise TfxferError(f"train file {train} names a single label ({class_names[0]}) in all its label sets: a "
                          f"multi-label classifier needs at least two")
    if labels == "single" and len(class_names) < 2:
        raise TfxferError(f"train file {train} has a single label ({class_names[0]}): a classifier needs at least two")
    val_examples = _text_examples(val, "val", text_column, label_column, class_names, labels)[0] if val else None
    test_examples = _text_examples(test, "test", text_column, label_column, class_names, labels)[0] if test else None
    examples, val_examples = _split_train_val(examples, val_examples, val_split, seed, labels)
    if max_train_examples and len(examples) > max_train_examples:
        keep, _ = stratified_split(_strata(examples, labels), 1 - max_train_examples / len(examples), seed)
        examples = _subset(examples, keep)
    if labels == "numeric" and len(examples) < 2:
        raise TfxferError(f"train file {train} leaves {len(examples)} example(s) to train on: a regression needs at "
                          f"least two")
    return Splits(examples, val_examples, test_examples, class_names, labels=labels)


def read_labelled(spec: str, class_names: list[str], task: str, *, text_column: str = "text",
                  label_column: str = "label", role: str = "data", labels: str = "single") -> Examples:
    """One labelled set to score a trained model on (an image folder or manifest, or a text
    file); a label outside ``class_names`` (``labels="numeric"``: one that is not a number) is an
    error naming it. ``role`` names the set in messages."""
    if task == "image":
        examples, _, _unreadable, _ = _image_examples(spec, role, class_names, labels=labels)
        return examples
    return _text_examples(spec, role, text_column, label_column, class_names, labels)[0]


def _text_pipeline(examples: Examples, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """``(text, label)`` elements, or ``((text, text_pair), label)`` for sentence pairs."""
    texts = examples.inputs if examples.pairs is None else (examples.inputs, examples.pairs)
    ds = tf.data.Dataset.from_tensor_slices((texts, examples.labels))
    return _batched(ds, batch_size, min(len(examples), _TEXT_SHUFFLE_BUFFER) if shuffle else 0, seed,
                    text_lengths(examples) if shuffle else None)


def text_datasets(splits: Splits, batch_size: int = 32, seed: int = DEFAULT_SEED) -> Datasets:
    data = _datasets(splits, lambda ex, shuffle: _text_pipeline(ex, batch_size, shuffle, seed),
                     batch_size, seed, _TEXT_SHUFFLE_BUFFER)
    data.bucket_by_length = True
    return data


def load_text_data(
    train: str, val: str | None = None, test: str | None = None, *, batch_size: int = 32,
    text_column: str = "text", label_column: str = "label", val_split: float = 0.1, seed: int = DEFAULT_SEED,
    max_train_examples: int | None = None, labels: str | None = None,
) -> Datasets:
    """.csv/.tsv/.jsonl files or ``tfds:`` names -> :class:`Datasets` of ``(string, label)``.

    Rows with empty text or label are reported by count and line number and left out; a line
    that is not UTF-8 and a val/test label that training never saw are errors naming them.
    ``labels``: "single" (classes), "numeric" (float targets for a regression; ``class_names``
    is then empty) or None, decided from the training labels (tfxfer.data.targets).

    Example:

    ```python
    from pathlib import Path

    from tfxfer import load_text_data

    rows = ["review,sentiment", "a gorgeous film,good", "a triumph,good", "two hours I want back,bad", "dull,bad"]
    Path("reviews.csv").write_text("\\n".join(rows) + "\\n")
    data = load_text_data("reviews.csv", text_column="review", label_column="sentiment")
    assert data.class_names == ["bad", "good"]
    ```
    """
    if is_tfds(train):
        return _tfds_datasets(train, val, test, image_size=None, batch_size=batch_size,
                              val_split=val_split, seed=seed)
    splits = read_text_splits(train, val, test, text_column=text_column, label_column=label_column,
                              val_split=val_split, seed=seed, max_train_examples=max_train_examples, labels=labels)
    return text_datasets(splits, batch_size, seed)
