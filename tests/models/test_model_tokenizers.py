"""Tokenisers: sin-cos position codes, feature-map tokens, one token per feature group."""

import pytest
import torch

from synergy_lab.models import (
    FeatureGroupTokenizer,
    FeatureMapTokenizer,
    InputBlockTokenizer,
    VectorTokenizer,
    sincos_2d,
)


def test_sincos_layout_and_properties():
    gh, gw, dim = 3, 4, 16
    pe = sincos_2d(gh, gw, dim)
    assert pe.shape == (gh * gw, dim) and pe.dtype == torch.float32 and not pe.requires_grad
    q = dim // 4
    omega = 10000.0 ** (-torch.arange(q, dtype=torch.float64) / q)
    for h in range(gh):
        for w in range(gw):
            row = pe[h * gw + w].double()  # row-major token order, as feature_map.flatten(2)
            want = torch.cat([(w * omega).sin(), (w * omega).cos(), (h * omega).sin(), (h * omega).cos()])
            torch.testing.assert_close(row, want, rtol=0, atol=1e-6)
    assert pe.abs().max() <= 1.0
    torch.testing.assert_close(pe[0], torch.tensor([0.0] * q + [1.0] * q + [0.0] * q + [1.0] * q))
    # tokens of one column share the w half, tokens of one row share the h half; all codes distinct
    torch.testing.assert_close(pe[1, : 2 * q], pe[gw + 1, : 2 * q])
    torch.testing.assert_close(pe[gw, 2 * q:], pe[gw + 2, 2 * q:])
    assert torch.cdist(pe, pe).add(torch.eye(gh * gw)).min() > 0.1
    for bad in (6, 0):
        with pytest.raises(ValueError):
            sincos_2d(2, 2, bad)


def test_feature_map_tokenizer():
    torch.manual_seed(0)
    tok = FeatureMapTokenizer(8, 16, grid=3)
    fmap = torch.randn(2, 8, 3, 3)
    out = tok(fmap)
    assert out.shape == (2, 9, 16)
    proj = torch.einsum("bchw,ec->bhwe", fmap, tok.proj.weight[:, :, 0, 0]).flatten(1, 2) + tok.proj.bias
    torch.testing.assert_close(out - proj, sincos_2d(3, 3, 16).expand(2, 9, 16), rtol=0, atol=1e-5)
    # the codes are a buffer, not a parameter, and not saved; other grids are computed exactly
    assert all(p.shape != (9, 16) for p in tok.parameters()) and "pos_embed" not in tok.state_dict()
    out2 = tok(torch.randn(2, 8, 2, 5))
    assert out2.shape == (2, 10, 16)
    torch.testing.assert_close(tok.position_codes(2, 5), sincos_2d(2, 5, 16))
    with pytest.raises(ValueError):
        FeatureMapTokenizer(8, 10)


def test_feature_group_tokenizer_matches_per_group_linear():
    torch.manual_seed(0)
    sizes = [3, 1, 4]
    tok = FeatureGroupTokenizer(6, group_sizes=sizes)
    x = torch.randn(5, 8, requires_grad=True)
    out = tok(x)
    assert out.shape == (5, 3, 6)
    start, ref = 0, []
    for k, g in enumerate(sizes):  # reference: one small linear map per group
        ref.append(x[:, start:start + g] @ tok.weight[k, :g] + tok.bias[k])
        start += g
    torch.testing.assert_close(out, torch.stack(ref, 1), rtol=0, atol=1e-6)
    out.sum().backward()
    assert x.grad is not None and tok.weight.grad is not None


def test_feature_group_tokenizer_equal_groups_and_defaults():
    torch.manual_seed(0)
    tok = FeatureGroupTokenizer(4, in_dim=6, n_groups=2)
    x = torch.randn(3, 6)
    torch.testing.assert_close(tok(x)[:, 1], x[:, 3:] @ tok.weight[1] + tok.bias[1])
    assert FeatureGroupTokenizer(4, in_dim=5)(torch.randn(2, 5)).shape == (2, 5, 4)  # one token per feature
    bad = ({"in_dim": 7, "n_groups": 2}, {}, {"group_sizes": [2, 0]}, {"group_sizes": [2], "in_dim": 3})
    for kwargs in bad:
        with pytest.raises(ValueError):
            FeatureGroupTokenizer(4, **kwargs)
    with pytest.raises(ValueError):
        tok(torch.randn(3, 5))


def test_vector_tokenizer():
    assert VectorTokenizer(7, 12)(torch.randn(3, 7)).shape == (3, 1, 12)


def test_input_block_tokenizer_is_one_mlp_per_block():
    torch.manual_seed(0)
    tok = InputBlockTokenizer(12, 3, 6, hidden=5, n_layers=3)
    x = torch.randn(4, 12)
    out = tok(x)
    assert out.shape == (4, 3, 6)
    for j in range(3):  # reference: block j through its own ReLU MLP, no activation after the last layer
        h = x[:, 4 * j:4 * j + 4]
        for i, (w, b) in enumerate(zip(tok.weights, tok.biases, strict=True)):
            h = h @ w[j] + b.view(3, -1)[j]
            h = torch.relu(h) if i < 2 else h
        torch.testing.assert_close(out[:, j], h, rtol=0, atol=1e-6)
    assert [tuple(w.shape) for w in tok.weights] == [(3, 4, 5), (3, 5, 5), (3, 5, 6)]
    assert all(b.ndim == 1 for b in tok.biases)  # biases are not weight-decayed (the trainer's ndim rule)
    assert tok(torch.randn(2, 7, 12)).shape == (2, 7, 3, 6)  # extra leading axes


def test_input_block_tokens_depend_only_on_their_block():
    torch.manual_seed(1)
    tok = InputBlockTokenizer(16, 4, 8, hidden=10, n_layers=2)
    x = torch.randn(16)
    jac = torch.autograd.functional.jacobian(tok, x)  # (tokens, dim, in_dim)
    assert jac.shape == (4, 8, 16)
    for j in range(4):
        inside = torch.zeros(16, dtype=torch.bool)
        inside[4 * j:4 * j + 4] = True
        assert torch.all(jac[j][:, ~inside] == 0)
        assert jac[j][:, inside].abs().sum() > 0
    # the contrast: FeatureGroupTokenizer on an MLP encoding mixes every input feature into every token
    enc = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32))
    groups = FeatureGroupTokenizer(8, in_dim=32, n_groups=4)
    mixed = torch.autograd.functional.jacobian(lambda v: groups(enc(v)), x)
    assert torch.all(mixed.abs().sum(dim=1) > 0)


def test_input_block_tokenizer_rejects_bad_arguments():
    for kwargs, name in (({"in_dim": 10, "n_blocks": 4}, "in_dim"), ({"n_blocks": 0}, "n_blocks"),
                         ({"hidden": 0}, "hidden"), ({"n_layers": 0}, "n_layers"), ({"dim": 2.5}, "dim")):
        args = {"in_dim": 8, "n_blocks": 2, "dim": 4, **kwargs}
        with pytest.raises(ValueError, match=name):
            InputBlockTokenizer(**args)
    with pytest.raises(ValueError, match="input features"):
        InputBlockTokenizer(8, 2, 4)(torch.randn(3, 6))


@pytest.mark.parametrize("method", ["comm", "infmasking"])
def test_fusion_methods_take_the_tokenizer_from_the_config(method):
    from synergy_lab.methods import DataSpec, build_method
    from synergy_lab.train import TrainConfig

    spec = DataSpec(((16,), (24,)), n_classes={"redundancy": 4})
    model = {"tokenizer": "input_blocks", "n_tokens": 4, "encoder_hidden": 12, "fusion_dim": 16}
    torch.manual_seed(0)
    system = build_method(TrainConfig(method={"name": method}, model=model), spec)
    tokenizers = list(system.model["tokenizers"])
    assert all(isinstance(t, InputBlockTokenizer) for t in tokenizers)
    assert [t.in_dim for t in tokenizers] == [16, 24]
    assert all(isinstance(e, torch.nn.Identity) for e in system.model["encoders"])
    xs = [torch.randn(3, 16), torch.randn(3, 24)]
    assert [tuple(t.shape) for t in system.tokens(xs)] == [(3, 4, 16), (3, 4, 16)]
    assert system.features(xs).shape == (3, 16)
    default = build_method(TrainConfig(method={"name": method}), spec)
    assert all(isinstance(t, FeatureGroupTokenizer) for t in default.model["tokenizers"])
    with pytest.raises(ValueError, match="model.n_tokens"):
        build_method(TrainConfig(method={"name": method}, model={**model, "n_tokens": 5}), spec)


def test_model_config_checks_the_tokenizer():
    from synergy_lab.train import TrainConfig

    with pytest.raises(ValueError, match="model.tokenizer"):
        TrainConfig(model={"tokenizer": "patches"})
    with pytest.raises(ValueError, match="model.tokenizer"):
        TrainConfig(model={"tokenizer": "input_blocks", "encoder": "none"})
    assert TrainConfig().model.tokenizer == "feature_groups"
