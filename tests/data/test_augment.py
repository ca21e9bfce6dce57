"""Tests of the batched, device-following SimCLR augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synergy_lab.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SimCLRAugment,
    hsv_to_rgb,
    normalize_images,
    rgb_to_hsv,
)
from synergy_lab.data.trifeature import COLOURS, render_trifeature

OFF = {"colour_jitter": False, "p_gray": 0.0, "p_blur": 0.0, "flip": False, "normalize": False}
IDENTITY_CROP = {"scale": (1.0, 1.0), "ratio": (1.0, 1.0)}


@pytest.fixture(scope="module")
def renders():
    """16 Trifeature images at 48 px: all colours, shapes and textures present."""
    rng = np.random.default_rng(0)
    s, t = rng.integers(0, 10, (2, 16))
    c = np.arange(16) % 10
    images = torch.from_numpy(render_trifeature(s, t, c, 48, random_state=1))
    return images, c


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_shapes_dtypes_and_normalisation(renders):
    x, _ = renders
    for size in (32, 48, 64):
        out = SimCLRAugment(size)(x, gen(0))
        assert out.shape == (16, 3, size, size) and out.dtype == torch.float32 and out.device == x.device
        assert torch.isfinite(out).all()
    # Normalisation: (v - mean) / std of values in [0, 1].
    out = SimCLRAugment(48)(x, gen(0))
    lo = (0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    hi = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert (out >= lo.view(1, 3, 1, 1) - 1e-5).all() and (out <= hi.view(1, 3, 1, 1) + 1e-5).all()
    raw = SimCLRAugment(48, normalize=False)(x, gen(0))
    torch.testing.assert_close(out, (raw - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
                               / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
    # uint8 and float [0, 1] inputs give the same result.
    torch.testing.assert_close(SimCLRAugment(40)(x.float() / 255, gen(3)), SimCLRAugment(40)(x, gen(3)))
    assert SimCLRAugment(32)(x[:0], gen(0)).shape == (0, 3, 32, 32)


def test_deterministic_under_a_generator(renders):
    x, _ = renders
    aug = SimCLRAugment(48)
    a, b, c = aug(x, gen(7)), aug(x, gen(7)), aug(x, gen(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    g = gen(7)
    first, second = aug(x, g), aug(x, g)  # the generator advances
    torch.testing.assert_close(first, a, rtol=0, atol=0)
    assert not torch.allclose(first, second)
    # Each image of a pair is augmented independently: same images, different draws.
    v1, v2 = aug.pair(x, x, gen(1))
    assert not torch.allclose(v1, v2)


def test_identity_crop_reproduces_the_image(renders):
    x, _ = renders
    out = SimCLRAugment(48, **IDENTITY_CROP, **OFF)(x, gen(0))
    torch.testing.assert_close(out, x.float() / 255, rtol=0, atol=1e-5)


def test_flip_is_exact_and_does_not_change_the_other_draws(renders):
    x, _ = renders
    kw = {"p_jitter": 0.8, "p_gray": 0.2, "p_blur": 0.5}
    plain = SimCLRAugment(48, flip=False, **kw)(x, gen(5))
    flipped = SimCLRAugment(48, flip=1.0, **kw)(x, gen(5))
    torch.testing.assert_close(flipped, plain.flip(-1), rtol=0, atol=0)
    half = SimCLRAugment(48, flip=True, **kw)(x, gen(5))
    is_flipped = [torch.equal(half[i], flipped[i]) for i in range(16)]
    is_plain = [torch.equal(half[i], plain[i]) for i in range(16)]
    assert all(f or p for f, p in zip(is_flipped, is_plain, strict=True))
    assert any(is_flipped) and any(is_plain)


def test_without_jitter_every_pixel_keeps_its_hue(renders):
    """Trifeature pixels are grey + m (colour - grey); crops, blur and flips only mix pixels of one image, so
    with colour jitter and grayscale off every output pixel stays on the grey-colour segment (up to uint8
    rounding). Colour jitter moves pixels off it."""
    x, c = renders
    grey = torch.full((3,), 0.5)
    colour = torch.as_tensor(COLOURS[c], dtype=torch.float32)  # (16, 3)

    def off_segment(out):
        d = out - grey.view(1, 3, 1, 1)  # (N, 3, H, W)
        u = (colour - grey).view(-1, 3, 1, 1)
        m = (d * u).sum(1, keepdim=True) / (u * u).sum(1, keepdim=True)
        residual = (d - m * u).abs().amax(1)  # distance from the segment's line
        return residual.amax(dim=(1, 2)), m.amin(dim=(1, 2, 3)), m.amax(dim=(1, 2, 3))

    kept = SimCLRAugment(48, colour_jitter=False, p_gray=0.0, p_blur=0.5, normalize=False)(x, gen(2))
    residual, m_lo, m_hi = off_segment(kept)
    assert residual.max() < 2.5 / 255 and m_lo.min() > -0.01 and m_hi.max() < 1.01
    jittered = SimCLRAugment(48, colour_jitter=True, p_jitter=1.0, p_gray=0.0, p_blur=0.0,
                             normalize=False)(x, gen(2))
    assert (off_segment(jittered)[0] > 0.02).float().mean() > 0.8


def test_grayscale_gives_equal_channels(renders):
    x, _ = renders
    out = SimCLRAugment(48, **{**OFF, "p_gray": 1.0})(x, gen(0))
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 1], out[:, 2])
    some = SimCLRAugment(48, **{**OFF, "p_gray": 0.5})(x, gen(0))
    equal = (some[:, 0] == some[:, 1]).flatten(1).all(1) & (some[:, 1] == some[:, 2]).flatten(1).all(1)
    assert 0 < equal.sum() < 16


def test_blur_smooths_and_keeps_constants(renders):
    x, _ = renders
    blur = SimCLRAugment(48, **IDENTITY_CROP, **{**OFF, "p_blur": 1.0}, sigma=(1.5, 2.0))
    out = blur(x, gen(0))
    src = x.float() / 255

    def variation(img):
        return (img[..., 1:] - img[..., :-1]).abs().mean() + (img[..., 1:, :] - img[..., :-1, :]).abs().mean()

    assert variation(out) < 0.6 * variation(src)
    torch.testing.assert_close(out.mean(dim=(2, 3)), src.mean(dim=(2, 3)), rtol=0, atol=0.01)
    const = torch.full((4, 3, 48, 48), 0.3)
    torch.testing.assert_close(blur(const, gen(0)), const)
    sharp = SimCLRAugment(48, **IDENTITY_CROP, **{**OFF, "p_blur": 1.0}, sigma=(0.1, 0.1))(x, gen(0))
    torch.testing.assert_close(sharp, src, rtol=0, atol=1e-4)  # sigma 0.1: a near-delta kernel


def test_jitter_ops():
    # HSV round trip and known conversions.
    x = torch.rand(5, 3, 8, 8, generator=gen(0))
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(x)), x, rtol=0, atol=1e-5)
    known = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5], [0, 0, 0]], dtype=torch.float32)
    hsv = rgb_to_hsv(known.view(5, 3, 1, 1)).view(5, 3)
    expected = torch.tensor([[0, 1, 1], [1 / 3, 1, 1], [2 / 3, 1, 1], [0, 0, 0.5], [0, 0, 0]])
    torch.testing.assert_close(hsv, expected)
    # Zero strengths: jitter is the identity.
    img = torch.rand(6, 3, 16, 16, generator=gen(1))
    ident = SimCLRAugment(16, **IDENTITY_CROP, **{**OFF, "colour_jitter": True}, p_jitter=1.0,
                          strength=(0, 0, 0, 0))
    torch.testing.assert_close(ident(img, gen(0)), img, rtol=0, atol=2e-5)
    # Brightness only: every unclipped pixel is scaled by one factor per image.
    bright = SimCLRAugment(16, **IDENTITY_CROP, **{**OFF, "colour_jitter": True}, p_jitter=1.0,
                           strength=(0.4, 0, 0, 0))(img * 0.5, gen(0))
    src = img * 0.5
    # Small values are left out: there the rounding of the identity crop dominates the ratio.
    ratio = torch.where(src > 0.05, bright / src, torch.nan).flatten(1)
    spread = ratio.nan_to_num(-1).amax(1) - ratio.nan_to_num(9).amin(1)
    factor = ratio.nanmean(1)
    assert spread.max() < 1e-3 and ((factor - 1).abs() > 0.01).any()
    assert factor.min() >= 0.6 - 1e-3 and factor.max() <= 1.4 + 1e-3
    # Saturation 0 factors are not allowed to push values out of [0, 1]; hue only rotates.
    hue = SimCLRAugment(16, **IDENTITY_CROP, **{**OFF, "colour_jitter": True}, p_jitter=1.0,
                        strength=(0, 0, 0, 0.5))(img, gen(0))
    torch.testing.assert_close(rgb_to_hsv(hue)[:, 1:], rgb_to_hsv(img)[:, 1:], rtol=0, atol=1e-4)
    assert (hue >= 0).all() and (hue <= 1).all()


def test_crop_boxes_and_fallback():
    aug = SimCLRAugment(32, scale=(0.08, 1.0))
    r = aug.draw(2000, gen(0))
    w, h, x0, y0 = aug._crop_boxes(r, 64, 64)
    area = w * h / 64**2
    assert (w <= 64 + 1e-4).all() and (h <= 64 + 1e-4).all() and (x0 >= 0).all() and (y0 >= 0).all()
    assert (x0 + w <= 64 + 1e-4).all() and (y0 + h <= 64 + 1e-4).all()
    assert area.min() >= 0.08 - 1e-6 and area.max() <= 1 + 1e-6
    aspect = w / h
    assert aspect.min() >= 3 / 4 - 1e-5 and aspect.max() <= 4 / 3 + 1e-5
    # No box of aspect 2-3 with full area fits a square: the whole-width centred box of aspect 2.
    fallback = SimCLRAugment(32, scale=(1.0, 1.0), ratio=(2.0, 3.0))
    w, h, x0, y0 = fallback._crop_boxes(fallback.draw(3, gen(0)), 64, 64)
    torch.testing.assert_close(w, torch.full((3,), 64.0))
    torch.testing.assert_close(h, torch.full((3,), 32.0))
    torch.testing.assert_close(y0, torch.full((3,), 16.0))


def test_probe_augmentation_and_deterministic_input(renders):
    x, _ = renders
    probe = SimCLRAugment.probe(32)
    assert probe.scale == (0.5, 1.0) and not probe.colour_jitter and probe.p_gray == probe.p_blur == 0
    assert probe(x, gen(0)).shape == (16, 3, 32, 32)
    det = normalize_images(x, size=32)
    assert det.shape == (16, 3, 32, 32)
    torch.testing.assert_close(det, normalize_images(x, size=32), rtol=0, atol=0)
    same = normalize_images(x, mean=(0, 0, 0), std=(1, 1, 1))
    torch.testing.assert_close(same, x.float() / 255)


def test_runs_on_the_device_of_the_input(renders):
    x, _ = renders
    aug = SimCLRAugment(32)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    outs = []
    for device in devices:
        out = aug(x.to(device), gen(4))
        assert out.device.type == device
        outs.append(out.cpu())
    for out in outs[1:]:  # same draws everywhere (they come from the CPU generator)
        torch.testing.assert_close(out, outs[0], rtol=0, atol=1e-3)
    assert aug(x.double() / 255, gen(4)).dtype == torch.float32


def test_validation():
    for kwargs in ({"size": 0}, {"size": 32, "scale": (0.5, 0.2)}, {"size": 32, "scale": (0, 0)},
                   {"size": 32, "p_blur": 1.5}, {"size": 32, "strength": (0.4, 0.4)},
                   {"size": 32, "sigma": (0, 1)}, {"size": 32, "ratio": (0, 1)}, {"size": 32, "flip": 2}):
        with pytest.raises(ValueError):
            SimCLRAugment(**kwargs)
    aug = SimCLRAugment(32)
    for bad in (torch.zeros(2, 1, 8, 8), torch.zeros(3, 8, 8), torch.zeros(2, 3, 8, 8, dtype=torch.int32)):
        with pytest.raises(ValueError):
            aug(bad, gen(0))
    assert "SimCLRAugment(size=32" in repr(aug)
