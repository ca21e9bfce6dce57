"""Method name -> loss module class, and :func:`make_loss`."""

from __future__ import annotations

from torch import nn

from .cmc import CMCLoss
from .comm import CoMMLoss
from .cross import CLIPLoss
from .cross_self import CrossSelfLoss
from .factorcl import FactorCLLoss
from .infmasking import InfMaskingLoss
from .simclr import SimCLRLoss
from .supervised import SupervisedLoss

#: Loss module class of each method name.
LOSSES: dict[str, type[nn.Module]] = {
    "infmasking": InfMaskingLoss,
    "comm": CoMMLoss,
    "cross": CLIPLoss,
    "cross_self": CrossSelfLoss,
    "simclr": SimCLRLoss,
    "cmc": CMCLoss,
    "factorcl": FactorCLLoss,
    "supervised": SupervisedLoss,
}


def make_loss(name: str, **kwargs) -> nn.Module:
    """Instantiate the loss module of method ``name`` with ``kwargs``.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`LOSSES`; the message lists the valid names.
    """
    try:
        cls = LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(sorted(LOSSES))}") from None
    return cls(**kwargs)
