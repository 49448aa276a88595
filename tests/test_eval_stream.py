"""The streaming feature pipeline gives clean-fid's own features bit for bit."""
import numpy as np
import pytest

from helpers.eval_fakes import random_extractor, random_images
from repro.eval.fid import cleanfid_features
from repro.eval.sample import jpeg_roundtrip
from repro.eval.stream import streamed_features


def _batches(imgs, sizes):
    out, a = [], 0
    for s in sizes:
        out.append(imgs[a:a + s])
        a += s
    return out


@pytest.mark.slow
@pytest.mark.parametrize("jpeg,workers", [(False, 1), (True, 2)])
def test_streamed_features_equal_cleanfids_bitwise(jpeg, workers):
    imgs = random_images(300, res=16, seed=3)
    ext = random_extractor("legacy_pytorch", seed=1)
    # uneven decode batches: the re-cutting into extractor batches must match clean-fid's
    sizes = [50, 7, 100, 64, 79]
    ref_imgs = jpeg_roundtrip(imgs) if jpeg else imgs
    ref = cleanfid_features(iter(_batches(ref_imgs, sizes)), 290, ext, batch_size=64)
    got = streamed_features(iter(_batches(imgs, sizes)), 290, ext, batch_size=64, jpeg=jpeg, workers=workers)
    assert got.dtype == ref.dtype and got.shape == ref.shape == (290, 32)
    assert np.array_equal(got, ref)


def test_grey_images_and_a_short_last_batch():
    imgs = random_images(70, res=8, seed=4)[..., :1]
    ext = random_extractor("legacy_pytorch", seed=2)
    ref = cleanfid_features(iter([imgs]), 70, ext, batch_size=32)
    assert np.array_equal(streamed_features(iter([imgs]), 70, ext, batch_size=32), ref)


def test_a_short_stream_and_a_failing_extractor_are_reported():
    from repro.eval.fid import FeatureExtractor
    from repro.io import ReproError

    imgs = random_images(10, res=8)
    with pytest.raises(ReproError, match="ended after 10 images"):
        streamed_features(iter([imgs]), 20, random_extractor("legacy_pytorch"), batch_size=4)

    def boom(x):
        raise RuntimeError("extractor failed")
    with pytest.raises(RuntimeError, match="extractor failed"):
        streamed_features(iter([imgs] * 5), 50, FeatureExtractor(boom, "boom", "legacy_pytorch"), batch_size=4)
