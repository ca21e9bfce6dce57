"""Tests of the Trifeature renderer, the bimodal protocol (split, pairs, labels, mapping) and its cache."""

from __future__ import annotations

import warnings
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from synergy_lab.data import _trifeature_render as R
from synergy_lab.data.trifeature import (
    COLOURS,
    PROBE_TASKS,
    SHAPES,
    SPLITS,
    TEXTURES,
    BimodalTrifeature,
    TrifeatureCacheWarning,
    allowed_pair_count,
    balanced_accuracy,
    combination_attributes,
    make_bimodal_pairs,
    make_probe_pairs,
    make_trifeature_images,
    render_trifeature,
    split_combinations,
    texture_period,
    trifeature_mapping,
)


def all_combinations(n_repeat=1):
    s, t, c = np.meshgrid(np.arange(10), np.arange(10), np.arange(10), indexing="ij")
    return tuple(np.repeat(a.ravel(), n_repeat) for a in (s, t, c))


@pytest.fixture(scope="module")
def small():
    """The default layout (720/80/200 combinations; 3/3/1 renders) at 32 px: cheap to render."""
    return make_trifeature_images(seed=7, resolution=32)


# ---------------------------------------------------------------------------------------------- renderer

@pytest.mark.parametrize("resolution", [32, 64, 224])
def test_render_shape_dtype_background_and_colours(resolution):
    s, t, c = (np.arange(10),) * 3
    t = np.zeros(10, dtype=np.int64)  # solid: the shape's inside is exactly its colour
    images = render_trifeature(s, t, c, resolution, random_state=0)
    assert images.shape == (10, 3, resolution, resolution) and images.dtype == np.uint8
    corners = images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.all(corners == 128)  # grey background (.5 -> 127.5 rounded half up)
    for k in range(10):
        pixels = images[k].reshape(3, -1).T.astype(np.int64)
        expected = np.floor(COLOURS[k] * 255 + 0.5).astype(np.int64)  # rounded half up
        assert np.any(np.all(pixels == expected, axis=1))
        # Shape area from the coverage m = (pixel - grey) / (colour - grey): the template box spans 128/224 of
        # the side, and every shape covers 24-60% of it.
        ch = np.argmax(np.abs(expected - 128))
        area = np.sum((pixels[:, ch] - 128) / (expected[ch] - 128))
        assert 0.2 < area / (128 / 224 * resolution) ** 2 < 0.65, (SHAPES[k], area)
        others = pixels[~np.all(pixels == expected, axis=1) & ~np.all(pixels == 128, axis=1)]
        # Anti-aliased edge pixels lie between grey and the colour.
        lo, hi = np.minimum(expected, 128), np.maximum(expected, 128)
        assert np.all((others >= lo - 1) & (others <= hi + 1))


def test_every_texture_and_shape_is_distinct_and_visible():
    # 64 px, same parameters for all images; only the attribute changes.
    n = 10
    rng = np.random.default_rng(3)
    params = R.draw_render_params(np.zeros(n, dtype=np.int64), 64, rng)
    same = {k: np.repeat(v[:1], n) for k, v in params.items()}
    tex = R.render_images(np.full(n, 1), np.arange(n), np.full(n, 9), same, 64)
    shp = R.render_images(np.arange(n), np.zeros(n, dtype=np.int64), np.full(n, 9), same, 64)
    for images in (tex, shp):
        flat = images.reshape(n, -1).astype(np.int64)
        assert len({row.tobytes() for row in images.reshape(n, -1)}) == n
        assert np.all((flat != 128).sum(1) > 50)
    coverage = (tex[:, 0] > 128).mean(axis=(1, 2)) / (tex[0, 0] > 128).mean()
    assert np.all(coverage[1:] > 0.1) and np.all(coverage[1:] < 0.8)  # textures cover part of the shape


def test_same_seed_same_images_other_seed_other_images():
    s, t, c = np.random.default_rng(0).integers(0, 10, (3, 40))
    a = render_trifeature(s, t, c, 64, random_state=11)
    b = render_trifeature(s, t, c, 64, random_state=11)
    d = render_trifeature(s, t, c, 64, random_state=12)
    np.testing.assert_array_equal(a, b)
    assert np.mean(np.any(a != d, axis=(1, 2, 3))) > 0.9


def test_image_depends_only_on_its_own_parameters():
    s, t, c = all_combinations()
    keep = np.random.default_rng(1).choice(1000, 60, replace=False)
    images, params = render_trifeature(s, t, c, 48, random_state=5, return_params=True)
    sub = {k: v[keep] for k, v in params.items()}
    np.testing.assert_array_equal(R.render_images(s[keep], t[keep], c[keep], sub, 48), images[keep])
    # ... and not on the chunking either.
    old = R.CHUNK_PIXELS
    try:
        R.CHUNK_PIXELS = 1
        np.testing.assert_array_equal(R.render_images(s[keep], t[keep], c[keep], sub, 48), images[keep])
    finally:
        R.CHUNK_PIXELS = old


def test_render_threads_restored_and_validation():
    before = torch.get_num_threads()
    render_trifeature([0], [1], [2], 32, random_state=0)
    assert torch.get_num_threads() == before
    for bad in (31, 225, 64.0, True):
        with pytest.raises(ValueError):
            render_trifeature([0], [0], [0], bad, random_state=0)
    with pytest.raises(ValueError):
        render_trifeature([10], [0], [0], 32, random_state=0)
    with pytest.raises(ValueError):
        render_trifeature([0, 1], [0], [0], 32, random_state=0)
    assert render_trifeature([], [], [], 32, random_state=0).shape == (0, 3, 32, 32)


def test_texture_period_never_below_6_px():
    assert texture_period(224) == pytest.approx(10.0)
    assert texture_period(64) == texture_period(32) == 6.0
    assert texture_period(160) == pytest.approx(10 * 160 / 224)
    assert R.window_size(224) <= 224 and R.window_size(32) <= 32


# -------------------------------------------------------------------------------------- split and pairs

@pytest.mark.parametrize("design", ["balanced", "random"])
@pytest.mark.parametrize("seed", [0, 42])
def test_split_invariants(seed, design):
    combos = split_combinations(seed, design=design)
    sizes = {k: len(v) for k, v in combos.items()}
    assert sizes == ({"train": 700, "val": 100, "test": 200} if design == "balanced"
                     else {"train": 720, "val": 80, "test": 200})
    allc = np.concatenate(list(combos.values()))
    assert np.array_equal(np.sort(allc), np.arange(1000))  # a partition: disjoint and complete
    paper = split_combinations(seed, validation_fraction=0.0, design=design)
    assert len(paper["train"]) == 800 and len(paper["val"]) == 0
    np.testing.assert_array_equal(paper["test"], combos["test"])  # validation is carved from train only
    assert set(combos["train"]) | set(combos["val"]) == set(paper["train"])
    other = split_combinations(seed + 1, design=design)
    assert not np.array_equal(other["test"], combos["test"])


@pytest.mark.parametrize("seed", [0, 42])
def test_balanced_design_has_every_attribute_pair_equally_often(seed):
    combos = split_combinations(seed, design="balanced")
    for split, per_pair in (("train", 7), ("val", 1), ("test", 2)):
        attrs = combination_attributes(combos[split])
        for a, b in ((0, 1), (0, 2), (1, 2)):
            counts = np.zeros((10, 10), dtype=int)
            np.add.at(counts, (attrs[a], attrs[b]), 1)
            assert np.all(counts == per_pair), (split, a, b)
    with pytest.raises(ValueError, match="multiples of 0.1"):
        split_combinations(seed, test_fraction=0.25, design="balanced")
    assert len(split_combinations(seed, test_fraction=0.25, design="random")["test"]) == 250
    with pytest.raises(ValueError):
        split_combinations(seed, design="latin")


def test_images_follow_the_split(small):
    d = small
    counts = {s: d.indices(s).size for s in SPLITS}
    assert counts == {"train": 700 * 3, "val": 100 * 3, "test": 200}
    for s in SPLITS:
        np.testing.assert_array_equal(d.combinations(s), split_combinations(7)[s])
    assert not set(d.combinations("test")) & set(d.combinations("train"))  # test combinations unseen
    assert not set(d.combinations("val")) & (set(d.combinations("train")) | set(d.combinations("test")))
    np.testing.assert_array_equal(np.stack(combination_attributes(d.combination)),
                                  np.stack([d.shape, d.texture, d.colour]))
    paper = make_trifeature_images(seed=7, resolution=32, validation_fraction=0.0, design="random")
    assert {s: paper.indices(s).size for s in SPLITS} == {"train": 2400, "val": 0, "test": 200}
    other = make_trifeature_images(seed=7, resolution=32, renders_per_train=2, renders_per_test=4,
                                   renders_per_val=1, validation_fraction=0.0)
    assert {s: other.indices(s).size for s in SPLITS} == {"train": 1600, "val": 0, "test": 800}
    with pytest.raises(ValueError):
        make_trifeature_images(seed=7, resolution=32, renders_per_train=0)
    with pytest.raises(ValueError):
        make_trifeature_images(seed=-1, resolution=32)


def test_balanced_pair_counts_in_closed_form(small):
    # Balanced design, k combinations per (shape, texture) and r renders: n_s = 10 k r images per shape, so
    # sum_s n_s^2 = 10 (10 k r)^2 pairs, and A[s, t] = B[s, c] = k r gives 100 (k r)^2 biased pairs.
    for split, k, r in (("train", 7, 3), ("val", 1, 3), ("test", 2, 1)):
        assert allowed_pair_count(small, split) == 10 * (10 * k * r) ** 2
        assert allowed_pair_count(small, split, biased=True) == 100 * (k * r) ** 2
    # ... and the synergy label is exactly independent of either image: 1/10 positives for every image.
    for split in SPLITS:
        pairs = make_bimodal_pairs(small, split, max_pairs=None)
        for idx in (pairs.idx1, pairs.idx2):
            used = np.unique(idx)
            rate = np.bincount(idx, weights=pairs.labels["synergy"])[used] / np.bincount(idx)[used]
            np.testing.assert_allclose(rate, 0.1)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("biased", [False, True])
def test_pair_counts_equal_the_analytic_counts(small, split, biased):
    d = small
    pairs = make_bimodal_pairs(d, split, biased=biased, max_pairs=None)
    assert pairs.n_allowed == len(pairs) == allowed_pair_count(d, split, biased)
    idx = d.indices(split)
    n_s = np.bincount(d.shape[idx], minlength=10)
    if not biased:
        assert pairs.n_allowed == np.sum(n_s**2)
    # Brute force over all ordered pairs of the split.
    i, j = np.meshgrid(idx, idx, indexing="ij")
    ok = d.shape[i] == d.shape[j]
    if biased:
        ok &= d.mapping[d.texture[i]] == d.colour[j]
    assert pairs.n_allowed == int(ok.sum())
    n = d.n_images
    np.testing.assert_array_equal(np.sort(pairs.idx1 * n + pairs.idx2), np.sort(i[ok] * n + j[ok]))
    lab = pairs.labels
    np.testing.assert_array_equal(lab["redundancy"], d.shape[pairs.idx1])
    np.testing.assert_array_equal(lab["redundancy"], d.shape[pairs.idx2])
    np.testing.assert_array_equal(lab["unique1"], d.texture[pairs.idx1])
    np.testing.assert_array_equal(lab["unique2"], d.texture[pairs.idx2])
    np.testing.assert_array_equal(lab["synergy"], d.mapping[d.texture[pairs.idx1]] == d.colour[pairs.idx2])
    if biased:
        assert np.all(lab["synergy"] == 1)


def test_sub_sampling_without_replacement(small):
    full = make_bimodal_pairs(small, "train", max_pairs=None)
    assert full.n_allowed > 10_000
    a = make_bimodal_pairs(small, "train", max_pairs=10_000, random_state=3)
    b = make_bimodal_pairs(small, "train", max_pairs=10_000, random_state=3)
    c = make_bimodal_pairs(small, "train", max_pairs=10_000, random_state=4)
    assert len(a) == 10_000 and a.n_allowed == full.n_allowed
    keys = a.idx1 * small.n_images + a.idx2
    assert np.unique(keys).size == 10_000
    assert np.isin(keys, full.idx1 * small.n_images + full.idx2).all()
    np.testing.assert_array_equal(a.idx1, b.idx1)
    assert not np.array_equal(a.idx1 * 10**6 + a.idx2, c.idx1 * 10**6 + c.idx2)
    test = make_bimodal_pairs(small, "test", max_pairs=10_000, random_state=3)
    assert len(test) == test.n_allowed == allowed_pair_count(small, "test")  # fewer than 10,000: all kept
    biased = make_bimodal_pairs(small, "train", biased=True, max_pairs=10_000, random_state=3)
    assert len(biased) == 10_000 < biased.n_allowed == allowed_pair_count(small, "train", True)
    probes = make_probe_pairs(small, random_state=0)
    assert set(probes) == set(SPLITS) and not any(p.biased for p in probes.values())
    assert set(probes["test"].labels) == set(PROBE_TASKS)
    with pytest.raises(ValueError):
        make_bimodal_pairs(small, "train", max_pairs=0)
    with pytest.raises(ValueError):
        small.indices("validation")


def test_mapping_has_its_own_stream(tmp_path):
    pi = trifeature_mapping(42)
    assert sorted(pi.tolist()) == list(range(10))
    assert not all(np.array_equal(pi, trifeature_mapping(s)) for s in range(1, 4))
    uncached = make_trifeature_images(42, 32)
    first = make_trifeature_images(42, 32, cache_dir=tmp_path)  # renders and writes the cache
    second = make_trifeature_images(42, 32, cache_dir=tmp_path)  # reads it
    other = make_trifeature_images(42, 40, renders_per_train=1, renders_per_test=2)
    assert not first.params["from_cache"] and second.params["from_cache"]
    for d in (uncached, first, second, other):
        np.testing.assert_array_equal(d.mapping, pi)
    np.testing.assert_array_equal(uncached.images, second.images)
    for s in SPLITS:  # the split does not depend on rendering either
        np.testing.assert_array_equal(other.combinations(s), uncached.combinations(s))


# --------------------------------------------------------------------------------------------- the cache

def _cache_file(tmp_path):
    (path,) = list(tmp_path.glob("trifeature_*.npz"))
    return path


def test_cache_key_and_round_trip(tmp_path):
    d = make_trifeature_images(3, 32, renders_per_train=1, cache_dir=tmp_path)
    path = _cache_file(tmp_path)
    assert path.name.startswith(f"trifeature_seed3_res32_n{d.n_images}_")
    assert str(path) == d.params["cache_path"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = make_trifeature_images(3, 32, renders_per_train=1, cache_dir=tmp_path)
    assert again.params["from_cache"]
    np.testing.assert_array_equal(again.images, d.images)
    # Another layout gets another file, never the first one's images.
    other = make_trifeature_images(3, 32, renders_per_train=2, cache_dir=tmp_path)
    assert not other.params["from_cache"] and len(list(tmp_path.glob("*.npz"))) == 2


def _corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_flip(path):
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + 64):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_empty(path):
    path.write_bytes(b"")


def _corrupt_pixel(path):
    """A well-formed npz whose image array was altered (its stored sha256 no longer matches)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["images"][5, 0, 10, 10] ^= 1
    np.savez_compressed(path, **arrays)


def _corrupt_attributes(path):
    """A well-formed npz that claims other attributes than the layout of its key."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["colour"] = (arrays["colour"] + 1) % 10
    np.savez_compressed(path, **arrays)


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_flip, _corrupt_empty, _corrupt_pixel,
                                     _corrupt_attributes])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, corrupt):
    d = make_trifeature_images(5, 32, renders_per_train=1, cache_dir=tmp_path)
    path = _cache_file(tmp_path)
    corrupt(path)
    with pytest.warns(TrifeatureCacheWarning, match="unusable"):
        rebuilt = make_trifeature_images(5, 32, renders_per_train=1, cache_dir=tmp_path)
    assert not rebuilt.params["from_cache"]
    np.testing.assert_array_equal(rebuilt.images, d.images)
    np.testing.assert_array_equal(rebuilt.colour, d.colour)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is sound again
        assert make_trifeature_images(5, 32, renders_per_train=1, cache_dir=tmp_path).params["from_cache"]
    assert zipfile.is_zipfile(path)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file behind


# ------------------------------------------------------------------------------------ torch-facing pairs

def test_bimodal_trifeature_batches(small):
    pairs = make_bimodal_pairs(small, "val", max_pairs=1000, random_state=0)
    ds = BimodalTrifeature(small, pairs)
    assert len(ds) == 1000 and ds.images.dtype == torch.uint8
    seen = []
    for x1, x2, labels in ds.batches(128, generator=torch.Generator().manual_seed(0)):
        assert x1.shape[1:] == (3, 32, 32) and x1.shape == x2.shape and x1.dtype == torch.uint8
        assert set(labels) == set(PROBE_TASKS)
        seen.append(labels["synergy"].numel())
    assert sum(seen) == 1000 and seen[-1] == 1000 % 128
    x1, x2, labels = ds[torch.arange(3)]
    np.testing.assert_array_equal(x1.numpy(), small.images[pairs.idx1[:3]])
    np.testing.assert_array_equal(x2.numpy(), small.images[pairs.idx2[:3]])
    order1 = [b[2]["unique1"] for b in ds.batches(100, generator=torch.Generator().manual_seed(1))]
    order2 = [b[2]["unique1"] for b in ds.batches(100, generator=torch.Generator().manual_seed(1))]
    assert all(torch.equal(a, b) for a, b in zip(order1, order2, strict=True))
    assert sum(b[0].shape[0] for b in ds.batches(128, drop_last=True)) == 1000 - 1000 % 128


def test_balanced_accuracy_matches_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))
    assert balanced_accuracy(y, y) == 1.0


# ------------------------------------------------------------------------------------ what is learnable

@pytest.mark.parametrize("design", ["balanced", "random"])
def test_synergy_label_is_not_predictable_from_one_image(design):
    """A probe on everything one image shows (one-hot shape, texture and colour of image 1, or of image 2)
    trained on unbiased train pairs is at chance on unbiased test pairs; the pair's (texture 1, colour 2)
    predicts it perfectly (positive control).

    Balanced design: within +-3 points of 50% (the label is exactly independent of each image in every
    split). Random design (the public protocol): never above chance, but it can fall several points *below*
    it, because the split's counts of a (shape, texture) in train and in test are anti-correlated.
    """
    d = make_trifeature_images(seed=0, resolution=32, renders_per_test=3, design=design)  # >30k test pairs
    train = make_bimodal_pairs(d, "train", max_pairs=20_000, random_state=0)
    test = make_bimodal_pairs(d, "test", max_pairs=None)
    assert len(test) > 30_000

    def onehot(*columns):
        return np.concatenate([np.eye(10)[c] for c in columns], axis=1)

    def features(pairs, which):
        i = pairs.idx1 if which == 1 else pairs.idx2
        return onehot(d.shape[i], d.texture[i], d.colour[i])

    def probe(xtr, xte, **kw):
        clf = LogisticRegression(class_weight="balanced", max_iter=2000, **kw)
        clf.fit(xtr, train.labels["synergy"])
        return balanced_accuracy(test.labels["synergy"], clf.predict(xte))

    for which in (1, 2):
        score = probe(features(train, which), features(test, which))
        if design == "balanced":
            assert abs(score - 0.5) <= 0.03, (which, score)
        else:
            assert score <= 0.53, (which, score)

    def joint(pairs):
        return np.eye(100)[d.texture[pairs.idx1] * 10 + d.colour[pairs.idx2]]

    assert probe(joint(train), joint(test), C=100.0) > 0.99


def _renders(n, seed, resolution=64):
    s, t, c = np.random.default_rng(seed).integers(0, 10, (3, n))
    images = render_trifeature(s, t, c, resolution, random_state=seed + 1)
    return torch.from_numpy(images).float().div_(255.0), np.stack([s, t, c], 1)


def test_attributes_recoverable_from_pixels_at_64px():
    """Shape, texture and colour are each predicted above 90% on 500 held-out renders (other seed, random
    combinations) at 64 px, by generic probes on pixels:

    * colour: logistic regression on 8x8 average-pooled pixels;
    * texture: logistic regression on the log power spectrum of the pixels (translation invariant);
    * shape: a 4-layer CNN on 2x average-pooled pixels, trained 12 epochs on 1,500 fresh renders each.
    """
    torch.manual_seed(0)
    x_tr, y_tr = _renders(1500, 0)
    x_te, y_te = _renders(500, 100)

    def logistic(f, k, C):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000, tol=1e-3))
        clf.fit(f(x_tr), y_tr[:, k])
        return clf.score(f(x_te), y_te[:, k])

    def pooled(x):
        return F.avg_pool2d(x, 8).flatten(1).numpy()

    def spectrum(x):
        p = torch.fft.rfft2(x - x.mean((2, 3), keepdim=True)).abs().pow(2).sum(1)
        p = F.avg_pool2d(torch.fft.fftshift(p, dim=1)[:, None], 2, ceil_mode=True)
        return torch.log1p(p).flatten(1).numpy()

    accuracy = {"colour": logistic(pooled, 2, 0.1), "texture": logistic(spectrum, 1, 0.03)}

    def block(i, o):
        return [torch.nn.Conv2d(i, o, 3, padding=1, bias=False), torch.nn.BatchNorm2d(o), torch.nn.ReLU()]

    w = 16
    net = torch.nn.Sequential(*block(3, w), torch.nn.MaxPool2d(2), *block(w, 2 * w), torch.nn.MaxPool2d(2),
                              *block(2 * w, 4 * w), torch.nn.MaxPool2d(2), *block(4 * w, 4 * w),
                              torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4 * w, 10))
    epochs, per_epoch, batch, lr = 12, 1500, 32, 5e-3
    opt = torch.optim.Adam(net.parameters(), lr)
    steps = epochs * per_epoch // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)

    def down(x):
        return F.avg_pool2d(x - 0.5, 2)

    xs, ys = down(x_tr), torch.from_numpy(y_tr[:, 0])
    for epoch in range(epochs):
        if epoch:
            x, y = _renders(per_epoch, 1000 + epoch)
            xs, ys = down(x), torch.from_numpy(y[:, 0])
        net.train()
        perm = torch.randperm(per_epoch)
        for k in range(0, per_epoch - batch + 1, batch):
            b = perm[k:k + batch]
            loss = F.cross_entropy(net(xs[b]), ys[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        accuracy["shape"] = (net(down(x_te)).argmax(1).numpy() == y_te[:, 0]).mean()
    print("held-out accuracy at 64 px:", accuracy)
    assert min(accuracy.values()) > 0.9, accuracy
    assert len(TEXTURES) == len(SHAPES) == len(COLOURS) == 10


def test_pair_factors_and_exact_ground_truth_of_a_pair_set(small):
    """The factors each probe task depends on, and the exact PID of the pairs' (f1, f2, label) table: unbiased
    pairs carry the synergy label only jointly (S = H(Y)), the shape redundantly, each texture uniquely."""
    from synergy_lab.data.trifeature import trifeature_ground_truth
    from synergy_lab.evaluate import entropy_bits

    pairs = make_bimodal_pairs(small, "test", max_pairs=None)
    f1, f2 = pairs.factors["synergy"]
    np.testing.assert_array_equal(f1, small.texture[pairs.idx1])
    np.testing.assert_array_equal(f2, small.colour[pairs.idx2])
    np.testing.assert_array_equal(pairs.labels["synergy"], small.mapping[f1] == f2)
    truth = trifeature_ground_truth(pairs).set_index("target")
    h = {t: entropy_bits(pairs.labels[t]) for t in pairs.labels}
    assert truth.loc["synergy", "synergy"] == pytest.approx(h["synergy"], abs=1e-6)  # balanced split design
    assert abs(truth.loc["synergy", "redundancy"]) < 1e-6 and abs(truth.loc["synergy", "unique1"]) < 1e-6
    assert truth.loc["redundancy", "redundancy"] == pytest.approx(h["redundancy"], abs=1e-6)
    assert truth.loc["unique1", "unique1"] == pytest.approx(h["unique1"], abs=1e-6)
    assert truth.loc["unique2", "unique2"] == pytest.approx(h["unique2"], abs=1e-6)
