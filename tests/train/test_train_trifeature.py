"""Bimodal Trifeature in the trainer: index-based pairs on the device, the R/U/S probes on the validation and
test splits, the SimCLR augmentation flag, config errors, and a learning signal on tiny 32-px runs."""

import numpy as np
import pytest
import torch
from _train_helpers import tiny_config

from synergy_lab.data.trifeature import make_bimodal_pairs, make_trifeature_images
from synergy_lab.methods import make_augment
from synergy_lab.train import TrainConfig, train
from synergy_lab.train.data import build_run_data
from synergy_lab.train.trainer import Trainer

TRIFEATURE = {"name": "trifeature", "params": {"resolution": 32}, "n_train": 512, "n_probe": 1000,
              "n_val": 400, "seed": 7}
SMALL_CNN = {"encoder": "small_cnn", "cnn_downsample": "stride", "encoder_hidden": 8, "encoder_out": 32,
             "grid": 2, "fusion_dim": 32}


def trifeature_config(name="infmasking", steps=3, **overrides):
    """:func:`tiny_config` on 32-px Trifeature pairs with a strided small CNN (4 tokens per image)."""
    base = tiny_config(name, steps=steps, batch_size=32).to_dict()
    sections = {**base, "data": dict(TRIFEATURE), "model": {**base["model"], **SMALL_CNN},
                "eval": {**base["eval"], "targets": None}}
    for key, value in overrides.items():
        sections[key] = {**sections[key], **value}
    return TrainConfig(**sections)


@pytest.fixture(scope="module")
def run_data():
    return build_run_data(trifeature_config(), torch.device("cpu"))


def test_pairs_are_indices_into_one_image_tensor(run_data):
    images = make_trifeature_images(seed=7, resolution=32)
    expected = make_bimodal_pairs(images, "train", biased=True, max_pairs=None)
    train = run_data.train
    assert len(train) == 512 and train.rows is not None
    shared = train.sources[0]
    for pairs in (run_data.train, run_data.probe, run_data.val, run_data.test):
        assert all(x.data_ptr() == shared.data_ptr() for x in pairs.sources), "pair sets copy the images"
    index = torch.arange(0, 512, 37)
    x1, x2 = train.gather(index)
    np.testing.assert_array_equal(x1.numpy(), images.images[train.rows[0][index].numpy()])
    np.testing.assert_array_equal(x2.numpy(), images.images[train.rows[1][index].numpy()])
    # Biased training pairs: every one satisfies the mapping, and they are drawn from the allowed pairs.
    i, j = (r.numpy() for r in train.rows)
    assert (images.mapping[images.texture[i]] == images.colour[j]).all()
    assert (images.shape[i] == images.shape[j]).all()
    assert set(zip(i, j, strict=True)) <= set(zip(expected.idx1, expected.idx2, strict=True))


def test_probe_sets_come_from_their_splits_and_are_unbiased(run_data):
    images = make_trifeature_images(seed=7, resolution=32)
    for pairs, split in ((run_data.probe, 0), (run_data.val, 1), (run_data.test, 2)):
        i, j = (r.numpy() for r in pairs.rows)
        assert (images.split[i] == split).all() and (images.split[j] == split).all()
        syn = pairs.targets["synergy"].numpy()
        assert 0 < syn.mean() < 0.5, "probe pairs must be unbiased (both synergy labels)"
        np.testing.assert_array_equal(syn, images.mapping[images.texture[i]] == images.colour[j])
        np.testing.assert_array_equal(pairs.targets["redundancy"].numpy(), images.shape[i])
    assert len(run_data.probe) == 1000 and len(run_data.val) == 400 and len(run_data.test) == 400
    assert run_data.spec.shapes == ((3, 32, 32), (3, 32, 32))
    assert run_data.spec.n_classes == {"redundancy": 10, "unique1": 10, "unique2": 10, "synergy": 2}


def test_trifeature_run_reports_validation_and_test_probes():
    """Fair probes fitted on the train-split probe pairs, their C chosen on validation pairs (the validation
    score) and scored on the (reported) test pairs; the truth is the test pairs' exact PID."""
    from synergy_lab.evaluate import extract_features, fit_selected_probe
    from synergy_lab.evaluate.protocols import balanced_accuracy

    trainer = Trainer(trifeature_config("infmasking", steps=3))
    result = trainer.fit()
    assert len(result.losses) == 3 and np.isfinite(result.losses).all()
    assert set(result.metrics) == {"redundancy", "unique1", "unique2", "synergy"}
    assert result.metrics["synergy"]["chance"] == pytest.approx(0.5)
    data = trainer.data
    bs = trainer.config.eval.batch_size  # the trainer's batches: bit-identical features
    feats = {name: extract_features(result.system, pairs, bs) for name, pairs in
             (("probe", data.probe), ("val", data.val), ("test", data.test))}
    for target, probe in result.metrics.items():
        labels = {name: pairs.targets[target].numpy() for name, pairs in
                  (("probe", data.probe), ("val", data.val), ("test", data.test))}
        fair = fit_selected_probe(feats["probe"], labels["probe"], feats["val"], labels["val"],
                                  random_state=trainer.config.seed)
        assert probe["val_balanced_accuracy"] == pytest.approx(fair.val_score), target
        assert probe["balanced_accuracy"] == pytest.approx(
            balanced_accuracy(labels["test"], fair.predict(feats["test"]))), target
    # Unbiased pairs: the label is (almost: 400 sub-sampled pairs) pure synergy of texture 1 and colour 2.
    assert result.metrics["synergy"]["truth_readout_S"] > 0.9 * result.metrics["synergy"]["truth_bits"]


def test_supervised_shape_classifier_learns_on_trifeature():
    """Learning signal end to end: a supervised CNN on the shared shape beats chance (10%) on test pairs."""
    cfg = trifeature_config("supervised", steps=100, method={"target": "redundancy"},
                            data={"augment": "none"}, optim={"lr": 3e-3}, eval={"targets": ["redundancy"]})
    result = train(cfg)
    losses = np.array(result.losses)
    assert losses[-10:].mean() < losses[:10].mean() - 0.3, "loss did not fall"
    probe = result.metrics["redundancy"]
    # 400 test pairs: the standard error of a balanced accuracy near 0.15 is about 0.02.
    assert probe["balanced_accuracy"] > probe["chance"] + 0.05, probe


def test_colour_jitter_flag_reaches_the_augmentation(run_data):
    for flag in (True, False):
        cfg = trifeature_config(data={"colour_jitter": flag})
        assert make_augment(cfg, run_data.spec).augment.colour_jitter is flag


def test_without_validation_split_the_test_split_is_reported():
    cfg = trifeature_config(data={"params": {"resolution": 32, "validation_fraction": 0.0}})
    data = build_run_data(cfg, torch.device("cpu"))
    assert data.val is None and list(data.held_out()) == ["test"]


@pytest.mark.parametrize("data, message", [
    ({"params": {"resolution": 32, "desing": "random"}}, r"data.params.desing: unknown parameter"),
    ({"params": {"resolution": 32, "design": "latin"}}, r"data.params.design: unknown value 'latin'"),
    ({"params": {"resolution": 300}}, r"data.params.resolution must be <= 224"),
    ({"params": {"resolution": 32, "renders_per_train": 0}}, r"data.params.renders_per_train must be >= 1"),
    ({"params": {"resolution": 32, "test_fraction": 1.0}}, r"data.params.test_fraction must be in"),
    ({"params": {"resolution": 32, "test_fraction": 0.15}}, r"test_fraction: the balanced design"),
    ({"colour_jitter": "no"}, r"data.colour_jitter must be true or false"),
])
def test_bad_trifeature_config_raises(data, message):
    with pytest.raises((ValueError, TypeError), match=message):
        trifeature_config(data=data)


def test_more_training_pairs_than_allowed_raises():
    cfg = trifeature_config(data={"n_train": 10**6})
    with pytest.raises(ValueError, match=r"data.n_train: the biased training split .* allows only"):
        build_run_data(cfg, torch.device("cpu"))


def test_cnn_downsample_choice():
    with pytest.raises(ValueError, match=r"model.cnn_downsample: unknown value 'avg'"):
        TrainConfig(data=TRIFEATURE, model={**SMALL_CNN, "cnn_downsample": "avg"})


def test_crop_scale_reaches_the_augmentation_and_is_validated(run_data):
    cfg = trifeature_config(data={"crop_scale": [0.25, 1.0]})
    assert make_augment(cfg, run_data.spec).augment.scale == (0.25, 1.0)
    for bad, message in (([0.5], "pair of area fractions"), ([0.8, 0.5], "increasing"),
                         ([0.0, 1.0], r"crop_scale\[0\] must be in")):
        with pytest.raises(ValueError, match=message):
            trifeature_config(data={"crop_scale": bad})


def test_cache_dir_is_not_part_of_the_fingerprint():
    a = trifeature_config(data={"params": {"resolution": 32, "cache_dir": "/tmp/a"}})
    b = trifeature_config(data={"params": {"resolution": 32, "cache_dir": "/tmp/b"}})
    assert a.fingerprint() == b.fingerprint() == trifeature_config().fingerprint()


def test_config_choice_lists_match_the_modules_they_mirror():
    """config.py repeats the CNN downsampling list because its module imports torch; it must not drift apart.
    The Trifeature designs are checked by the data registry itself (no copy to keep in sync)."""
    from synergy_lab.models.encoders import DOWNSAMPLES
    from synergy_lab.train.config import CNN_DOWNSAMPLES

    assert CNN_DOWNSAMPLES == DOWNSAMPLES
    with pytest.raises(ValueError, match="data.params.design"):
        trifeature_config(data={"params": {"resolution": 32, "design": "striped"}})
