import pytest

import synergy_lab.losses as losses
from synergy_lab.losses import LOSSES, make_loss

METHODS = ["infmasking", "comm", "cross", "cross_self", "simclr", "cmc", "factorcl", "supervised"]


def test_registry_covers_every_method():
    assert sorted(LOSSES) == sorted(METHODS)
    assert LOSSES["infmasking"] is losses.InfMaskingLoss
    assert LOSSES["cross"] is losses.CLIPLoss


@pytest.mark.parametrize("name", METHODS)
def test_make_loss_builds_each(name):
    kwargs = {"dim": 4, "hidden": 8} if name == "factorcl" else {}
    assert isinstance(make_loss(name, **kwargs), LOSSES[name])


def test_make_loss_passes_kwargs():
    module = make_loss("infmasking", temperature=0.2, lam=0.5, max_epochs=7, weights=[1, 1, 1, 1, 5])
    assert (module.temperature, module.lam, module.max_epochs) == (0.2, 0.5, 7)
    assert module.weights == (1, 1, 1, 1, 5)


@pytest.mark.parametrize("name", ["mae", "InfMasking", "", None])
def test_unknown_name_lists_valid_ones(name):
    with pytest.raises(ValueError, match="valid names: cmc, comm, cross, cross_self, factorcl, infmasking"):
        make_loss(name)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("simclr", {"temperature": 0}, "temperature must be > 0"),
        ("infmasking", {"lam": -1}, "lam must be >= 0"),
        ("infmasking", {"max_epochs": 0}, "max_epochs must be >= 1"),
        ("cross_self", {"ssl_scale": -1}, "ssl_scale must be >= 0"),
    ],
)
def test_constructor_validation(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_loss(name, **kwargs)


PUBLIC = """masked_view_loss nt_xent infmasking_loss InfMaskingLoss comm_loss CoMMLoss clip_loss CLIPLoss
cross_self_loss CrossSelfLoss simclr_loss SimCLRLoss cmc_loss CMCLoss FactorCLLoss supervised_loss
SupervisedLoss lambda_ramp entropy_penalty gather_with_grad""".split()


def test_public_names_exported():
    for name in PUBLIC:
        assert name in losses.__all__ and hasattr(losses, name)
