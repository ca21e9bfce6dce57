"""Fusion transformer, random token masks, and batched vs per-view-loop equality of MaskedFusion."""

import pytest
import torch

from synergy_lab.models import FusionTransformer, MaskedFusion, random_token_masks

E, HEADS = 32, 4


def _tokens(b=5, lengths=(6, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, lm, E, generator=g) for lm in lengths]


@pytest.mark.parametrize("depth", [1, 2])
def test_cls_fast_path_equals_full_last_block(depth):
    torch.manual_seed(0)
    tr = FusionTransformer(E, depth=depth, heads=HEADS)
    x = torch.randn(3, 7, E)
    out = tr(x)
    assert out.shape == (3, E)
    full = tr(x, return_tokens=True)
    assert full.shape == (3, 8, E)
    torch.testing.assert_close(out, full[:, 0], rtol=0, atol=1e-5)


def test_init_follows_spec():
    torch.manual_seed(0)
    tr = FusionTransformer(256, depth=2, heads=8)
    blk = tr.blocks[0]
    assert abs(blk.in_proj.weight.std().item() - 256**-0.5) < 0.1 * 256**-0.5
    assert abs(blk.out_proj.weight.std().item() - 256**-0.5 / 2) < 0.1 * 256**-0.5 / 2
    assert abs(blk.c_fc.weight.std().item() - 512**-0.5) < 0.1 * 512**-0.5
    assert abs(tr.cls_token.std().item() - 1.0) < 0.15
    assert blk.in_proj.bias.abs().max() == 0
    mf = MaskedFusion(256, 2)
    assert mf.mask_token.abs().max() <= 0.02 and mf.mask_token.requires_grad


@pytest.mark.parametrize("depth", [1, 2])
def test_key_padding_equals_running_the_subset_alone(depth):
    """Pre-LN + CLS pooling: padding keys is exactly dropping those tokens, whatever the padded values."""
    torch.manual_seed(0)
    tr = FusionTransformer(E, depth=depth, heads=HEADS)
    b, length = 4, 9
    x = torch.randn(b, length, E)
    pad = torch.rand(b, length) < 0.5
    pad[:, 0] = False
    pad[1] = True  # a sample with every token padded: only the CLS remains
    out = tr(x, pad)
    for i in range(b):
        torch.testing.assert_close(out[i], tr(x[i:i + 1, ~pad[i]])[0], rtol=0, atol=1e-5)
    x2 = torch.where(pad[..., None], torch.randn_like(x) * 100, x)
    torch.testing.assert_close(tr(x2, pad), out, rtol=0, atol=1e-5)
    with pytest.raises(ValueError):
        tr(x, pad[:, :-1])


@pytest.mark.parametrize("depth", [1, 3])
def test_forward_views_equals_stacked_forward(depth):
    torch.manual_seed(0)
    tr = FusionTransformer(E, depth=depth, heads=HEADS)
    x, fill = torch.randn(3, 8, E), torch.randn(E)
    keep, pad = torch.rand(5, 3, 8) < 0.6, torch.rand(5, 3, 8) < 0.3
    got = tr.forward_views(x, keep, fill, pad)
    ref = torch.stack([tr(torch.where(keep[v, ..., None], x, fill), pad[v]) for v in range(5)])
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(tr.forward_views(x, key_padding_mask=pad)[2], tr(x, pad[2]), rtol=0, atol=1e-5)
    with pytest.raises(ValueError):
        tr.forward_views(x, keep)  # fill missing


@pytest.mark.parametrize("depth", [1, 2])
def test_batched_equals_loop_given_same_masks(depth):
    """The acceptance test: one batched call == the per-view loop (outputs and gradients), fp32."""
    torch.manual_seed(0)
    mf = MaskedFusion(E, 3, depth=depth, heads=HEADS)
    tokens = [t.requires_grad_() for t in _tokens(lengths=(6, 4, 5))]
    gen = torch.Generator().manual_seed(3)
    out = mf(tokens, 4, 0.5, gen)
    ref = mf(tokens, 4, 0.5, masks=out.masks, batched=False)
    assert out.views.shape == (1 + 3 + 4, 5, E) and out.masked.shape == (4, 5, E)
    assert out.full.shape == (5, E) and len(out.unimodal) == 3
    torch.testing.assert_close(out.views, ref.views, rtol=0, atol=1e-5)
    # each piece means what it says
    torch.testing.assert_close(out.full, mf.transformer(torch.cat(tokens, 1)), rtol=0, atol=1e-5)
    torch.testing.assert_close(out.full, mf.fuse(tokens), rtol=0, atol=1e-5)
    torch.testing.assert_close(out.unimodal[1], mf.transformer(tokens[1]), rtol=0, atol=1e-5)
    # gradients agree too
    w = torch.randn_like(out.views)
    grads = torch.autograd.grad((out.views * w).sum(), [*tokens, *mf.parameters()])
    grads_ref = torch.autograd.grad((ref.views * w).sum(), [*tokens, *mf.parameters()])
    for g, gr in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, gr, rtol=1e-4, atol=1e-5)
    subsets, subsets_ref = mf.fuse_subsets(tokens), mf.fuse_subsets(tokens, batched=False)
    torch.testing.assert_close(subsets.views, out.views[:4], rtol=0, atol=1e-5)
    torch.testing.assert_close(subsets_ref.views, subsets.views, rtol=0, atol=1e-5)


def test_masked_view_replaces_dropped_tokens_with_the_mask_token():
    """Dropped tokens (values and position codes) vanish; the CLS is always present."""
    torch.manual_seed(0)
    mf = MaskedFusion(E, 2, heads=HEADS)
    tokens = _tokens()
    out = mf(tokens, 3, 0.5, torch.Generator().manual_seed(0))
    keep = out.masks
    x = torch.cat(tokens, 1)
    x2 = torch.where(keep[0, ..., None], x, torch.randn_like(x))
    out2 = mf(list(x2.split([6, 4], 1)), 3, 0.5, masks=keep)
    torch.testing.assert_close(out2.masked[0], out.masked[0], rtol=0, atol=1e-5)  # view 0 only
    ref = mf.transformer(torch.where(keep[1, ..., None], x, mf.mask_token))  # CLS prepended, never masked
    torch.testing.assert_close(out.masked[1], ref, rtol=0, atol=1e-5)
    assert (out.masked - out.full).abs().max() > 1e-3


def test_masks_keep_exact_counts_per_modality():
    lengths, b, t = (36, 36, 7), 6, 5
    masks = random_token_masks(b, lengths, 0.7, t, torch.Generator().manual_seed(0))
    assert masks.shape == (t, b, sum(lengths)) and masks.dtype == torch.bool  # no CLS entry: never masked
    counts = torch.stack([m.sum(-1) for m in masks.split(lengths, dim=-1)], -1)
    want = torch.tensor([int(lm * (1 - 0.7)) for lm in lengths])
    assert want.tolist() == [10, 10, 2]
    assert (counts == want).all()
    assert (random_token_masks(2, (5,), 0.0, 1)).all()
    # independent across views and samples
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[0, 0], masks[0, 1])


def test_masks_reproducible_with_a_seeded_generator():
    draw = lambda seed: random_token_masks(4, (9, 5), 0.5, 3, torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))
    torch.manual_seed(0)
    mf = MaskedFusion(E, 2, heads=HEADS)
    a = mf(_tokens(b=4, lengths=(9, 5)), 3, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(a.masks, draw(1))


def test_invalid_arguments_raise():
    torch.manual_seed(0)
    mf = MaskedFusion(E, 2, heads=HEADS)
    tokens = _tokens()
    for ratio in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="mask_ratio"):
            mf(tokens, 2, ratio)
    for t in (0, -1, 1.5):
        with pytest.raises(ValueError, match="T"):
            mf(tokens, t, 0.5)
    with pytest.raises(ValueError, match="2 token sequences"):
        mf(tokens[:1], 2, 0.5)
    with pytest.raises(ValueError, match="2 token sequences"):
        mf([*tokens, tokens[0]], 2, 0.5)
    with pytest.raises(ValueError):
        mf([tokens[0], tokens[1][:3]], 2, 0.5)  # batch sizes differ
    with pytest.raises(ValueError, match="masks"):
        mf(tokens, 2, 0.5, masks=torch.ones(3, 5, 10, dtype=torch.bool))
    with pytest.raises(ValueError):
        random_token_masks(2, (), 0.5, 1)
    with pytest.raises(ValueError):
        FusionTransformer(30, heads=4)


def test_bf16_autocast_close_to_fp32_and_gradients_flow():
    torch.manual_seed(0)
    mf = MaskedFusion(E, 2, heads=HEADS)
    tokens = [t.requires_grad_() for t in _tokens()]
    out = mf(tokens, 2, 0.5, torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = mf(tokens, 2, 0.5, masks=out.masks)
    assert torch.isfinite(low.views).all()
    assert (low.views.float() - out.views).abs().max() < 0.1
    low.views.float().sum().backward()
    assert all(t.grad is not None for t in tokens)
    assert mf.mask_token.grad is not None and mf.transformer.cls_token.grad is not None
