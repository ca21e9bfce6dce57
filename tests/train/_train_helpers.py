"""Tiny training configs shared by the training tests (imported as a plain module from this folder)."""

from synergy_lab.train import TrainConfig

#: Compositional vectors with k = 4 classes per factor (redundancy chance 1/4), 16-d modalities.
TINY_DATA = {"name": "compositional", "params": {"k": 4, "dim": 16}, "n_train": 1024, "n_probe": 500,
             "n_val": 500}
TINY_MODEL = {"encoder_hidden": 32, "encoder_out": 32, "n_tokens": 4, "fusion_dim": 32, "fusion_heads": 4,
              "head_hidden": 32, "head_out": 16, "T": 2, "mask_ratio": 0.5}


def tiny_config(method="infmasking", steps=120, batch_size=64, out_dir=None, **overrides) -> TrainConfig:
    """A config that trains in a few seconds on one CPU thread."""
    sections = {
        "method": {"name": method, **({"critic_hidden": 32} if method == "factorcl" else {})},
        "data": dict(TINY_DATA),
        "model": dict(TINY_MODEL),
        "optim": {"steps": steps, "batch_size": batch_size, "lr": 3e-3},
        "eval": {"targets": ["redundancy"]},
    }
    for key in list(overrides):
        if key in sections:
            sections[key].update(overrides.pop(key))
    return TrainConfig(**sections, device="cpu", progress=False, out_dir=out_dir, **overrides)
