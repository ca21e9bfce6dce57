"""Probe features extracted once, deterministically: eval mode, no augmentation, no masked passes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


@torch.no_grad()
def extract_features(model, xs: Sequence, batch_size: int = 1024, device=None) -> np.ndarray:
    """Features of every row of the modalities ``xs``, as a float32 numpy array.

    Parameters
    ----------
    model : nn.Module with ``features(xs)``, or a callable ``f(xs) -> (B, d) tensor``
        E.g. a :class:`synergy_lab.methods.MethodSystem`. An ``nn.Module`` is put in eval mode for the
        extraction (BatchNorm running statistics) and restored afterwards.
    xs : sequence of tensors or arrays, each (n, ...), or a pair set
        The modalities, row-aligned; or an object with ``len()`` and ``gather(index) -> list of tensors``
        (e.g. :class:`synergy_lab.train.data.PairData`), gathered one batch at a time, so index-based image
        pairs are never materialised all at once.
    batch_size : int
    device : torch.device, optional
        Where to run (default: the model's parameters' device, else CPU).

    Returns
    -------
    numpy.ndarray, shape (n, d)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if hasattr(xs, "gather"):
        n, rows = len(xs), xs.gather
    else:
        xs = [torch.as_tensor(x) for x in xs]
        if not xs or len({int(x.shape[0]) for x in xs}) != 1:
            raise ValueError(f"xs must be row-aligned modalities, got shapes {[tuple(x.shape) for x in xs]}")
        n = int(xs[0].shape[0])

        def rows(index):
            return [x[index] for x in xs]
    fn = getattr(model, "features", model)
    module = model if isinstance(model, torch.nn.Module) else None
    if device is None:
        param = next(module.parameters(), None) if module is not None else None
        device = param.device if param is not None else torch.device("cpu")
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        out = [fn([x.to(device) for x in rows(slice(i, i + batch_size))]).float().cpu()
               for i in range(0, n, batch_size)]
    finally:
        if module is not None:
            module.train(was_training)
    return torch.cat(out).numpy()
