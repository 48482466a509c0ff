"""Real photographs bundled with scikit-image, and the product pictures a shop makes of them (no network)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance
from skimage import data


def photo(name: str, size: int = 160) -> Image.Image:
    """A bundled photograph (chelsea, coffee, astronaut, rocket, ...), small so tests stay fast."""
    image = Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")
    image.thumbnail((size, size))
    return image


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def padded(image: Image.Image, factor: float = 1.4) -> Image.Image:
    """The photo in the middle of a white square canvas."""
    side = int(max(image.size) * factor)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def brightened(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(1.25)


def bannered(image: Image.Image) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, int(out.height * 0.88), out.width, out.height), fill=(200, 20, 30))
    draw.text((4, int(out.height * 0.9)), "SALE", fill=(255, 255, 255))
    return out
