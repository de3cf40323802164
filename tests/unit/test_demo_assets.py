"""Where the offline demo data looks for ../shared/assets: the checkout's sibling, wherever
tfxfer/data/demo.py sits in the package (moving it one folder down once broke this path, and
only the slow image notebook noticed)."""

from __future__ import annotations

from tests.conftest import EFFICIENTNET_LITE0, REPO
from tfxfer.data import demo


def test_shared_assets_are_beside_the_checkout():
    assert demo.SHARED_ASSETS == REPO.parent / "shared" / "assets"
    assert demo.SHARED_ASSETS / "efficientnet_lite0_imagenet" == EFFICIENTNET_LITE0
