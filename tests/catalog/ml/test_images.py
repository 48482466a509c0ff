import numpy as np
import pytest
from PIL import Image

from catalog.ml.embed import EfficientNetLite0Embedder, EmbedderConfig, HistogramEmbedder
from catalog.ml.images import (
    ImageDecodeError,
    ImageLimits,
    border_trim,
    hamming,
    image_decode,
    image_hashes,
)
from catalog.ml.similar import duplicate_groups, nearest_neighbours, visual_neighbours_frame
from tests.catalog.pictures import bannered, brightened, jpeg_bytes, padded, photo

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "camera", "coins")


def _distance(a: Image.Image, b: Image.Image) -> int:
    ha, hb = image_hashes(border_trim(a)), image_hashes(border_trim(b))
    return int(hamming(np.array([ha.phash]), np.array([hb.phash]))[0, 0])


def test_a_photo_padded_onto_white_hashes_like_the_photo_thanks_to_border_trimming():
    cat = photo("chelsea")
    assert _distance(cat, padded(cat)) <= 2
    untrimmed = [image_hashes(x).phash for x in (cat, padded(cat))]
    assert hamming(np.array(untrimmed[:1]), np.array(untrimmed[1:]))[0, 0] > 10  # trimming is what does it


def test_border_trim_keeps_a_picture_without_border_and_a_mostly_flat_one():
    cat = photo("coffee")
    assert border_trim(cat).size == cat.size
    flat = Image.new("RGB", (100, 100), (255, 255, 255))
    flat.putpixel((50, 50), (0, 0, 0))
    assert border_trim(flat).size == (100, 100)


def test_decode_refuses_non_images_and_decompression_bombs_with_a_reason():
    with pytest.raises(ImageDecodeError, match="not a readable image"):
        image_decode(b"<html>not a picture</html>")
    with pytest.raises(ImageDecodeError, match="too large"):
        image_decode(jpeg_bytes(photo("chelsea")), limits=ImageLimits(max_pixels=1000))
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    decoded = image_decode(_png(rgba))
    assert decoded.image.mode == "RGB" and decoded.image.getpixel((0, 0)) == (255, 255, 255)  # flattened on white


def _png(image):
    import io

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_duplicate_groups_join_copies_but_never_different_photographs():
    pictures, ids = [], []
    for name in PHOTOS:
        base = photo(name)
        for variant, picture in (("orig", base), ("pad", padded(base)), ("bright", brightened(base)),
                                 ("jpeg", Image.open(__import__("io").BytesIO(jpeg_bytes(base, 40))))):
            pictures.append(picture)
            ids.append(f"{name}-{variant}")
    hashes = [image_hashes(border_trim(p)) for p in pictures]
    groups = duplicate_groups(np.array(ids, dtype=object), np.array([h.phash for h in hashes]),
                              np.array([h.dhash for h in hashes]))
    for group in groups:
        assert len({member.split("-")[0] for member in group}) == 1, group  # no false group
    grouped = {member for group in groups for member in group}
    assert {f"{name}-pad" for name in PHOTOS} <= grouped


def test_identical_bytes_are_duplicates_whatever_the_hashes():
    far = [0, -1, 0x0F0F0F0F0F0F0F0F]  # 64 and 32 bits apart: no hash says "same picture"
    groups = duplicate_groups(np.array(["A", "B", "C"], dtype=object), np.array(far), np.array(far),
                              np.array(["x", "x", "y"], dtype=object))
    assert groups == [["A", "B"]]


def test_nearest_neighbours_exclude_the_product_itself_and_rank_by_cosine():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    idx, scores = nearest_neighbours(vectors, k=2, block=3)  # blocks smaller than n: the offset matters
    assert idx[:, 0].tolist() == [1, 0, 3, 2]
    assert (np.diff(scores, axis=1) <= 0).all()


def test_category_scope_keeps_neighbours_inside_the_category():
    import pandas as pd

    frame = pd.DataFrame({"product_id": [1, 2, 3, 4], "category": ["A", "B", "A", "B"]})
    vectors = np.eye(4, dtype=np.float32) + 0.01
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = visual_neighbours_frame(frame, vectors)
    category = rows[rows["scope"] == "category"]
    assert set(zip(category["product_id"], category["similar_id"], strict=True)) == {(1, 3), (3, 1), (2, 4), (4, 2)}
    assert len(rows[rows["scope"] == "overall"]) == 4 * 3


@pytest.mark.parametrize("embedder", ["histogram", "efficientnet"])
def test_embeddings_find_the_other_pictures_of_the_same_photograph(embedder):
    model = HistogramEmbedder() if embedder == "histogram" else EfficientNetLite0Embedder(
        EmbedderConfig(device="cpu", batch_size=16, threads=1))
    names = PHOTOS if embedder == "histogram" else PHOTOS[:4]  # the network costs ~0.1 s a picture on CPU
    originals = [photo(name) for name in names]
    variants = [border_trim(padded(p)) for p in originals] + [border_trim(brightened(p)) for p in originals]
    if embedder == "efficientnet":
        variants += [bannered(p) for p in originals]
    base = model.embed(originals)
    queries = model.embed(variants)
    assert base.shape[1] == model.dim and np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-4)
    nearest = (queries @ base.T).argmax(axis=1)
    assert nearest.tolist() == list(range(len(names))) * (len(variants) // len(names))


def test_a_shops_torchscript_model_is_used_and_pooled(tmp_path):
    import torch

    from catalog.ml.embed import TorchScriptEmbedder, embedder_load

    class Tiny(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 56)  # (n, 3, 4, 4): spatial, pooled by the embedder

    path = tmp_path / "shop-model.pt"
    torch.jit.script(Tiny()).save(str(path))
    model = embedder_load(EmbedderConfig(model=str(path), device="cpu"))
    assert isinstance(model, TorchScriptEmbedder) and model.dim == 3
    rows = model.embed([photo("coffee"), photo("chelsea")])
    assert rows.shape == (2, 3) and np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("model", ["/nonexistent/model.onnx", "histogram"])
def test_a_model_setting_naming_no_file_fails_with_a_reason(model):
    from catalog.ml.embed import EmbeddingModelError, embedder_load

    if model == "histogram":
        assert embedder_load(EmbedderConfig(model=model)).dim == HistogramEmbedder.dim
        return
    with pytest.raises(EmbeddingModelError, match="names no file"):
        embedder_load(EmbedderConfig(model=model))


def test_a_shops_onnx_model_runs_through_onnxruntime_with_a_dynamic_batch(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from catalog.ml.embed import OnnxEmbedder, embedder_load

    pixels = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 3, 224, 224])
    pooled = helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["n", 3, 1, 1])
    graph = helper.make_graph([helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"])], "tiny", [pixels],
                              [pooled])
    path = tmp_path / "shop-model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    model = embedder_load(EmbedderConfig(model=str(path), device="cpu", batch_size=2))
    assert isinstance(model, OnnxEmbedder) and model.dim == 3 and model.size == 224
    red, blue = Image.new("RGB", (50, 40), (250, 10, 10)), Image.new("RGB", (30, 60), (10, 10, 250))
    rows = model.embed([red, blue, red])  # two batches
    assert rows.shape == (3, 3) and rows[0].argmax() == 0 and rows[1].argmax() == 2
    assert np.allclose(rows[0], rows[2])
