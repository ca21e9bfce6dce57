"""The losses package exports every loss as a module and a functional twin (no registry of its own: method
names live in synergy_lab.methods)."""

import synergy_lab.losses as losses

PUBLIC = """masked_view_loss nt_xent infmasking_loss InfMaskingLoss comm_loss CoMMLoss clip_loss CLIPLoss
cross_self_loss CrossSelfLoss simclr_loss SimCLRLoss cmc_loss CMCLoss FactorCLLoss supervised_loss
SupervisedLoss lambda_ramp entropy_penalty gather_with_grad""".split()


def test_public_names_exported():
    for name in PUBLIC:
        assert name in losses.__all__ and hasattr(losses, name)
    assert not hasattr(losses, "LOSSES") and not hasattr(losses, "make_loss")
