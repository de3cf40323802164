"""Encoded image bytes -> RGB float32 pixels in [0, 255] at the model's size.

One function serves the training pipeline and the exported serving signature, so a served
image is decoded exactly as the training images were.
"""

from __future__ import annotations

import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# The first bytes of each format the decoder reads.
_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP"}


def image_format(head: bytes) -> str | None:
    """"JPEG", "PNG", "GIF" or "BMP" from a file's first bytes; None for anything else."""
    return next((name for magic, name in _SIGNATURES.items() if head.startswith(magic)), None)


def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """JPEG/PNG (8 or 16 bit, alpha)/GIF (first frame)/BMP/greyscale -> (H, W, 3) float32 in [0, 255]."""
    image = tf.io.decode_image(image_bytes, channels=3, dtype=tf.float32, expand_animations=False)
    image.set_shape([None, None, 3])
    return image * 255.0


def resize_image(image: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    return tf.image.resize(image, image_size, method="bilinear", antialias=True)


def decode_and_resize(image_bytes: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    return resize_image(decode_image(image_bytes), image_size)


def decode_batch(image_bytes: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    """A [N] string tensor of encoded images of any sizes -> (N, H, W, 3) float32."""
    return tf.map_fn(
        lambda b: decode_and_resize(b, image_size),
        image_bytes,
        fn_output_signature=tf.TensorSpec([image_size[0], image_size[1], 3], tf.float32),
    )
