import numpy as np
import pytest
from PIL import Image

from edgebench.errors import UserError
from edgebench.models.images import (default_image, load_image, preprocessing_for, to_float_nchw,
                                     to_input)
from edgebench.models.zoo import MOBILENET_V2, preprocessing_named
from edgebench.tensors import Quantization, TensorSpec


def test_missing_and_corrupt_images_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(UserError, match="not a readable image"):
        load_image(bad)


def test_default_image_is_a_real_photo():
    img = load_image(default_image())
    assert img.mode == "RGB" and min(img.size) >= 224


def test_float_tensor_is_normalised_nchw():
    img = Image.new("RGB", (300, 250), (124, 116, 104))  # ImageNet mean colour
    x = to_float_nchw(img, MOBILENET_V2.preprocessing)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    assert np.abs(x).max() < 0.01


def test_input_is_laid_out_and_quantized_for_the_spec():
    x = np.linspace(-2, 2, 2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    spec = TensorSpec("in", (2, 2, 2, 3), "int8", "NHWC", Quantization(0.01, -3))
    q = to_input(x, spec)
    assert q.shape == (2, 2, 2, 3) and q.dtype == np.int8
    assert q.min() == -128 and q.max() == 127  # clipped, not wrapped
    assert q[0, 0, 0, 0] == np.clip(round(x[0, 0, 0, 0] / 0.01 - 3), -128, 127)


def test_auto_preprocessing_reads_the_quantized_range():
    coral_like = TensorSpec("in", (1, 224, 224, 3), "uint8", "NHWC", Quantization(0.0078125, 128))
    prep, why = preprocessing_for(coral_like)
    assert prep == preprocessing_named("inception") and "[-1, 1]" in why
    raw = TensorSpec("in", (1, 224, 224, 3), "uint8", "NHWC", Quantization(1.0, 0))
    assert preprocessing_for(raw)[0].name == "raw"
    floating = TensorSpec("in", (1, 3, 224, 224), "float32", "NCHW")
    prep, why = preprocessing_for(floating)
    assert prep.name == "torchvision" and "float input" in why
    assert preprocessing_for(floating, "unit")[0].mean == (0.0, 0.0, 0.0)
    odd = TensorSpec("in", (1, 224, 224, 3), "int8", "NHWC", Quantization(0.5, 0))
    assert "guessed" in preprocessing_for(odd)[1]


def test_default_image_is_not_a_calibration_photo():
    from edgebench.models.calibration import calibration_photos

    photos = calibration_photos()
    assert default_image() not in photos
    assert len(photos) >= 10 and all(p.is_file() for p in photos)


def test_a_one_pixel_image_is_scaled_up_and_classified(tmp_path):
    Image.new("RGB", (1, 1), (124, 116, 104)).save(tmp_path / "dot.png")
    x = to_float_nchw(load_image(tmp_path / "dot.png"), MOBILENET_V2.preprocessing)
    assert x.shape == (1, 3, 224, 224) and np.abs(x).max() < 0.01


def test_empty_and_truncated_files_are_not_readable_images(tmp_path):
    import io

    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(UserError, match="empty.jpg is not a readable image"):
        load_image(tmp_path / "empty.jpg")
    jpeg = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(jpeg, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    with pytest.raises(UserError, match="cut.jpg is not a readable image: image file is truncated"):
        load_image(tmp_path / "cut.jpg")


def test_an_elongated_image_is_refused_before_it_is_resized():
    """An image that did not come through load_image (a frame) is checked by the resize itself:
    1x100 at a 1000-pixel resize would be 1000x100000 pixels."""
    from edgebench.models.zoo import Preprocessing

    strip = Image.new("RGB", (1, 100))
    with pytest.raises(UserError, match="1x100 image would be resized to 1000x100000 pixels"):
        to_float_nchw(strip, Preprocessing(resize=1000, crop=900, mean=(0, 0, 0), std=(1, 1, 1)))
    assert to_float_nchw(strip, MOBILENET_V2.preprocessing).shape == (1, 3, 224, 224)   # 256x25600 is fine
