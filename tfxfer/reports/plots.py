"""PNG plots of a run: training curves with the phase boundary, a confusion matrix (a regression:
predicted against true values), and the worst-predicted images.

Every text is drawn literally: class names are the user's, and matplotlib would otherwise read
``$...$`` in them as mathtext (``$x^$`` raises, ``$5 to $10`` renders in italics).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the headless backend
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

_LITERAL_TEXT = {"text.parse_math": False, "text.usetex": False}


@plt.rc_context(_LITERAL_TEXT)
def plot_training_curves(history: dict, path: Path, phase1_epochs: int | None = None) -> Path:
    """Loss and accuracy (a regression: mean absolute error) by epoch, train and val, with the
    start of fine-tuning marked."""
    fig = training_curves_figure(history, phase1_epochs)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@plt.rc_context(_LITERAL_TEXT)
def training_curves_figure(history: dict, phase1_epochs: int | None = None):
    """The figure :func:`plot_training_curves` saves; epochs are whole numbers on the axis."""
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "mae" if "mae" in history else "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(epochs[: len(values)], values, style, label=("val " if prefix else "train ") + metric)
        if phase1_epochs and phase1_epochs < len(epochs):
            ax.axvline(phase1_epochs + 0.5, color="grey", linestyle=":", label="fine-tuning starts")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


@plt.rc_context(_LITERAL_TEXT)
def plot_confusion_matrix(matrix, class_names: list[str], path: Path, title: str = "confusion matrix") -> Path:
    matrix = np.asarray(matrix)
    size = max(4.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@plt.rc_context(_LITERAL_TEXT)
def plot_worst_examples(rows: list[dict], path: Path) -> None:
    """A grid of the worst-predicted images, each titled with its true and predicted class."""
    from PIL import Image

    columns = 4
    lines = max(1, -(-len(rows) // columns))
    fig, axes = plt.subplots(lines, columns, figsize=(3 * columns, 3.2 * lines), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        with Image.open(row["input"]) as image:
            ax.imshow(image.convert("RGB"))
        ax.set_title(f"true {row['true']} (p={row['true_probability']:.2f})\npredicted {row['predicted']}",
                     fontsize=9, color="darkred" if row["true"] != row["predicted"] else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@plt.rc_context(_LITERAL_TEXT)
def plot_predicted_vs_true(values, targets, path: Path, title: str = "predicted against true") -> Path:
    """A regression's scatter of predicted against true values, with the diagonal of exact answers."""
    values, targets = np.asarray(values, np.float64), np.asarray(targets, np.float64)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(targets, values, s=8, alpha=0.5)
    if len(targets):
        low, high = float(min(targets.min(), values.min())), float(max(targets.max(), values.max()))
        ax.plot([low, high], [low, high], color="grey", linestyle=":", label="exact")
        ax.legend()
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
