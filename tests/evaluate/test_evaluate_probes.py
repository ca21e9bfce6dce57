"""Linear probes (balanced accuracy) and one-pass feature extraction."""

import numpy as np
import pytest
import torch

from synergy_lab.evaluate import chance_level, extract_features, linear_probe, probe_targets


def _blobs(n, k, d, sep, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(0, 1, (k, d)) * sep
    return centres[y] + rng.normal(0, 1, (n, d)), y


def test_linear_probe_separable_vs_random():
    x, y = _blobs(600, 4, 8, sep=10.0, seed=0)
    assert linear_probe(x[:400], y[:400], x[400:], y[400:]) > 0.98
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(600, 8))
    acc = linear_probe(noise[:400], y[:400], noise[400:], y[400:], random_state=rng)
    assert abs(acc - 0.25) < 0.12  # chance for 4 classes


def test_balanced_accuracy_ignores_class_imbalance():
    # 90% of the test set is class 0; predicting 0 everywhere would score 0.9 accuracy but 0.5 balanced.
    x = np.r_[np.zeros((90, 1)), np.ones((10, 1))] + np.random.default_rng(0).normal(0, 0.01, (100, 1))
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    assert linear_probe(x, y, x, y) == pytest.approx(1.0)
    assert linear_probe(x, y, np.zeros((100, 1)), y) == pytest.approx(0.5)
    assert chance_level(y) == 0.5


def test_probe_targets_and_errors():
    x, y = _blobs(300, 3, 5, sep=8.0, seed=2)
    res = probe_targets(x[:200], {"a": y[:200]}, x[200:], {"a": y[200:]})
    assert res["a"]["n_classes"] == 3 and res["a"]["chance"] == pytest.approx(1 / 3)
    assert res["a"]["balanced_accuracy"] > 0.95
    with pytest.raises(ValueError, match="unknown target 'b'"):
        probe_targets(x, {"a": y}, x, {"a": y}, targets=["b"])
    with pytest.raises(ValueError, match="train_y must have shape"):
        linear_probe(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(np.full_like(x, np.nan), y, x, y)
    with pytest.raises(ValueError, match="width"):
        linear_probe(x, y, x[:, :2], y)
    with pytest.raises(ValueError, match="two classes"):
        linear_probe(x, np.zeros(len(y), int), x, y)


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(3)

    def features(self, xs):
        return self.bn(torch.cat(xs, dim=1))


def test_extract_features_batches_in_eval_mode_and_restores_train_mode():
    model = _Model()
    x1, x2 = torch.randn(10, 2), torch.randn(10, 1)
    model.train()
    feats = extract_features(model, [x1, x2], batch_size=3)
    assert model.training and feats.shape == (10, 3) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, torch.cat([x1, x2], 1).numpy() / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert model.bn.num_batches_tracked.item() == 0  # eval mode: running statistics untouched
    plain = extract_features(lambda xs: xs[0] * 2, [np.ones((4, 2), np.float32)], batch_size=2)
    np.testing.assert_array_equal(plain, np.full((4, 2), 2.0, np.float32))
    with pytest.raises(ValueError, match="row-aligned"):
        extract_features(model, [x1, x2[:5]])


def test_probe_targets_scores_further_splits_with_the_same_probe():
    x, y = _blobs(400, 3, 5, sep=8.0, seed=3)
    labels = lambda part: {"a": y[part]}  # noqa: E731
    res = probe_targets(x[:200], labels(slice(0, 200)), x[200:300], labels(slice(200, 300)),
                        more_tests={"val": (x[300:], labels(slice(300, None)))})
    alone = linear_probe(x[:200], y[:200], x[300:], y[300:])
    assert res["a"]["val_balanced_accuracy"] == pytest.approx(alone)
    first = linear_probe(x[:200], y[:200], x[200:300], y[200:300])
    assert res["a"]["balanced_accuracy"] == pytest.approx(first)
    with pytest.raises(ValueError, match="unknown target 'a'"):
        probe_targets(x[:200], labels(slice(0, 200)), x[200:], labels(slice(200, None)),
                      more_tests={"val": (x[300:], {"b": y[300:]})})
    with pytest.raises(ValueError, match="train and val features differ in width"):
        probe_targets(x[:200], labels(slice(0, 200)), x[200:], labels(slice(200, None)),
                      more_tests={"val": (x[300:, :2], labels(slice(300, None)))})


def test_extract_features_gathers_pair_sets_batch_by_batch():
    class Pairs:
        """Index-based pairs: rows of one shared source tensor."""

        def __init__(self):
            self.source, self.rows = torch.randn(6, 2), torch.tensor([5, 0, 3, 3, 1, 2, 4])
            self.calls = []

        def __len__(self):
            return len(self.rows)

        def gather(self, index):
            self.calls.append(index)
            return [self.source[self.rows[index]], self.source[self.rows[index]] * 2]

    pairs = Pairs()
    feats = extract_features(lambda xs: torch.cat(xs, 1), pairs, batch_size=3)
    expected = torch.cat([pairs.source[pairs.rows], 2 * pairs.source[pairs.rows]], 1).numpy()
    np.testing.assert_allclose(feats, expected)
    assert len(pairs.calls) == 3  # 7 pairs in batches of 3
