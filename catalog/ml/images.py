"""Product pictures as numbers: decoding, border trimming, perceptual hashes and colour histograms.

Why these choices:
- Shops pad photos onto white (or another flat colour) canvases of their own size. Every feature here is
  computed on the picture with its flat border trimmed (`border_trim`), so a padded copy hashes and embeds
  like the photo itself.
- Perceptual hashes come from `imagehash` (pHash: DCT of a 32x32 grey thumbnail; dHash: gradients of a 9x8
  one). Two 64-bit hashes within a few bits of each other are the same picture re-encoded, resized,
  brightened or lightly cropped; different photographs sit ~32 bits apart.
- The colour histogram (HSV, 8 hue x 4 saturation x 4 value bins, square-rooted so that the dot product of
  two is their Bhattacharyya coefficient) is the embedding of last resort when no neural model is available.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image, ImageOps

# Formats Pillow may decode here: what shops publish. Anything else (PSD, EPS, ...) is refused.
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"})
HASH_BITS = 64
HIST_BINS = (8, 4, 4)


class ImageDecodeError(ValueError):
    """The bytes are not a picture we can read (a reason for people is the message)."""


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on what is decoded: a 'decompression bomb' (tiny file, huge canvas) is refused unread."""

    max_pixels: int = 40_000_000
    min_side: int = 8


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageHashes:
    """64-bit perceptual hashes (as signed int64, what PostgreSQL's bigint holds) of the trimmed picture."""

    phash: int
    dhash: int


def image_decode(data: bytes, *, limits: ImageLimits | None = None) -> DecodedImage:
    """Decode `data` into an RGB picture (EXIF orientation applied, transparency flattened onto white).

    Raises ImageDecodeError with a reason for anything that is not a whole picture of an allowed format."""
    limits = limits or ImageLimits()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            width, height = probe.size
            if fmt not in ALLOWED_FORMATS:
                raise ImageDecodeError(f"unsupported image format {fmt or 'unknown'}")
            if width * height > limits.max_pixels:
                raise ImageDecodeError(f"image too large: {width}x{height} pixels (limit {limits.max_pixels:,})")
            if min(width, height) < limits.min_side:
                raise ImageDecodeError(f"image too small: {width}x{height} pixels")
            image = ImageOps.exif_transpose(probe)
            image.load()
    except ImageDecodeError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).split(" <", 1)[0]  # Pillow's message names the in-memory file object: not for people
        raise ImageDecodeError(f"not a readable image ({reason})") from exc
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        image = canvas
    else:
        image = image.convert("RGB")
    return DecodedImage(image=image, format=fmt, width=image.width, height=image.height)


def border_trim(image: Image.Image, *, tolerance: int = 24, min_keep: float = 0.2) -> Image.Image:
    """The picture without its flat border (white padding, a coloured canvas): rows and columns at the
    edges whose pixels all stay within `tolerance` of the border's colour (the median of the outermost
    pixels). Returns the picture unchanged when no border is found or when trimming would keep less than
    `min_keep` of either side (a mostly flat picture is not a padded one)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    height, width, _ = pixels.shape
    edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    colour = np.median(edge, axis=0)
    differs = (np.abs(pixels - colour).max(axis=2) > tolerance)
    # A row or column belongs to the content when a few of its pixels differ (JPEG noise stays below that).
    rows = np.flatnonzero(differs.sum(axis=1) > max(2, width // 200))
    cols = np.flatnonzero(differs.sum(axis=0) > max(2, height // 200))
    if not len(rows) or not len(cols):
        return image
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if (bottom - top) < min_keep * height or (right - left) < min_keep * width:
        return image
    if top == 0 and left == 0 and bottom == height and right == width:
        return image
    return image.crop((int(left), int(top), int(right), int(bottom)))


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def _hash_int(hash_: imagehash.ImageHash) -> int:
    bits = np.asarray(hash_.hash, dtype=bool).ravel()
    return _signed64(int("".join("1" if b else "0" for b in bits), 2))


def image_hashes(trimmed: Image.Image) -> ImageHashes:
    """pHash and dHash (64 bits each) of an already trimmed picture."""
    return ImageHashes(phash=_hash_int(imagehash.phash(trimmed)), dhash=_hash_int(imagehash.dhash(trimmed)))


def colour_histogram(image: Image.Image) -> np.ndarray:
    """HSV histogram (8x4x4 = 128 bins) of a picture, square-rooted and L2-normalised (float32)."""
    small = image.convert("RGB").resize((64, 64), Image.BILINEAR).convert("HSV")
    hsv = np.asarray(small, dtype=np.int32).reshape(-1, 3)
    h, s, v = (hsv[:, i] * bins // 256 for i, bins in enumerate(HIST_BINS))
    index = (h * HIST_BINS[1] + s) * HIST_BINS[2] + v
    counts = np.bincount(index, minlength=int(np.prod(HIST_BINS))).astype(np.float32)
    root = np.sqrt(counts / max(counts.sum(), 1.0))
    return root / max(float(np.linalg.norm(root)), 1e-12)


def hash_bits(values: np.ndarray) -> np.ndarray:
    """int64 hashes → (n, 64) float32 of ±1 (the hash as a vector: its dot product falls with Hamming distance)."""
    unsigned = np.asarray(values, dtype=np.int64).view(np.uint64)
    shifts = np.arange(HASH_BITS - 1, -1, -1, dtype=np.uint64)
    bits = (unsigned[:, None] >> shifts[None, :]) & np.uint64(1)
    return bits.astype(np.float32) * 2.0 - 1.0


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between int64 hashes `a` (n) and `b` (m): an (n, m) uint8 array."""
    x = np.asarray(a, dtype=np.int64).view(np.uint64)[:, None] ^ np.asarray(b, dtype=np.int64).view(np.uint64)[None]
    return np.bitwise_count(x).astype(np.uint8)


def thumbnail_bytes(image: Image.Image, *, size: int = 256, quality: int = 85) -> bytes:
    """A JPEG thumbnail that fits in size x size (aspect kept), for pages."""
    thumb = image.convert("RGB").copy()
    thumb.thumbnail((size, size), Image.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()
