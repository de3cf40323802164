"""Encoded image bytes -> RGB float32 pixels in [0, 255] at the model's size.

One function serves the training pipeline and the exported serving signature, so a served
image is decoded exactly as the training images were.

Decompression bombs: a 62 KB PNG can declare 8000 x 8000 pixels (1.15 GB decoded), and
TensorFlow's decoders accept up to ~2^29 pixels. The size is therefore read from the header
(:func:`encoded_size`, no pixel decoded) and checked against a limit before decoding; the
default is Pillow's (``PIL.Image.MAX_IMAGE_PIXELS``), the bound the Python image ecosystem uses.
"""

from __future__ import annotations

import tensorflow as tf

from tfxfer.config import DEFAULT_MAX_IMAGE_PIXELS as DEFAULT_MAX_PIXELS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# The first bytes of each format the decoder reads.
_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP"}


def image_format(head: bytes) -> str | None:
    """"JPEG", "PNG", "GIF" or "BMP" from a file's first bytes; None for anything else."""
    return next((name for magic, name in _SIGNATURES.items() if head.startswith(magic)), None)


ACCEPTED_FORMATS = "JPEG, PNG, GIF or BMP"
_HEADER_BYTES = 32


def _header(image_bytes: tf.Tensor) -> tf.Tensor:
    """The first bytes as int64 numbers, zero-padded when the input is shorter."""
    padded = tf.strings.join([tf.strings.substr(image_bytes, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES])
    return tf.cast(tf.io.decode_raw(tf.strings.substr(padded, 0, _HEADER_BYTES), tf.uint8), tf.int64)


def _number(header: tf.Tensor, start: int, count: int, big_endian: bool = False) -> tf.Tensor:
    digits = [header[start + i] for i in range(count)]
    if big_endian:
        digits.reverse()
    return sum(digit * (256 ** i) for i, digit in enumerate(digits))


def _size(height, width) -> tf.Tensor:
    return tf.stack([tf.cast(height, tf.int64), tf.cast(width, tf.int64)])


def encoded_size(image_bytes: tf.Tensor) -> tf.Tensor:
    """``[height, width]`` (int64) read from an encoded image's header without decoding it;
    ``[-1, -1]`` for any other format (WebP and JPEG XL do not decode to float32 in
    TensorFlow anyway), or bytes that are not an image."""
    header = _header(image_bytes)
    magic = tf.strings.substr(image_bytes, 0, 4)

    def bmp():  # signed 32-bit; a negative height means rows stored top-down
        height = _number(header, 22, 4)
        return _size(tf.abs(tf.where(height >= 2**31, height - 2**32, height)), _number(header, 18, 4))

    return tf.case([
        (tf.equal(tf.strings.substr(magic, 0, 3), b"\xff\xd8\xff"),
         lambda: tf.cast(tf.image.extract_jpeg_shape(image_bytes)[:2], tf.int64)),
        (tf.equal(magic, b"\x89PNG"), lambda: _size(_number(header, 20, 4, True), _number(header, 16, 4, True))),
        (tf.equal(magic, b"GIF8"), lambda: _size(_number(header, 8, 2), _number(header, 6, 2))),
        (tf.equal(tf.strings.substr(magic, 0, 2), b"BM"), bmp),
    ], default=lambda: _size(-1, -1))


def check_size(image_bytes: tf.Tensor, max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Operation:
    """An op that fails (InvalidArgumentError naming the size and the limit) for an image whose
    header declares more than ``max_pixels`` pixels, or whose header is not read here."""
    size = encoded_size(image_bytes)
    known = tf.debugging.Assert(size[0] >= 0, [f"not a {ACCEPTED_FORMATS} image"])
    with tf.control_dependencies([known]):
        return tf.debugging.Assert(size[0] * size[1] <= max_pixels, [tf.strings.format(
            f"image of {{}} x {{}} pixels is over the limit of {max_pixels:,} pixels", (size[1], size[0]))])


def decode_image(image_bytes: tf.Tensor, max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
    """JPEG/PNG (8 or 16 bit, alpha)/GIF (first frame)/BMP/greyscale -> (H, W, 3) float32
    in [0, 255]; an image over ``max_pixels`` pixels fails before any pixel is decoded."""
    with tf.control_dependencies([check_size(image_bytes, max_pixels)]):
        image = tf.io.decode_image(image_bytes, channels=3, dtype=tf.float32, expand_animations=False)
    image.set_shape([None, None, 3])
    return image * 255.0


def resize_image(image: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    return tf.image.resize(image, image_size, method="bilinear", antialias=True)


def decode_and_resize(image_bytes: tf.Tensor, image_size: tuple[int, int],
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
    return resize_image(decode_image(image_bytes, max_pixels), image_size)


def decode_batch(image_bytes: tf.Tensor, image_size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
    """A [N] string tensor of encoded images of any sizes -> (N, H, W, 3) float32."""
    return tf.map_fn(
        lambda b: decode_and_resize(b, image_size, max_pixels),
        image_bytes,
        fn_output_signature=tf.TensorSpec([image_size[0], image_size[1], 3], tf.float32),
    )
