"""The proof that pretrained weights transfer: real ImageNet weights on real photos."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import EFFICIENTNET_LITE0, run_cli


@pytest.mark.slow
def test_pretrained_efficientnet_beats_random_weights_on_fashion_mnist(fashion_mnist, tmp_path):
    """EfficientNet-Lite0 (ImageNet) vs the same architecture from random weights, trained
    identically through the CLI on 4 Fashion-MNIST classes x 150 images."""
    results = {}
    for weights in ("imagenet", "none"):
        started = time.perf_counter()
        result = run_cli(
            "tfxfer.train", "--task", "image", "--backbone", f"kerashub:{EFFICIENTNET_LITE0}",
            "--weights", weights, "--train", str(fashion_mnist["train"]), "--val", str(fashion_mnist["val"]),
            "--image-size", "96", "--epochs", "4", "--fine-tune-epochs", "1", "--unfreeze", "20",
            "--seed", "7", "--output", str(tmp_path / weights), "--export-dir", str(tmp_path / "exported"),
            "--name", f"fashion_{weights}",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        metrics = json.loads((tmp_path / weights / "metrics.json").read_text())
        results[weights] = (metrics["val"]["accuracy"], time.perf_counter() - started)
    print(f"\nFashion-MNIST 4x150, EfficientNet-Lite0 96px: pretrained val accuracy {results['imagenet'][0]:.3f} "
          f"({results['imagenet'][1]:.0f}s), random weights {results['none'][0]:.3f} ({results['none'][1]:.0f}s)")
    assert results["imagenet"][0] >= 0.75, results  # chance is 0.25
    assert results["imagenet"][0] >= results["none"][0] + 0.15, results
