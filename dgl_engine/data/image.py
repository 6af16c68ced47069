"""Still images (PNG, JPEG) -> RGB pixels, refused before any pixel is decoded when too large.

A 446 KB PNG can hold 12000 x 12000 pixels, 1.6 GB once decoded, and Pillow opens any format it
has a plugin for, whatever the file is called. Here only PNG and JPEG are opened, and the header
is checked against ``limits.MAX_IMAGE_PIXELS`` and ``limits.MAX_ASPECT_RATIO`` first. What the
failures mean for the file (a one-line MediaError) is decided by ``decode.py``.

Shapes: an image is (H, W, 3) uint8 RGB, upright per its EXIF orientation.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from dgl_engine import limits
from dgl_engine.data.demux import check_picture, scaled_size

# Pillow opens any format it has a plugin for, whatever the name says: only these are read.
IMAGE_FORMATS = ("PNG", "JPEG")
# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def open_image(handle) -> Image.Image:
    """The image with its header read and nothing decoded. OverLimit when it has too many
    pixels or an absurd shape; Pillow's errors (OSError, DecompressionBombError) otherwise.
    Pillow's own bomb check (a warning above 89 Mpx, an error above 179 Mpx) is far above
    ours: its warning is silenced, ours refuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(handle, formats=IMAGE_FORMATS)
    try:
        check_picture(*img.size, limits.MAX_IMAGE_PIXELS, "the image")
    except Exception:
        img.close()
        raise
    return img


def image_header(handle) -> tuple[int, int, str]:
    """(width, height, format) of the image as displayed (EXIF quarter turns applied)."""
    with open_image(handle) as img:
        w, h = img.size
        if img.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation: a quarter turn
            w, h = h, w
        return w, h, str(img.format).lower()


def read_image(handle, max_side: int | None) -> np.ndarray:
    """(H, W, 3) uint8, upright per EXIF, shorter side <= max_side (None: kept). As
    ``ImageOps.exif_transpose`` then ``convert("RGB")``, without their copies of a picture that
    needs neither (each is up to 150 MB at the pixel limit)."""
    with open_image(handle) as img:
        turn = _UPRIGHT.get(img.getexif().get(0x0112))  # phone photos store rotation in EXIF
        if turn is not None:
            img = img.transpose(turn)  # before resizing: Pillow's resize does not commute with a flip
        if img.mode != "RGB":
            img = img.convert("RGB")
        w, h = scaled_size(*img.size, max_side)
        if (w, h) != img.size:
            img = img.resize((w, h), Image.Resampling.BOX)  # BOX: area average, like video frames
        return np.asarray(img, dtype=np.uint8).copy()
