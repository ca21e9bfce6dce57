"""The one data registry: every source (vector generators and image sources) named, built and checked
through it."""

import inspect

import numpy as np
import pytest

from synergy_lab.data import (
    available_generators,
    check_parameters,
    data_source,
    describe,
    generator_parameters,
    make,
)
from synergy_lab.data.registry import has_biased_pairing
from synergy_lab.train import DataConfig


def test_every_source_is_listed_with_its_kind():
    assert available_generators() == ["compositional", "gate", "gaussian", "synthetic_images", "trifeature"]
    assert available_generators("vectors") == ["compositional", "gate", "gaussian"]
    assert available_generators("images") == ["synthetic_images", "trifeature"]
    assert data_source("TriFeature").kind == "images"
    with pytest.raises(ValueError, match="kind"):
        available_generators("audio")
    with pytest.raises(ValueError, match="unknown generator 'nope'.*trifeature"):
        data_source("nope")


def test_parameters_are_the_builders_signature_with_the_declared_defaults():
    from synergy_lab.data.trifeature import make_trifeature_images

    for name in available_generators():
        sig = inspect.signature(data_source(name).function).parameters
        params = generator_parameters(name)
        assert list(params) == list(sig)
        for key, value in params.items():
            assert value == data_source(name).defaults.get(key, sig[key].default)
    # The trainer's Trifeature default is the paper's 224 px, not the renderer's own 64.
    assert generator_parameters("trifeature")["resolution"] == 224
    assert inspect.signature(make_trifeature_images).parameters["resolution"].default == 64
    generator_parameters("gate")["k"] = 99  # a fresh dict: the registry's copy is untouched
    assert generator_parameters("gate")["k"] == 3


def test_unknown_and_bad_parameters_fail_before_anything_is_built():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['bogus'\] for generator 'gate'"):
        make("gate", bogus=1)
    with pytest.raises(ValueError, match="bogus"):
        make("trifeature", bogus=1)  # raised before any image is rendered
    with pytest.raises(ValueError, match="data.params.bogus"):
        check_parameters("trifeature", {"bogus": 1}, prefix="data.params.")
    with pytest.raises(ValueError, match="data.params.design"):
        check_parameters("trifeature", {"design": "striped"}, prefix="data.params.")
    with pytest.raises(ValueError, match="resolution must be <= 224, got 256"):
        check_parameters("trifeature", {"resolution": 256})
    with pytest.raises(ValueError, match="test_fraction: the balanced design splits whole tenths"):
        check_parameters("trifeature", {"test_fraction": 0.25})
    with pytest.raises(TypeError, match="n_classes must be an integer"):
        check_parameters("synthetic_images", {"n_classes": 2.5})
    full = check_parameters("trifeature", {"resolution": 32})
    assert full["resolution"] == 32 and full["renders_per_train"] == 3


def test_synthetic_images_come_from_the_registry_seeded():
    a = make("synthetic_images", n_samples=5, resolution=32, n_classes=3, random_state=1)
    b = make("synthetic_images", n_samples=5, resolution=32, n_classes=3, random_state=1)
    c = make("synthetic_images", n_samples=5, resolution=32, n_classes=3, random_state=2)
    assert tuple(a.x1.shape) == tuple(a.x2.shape) == (5, 3, 32, 32) and str(a.x1.dtype) == "torch.uint8"
    assert np.array_equal(a.x1.numpy(), b.x1.numpy()) and np.array_equal(a.labels.numpy(), b.labels.numpy())
    assert not np.array_equal(a.x1.numpy(), c.x1.numpy())
    assert set(a.labels.tolist()) <= {0, 1, 2}


def test_vector_only_operations_refuse_image_sources():
    with pytest.raises(ValueError, match="describe needs a vector generator.*'trifeature' is an image"):
        describe("trifeature")
    from synergy_lab.evaluate import export_dataset

    with pytest.raises(ValueError, match="export_dataset needs a vector generator"):
        export_dataset("synthetic_images", "unused")
    assert describe("gate", name="xor")["synergy"].iloc[0] > 0.9


def test_pairing_and_reserved_parameters_come_from_the_registry():
    assert has_biased_pairing("compositional") and has_biased_pairing("trifeature")
    assert not has_biased_pairing("gate")
    with pytest.raises(ValueError, match="generator 'gate' has no biased pairing"):
        DataConfig(name="gate")
    with pytest.raises(ValueError, match="data.params.seed: set data.seed instead"):
        DataConfig(name="trifeature", params={"seed": 1})
    with pytest.raises(ValueError, match="data.params.device: set device instead"):
        DataConfig(name="trifeature", params={"device": "cpu"})
    with pytest.raises(ValueError, match="data.params.n_samples: set data.n_train instead"):
        DataConfig(name="compositional", params={"n_samples": 10})
    with pytest.raises(ValueError, match=r"data.params.seed: unknown parameter of 'synthetic_images'"):
        DataConfig(name="synthetic_images", params={"seed": 1})
    assert DataConfig(name="trifeature", params={"resolution": 32}).is_image
    assert not DataConfig(name="gate", pairing="unbiased").is_image
