"""Training configs: validation errors name the field, TOML files load (unknown keys rejected by name),
round-trip through dump_config, and dotted overrides."""

import pytest

from synergy_lab.train import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    config_from_dict,
    dump_config,
    load_config,
)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: TrainConfig(method={"name": "infmask"}), r"method\.name: unknown method 'infmask'; valid: "),
        (lambda: ModelConfig(mask_ratio=1.2), r"model\.mask_ratio must be in \[0\.0, 1\.0\), got 1\.2"),
        (lambda: ModelConfig(mask_ratio=1.0), r"model\.mask_ratio"),
        (lambda: ModelConfig(mask_ratio=-0.1), r"model\.mask_ratio"),
        (lambda: ModelConfig(T=0), r"model\.T \(number of masked views\) must be an integer >= 1, got 0"),
        (lambda: ModelConfig(fusion_dim=30, fusion_heads=4), r"model\.fusion_heads"),
        (lambda: TrainConfig(model={"n_tokens": 2, "encoder_out": 32, "mask_ratio": 0.6}),
         r"model\.mask_ratio .* model\.n_tokens"),
        (lambda: TrainConfig(model={"n_tokens": 3, "encoder_out": 32}), r"model\.n_tokens \(3\) must divide"),
        (lambda: ModelConfig(head_norm="group"), r"model\.head_norm: unknown value 'group'"),
        (lambda: TrainConfig(method={"temperature": 0}), r"method\.temperature"),
        (lambda: TrainConfig(method={"weights": [1, -1]}), r"method\.weights\[1\]"),
        (lambda: DataConfig(name="nope"), r"data\.name: unknown data source 'nope'"),
        (lambda: DataConfig(params={"k": 4, "n_samples": 10}), r"data\.params\.n_samples: set data\.n_train"),
        (lambda: DataConfig(params={"kk": 4}), r"data\.params\.kk: unknown parameter of 'compositional'"),
        (lambda: DataConfig(name="gaussian"), r"data\.pairing: generator 'gaussian' has no biased pairing"),
        (lambda: DataConfig(drop_prob=1.0), r"data\.drop_prob"),
        (lambda: OptimConfig(lr=0), r"optim\.lr"),
        (lambda: OptimConfig(epochs=2, steps=10), r"optim\.steps: give optim\.epochs or optim\.steps"),
        (lambda: TrainConfig(model={"n_modalities": 3}), r"model\.n_modalities = 3 does not match the 2"),
        (lambda: TrainConfig(method={"name": "infmasking", "weights": [1, 1, 1, 5]}),
         r"method\.weights: infmasking with 2 modalities needs 5 weights"),
        (lambda: TrainConfig(method={"name": "comm", "weights": [1, 1, 1, 1, 5]}),
         r"method\.weights: comm .* 3"),
        (lambda: TrainConfig(method={"name": "cross", "weights": [1, 1]}),
         r"method\.weights: unknown key in \[method\] for method 'cross'; valid keys: \['name', "),
        (lambda: TrainConfig(model={"encoder": "alexnet"}), r"model\.encoder: 'alexnet' does not fit vector"),
        (lambda: TrainConfig(data={"n_train": 100}, optim={"batch_size": 256}), r"optim\.batch_size \(256\)"),
        (lambda: TrainConfig(checkpoint_every=10), r"checkpoint_every: checkpoints need out_dir"),
        (lambda: TrainConfig(device="tpu"), r"device: unknown device 'tpu'"),
        (lambda: TrainConfig(precision="fp16"), r"precision: unknown value 'fp16'"),
        (lambda: TrainConfig(method={"nme": "comm"}), r"method\.nme: unknown key in \[method\]"),
    ],
)
def test_bad_configs_fail_naming_the_field(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("build, match", [
    (lambda: ModelConfig(T=2.5), r"model\.T"),
    (lambda: OptimConfig(batch_size="64"), r"optim\.batch_size must be an integer"),
    (lambda: TrainConfig(compile="yes"), r"compile must be true or false"),
])
def test_wrong_types_fail_naming_the_field(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()


def test_bad_config_fails_before_training(tmp_path):
    from synergy_lab.train import train

    with pytest.raises(ValueError, match="method.name"):
        train({"method": {"name": "infmask"}, "out_dir": str(tmp_path)})
    assert not any(tmp_path.iterdir())  # nothing was written


def test_defaults_and_derived_lengths():
    cfg = TrainConfig()
    assert cfg.optim.epochs == 10 and cfg.optim.steps is None
    assert cfg.steps_per_epoch == 10_000 // 256 and cfg.total_steps == 10 * cfg.steps_per_epoch
    cfg = TrainConfig(optim={"steps": 100, "batch_size": 256}, data={"n_train": 1000})
    assert cfg.steps_per_epoch == 3 and cfg.max_epochs == 34


TOML = """
seed = 3
out_dir = "runs/x"
[method]
name = "infmasking"
weights = [1, 1, 1, 1, 5]
[data]
params = { k = 4, dim = 16 }
n_train = 2000
[model]
fusion_dim = 32
[optim]
steps = 10
"""


def test_load_config_and_round_trip(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(TOML)
    cfg = load_config(path)
    assert cfg.seed == 3 and cfg.method.weights == (1.0, 1.0, 1.0, 1.0, 5.0)
    assert cfg.data.params == {"k": 4, "dim": 16} and cfg.model.fusion_dim == 32 and cfg.optim.steps == 10
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize("text, match", [
    ("learning_rate = 1\n" + TOML, r"learning_rate: unknown top-level key"),
    (TOML + "\nlearning_rate = 1\n", r"optim\.learning_rate: unknown key in \[optim\]"),
    (TOML.replace("fusion_dim = 32", "fusion_dims = 32"), r"model\.fusion_dims: unknown key in \[model\]"),
    (TOML.replace("steps = 10", "steps = 10\nlr_decay = 1"), r"optim\.lr_decay: unknown key"),
    (TOML.replace("name = \"infmasking\"", "name = \"nope\""), r"method\.name: unknown method 'nope'"),
    ("seed = [", r"invalid TOML"),
])
def test_toml_errors_name_the_key(tmp_path, text, match):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config(path)


def test_override_and_fingerprint():
    cfg = config_from_dict({"data": {"params": {"k": 4}}})
    new = cfg.override({"optim.lr": 0.01, "data.params.dim": 16, "seed": 2, "out_dir": "x"})
    assert new.optim.lr == 0.01 and new.data.params == {"k": 4, "dim": 16} and new.seed == 2
    assert cfg.fingerprint() != new.fingerprint()
    assert cfg.fingerprint() == cfg.override({"out_dir": "elsewhere", "progress": False}).fingerprint()
    with pytest.raises(ValueError, match="optim.lrr: unknown key"):
        cfg.override({"optim.lrr": 1})
    with pytest.raises(ValueError, match="model.T"):
        cfg.override({"model.T": 0})


def test_synergy_lab_train_is_callable_and_import_light():
    import subprocess
    import sys

    import synergy_lab
    from synergy_lab.train.trainer import train as train_fn

    assert callable(synergy_lab.train) and synergy_lab.train.train is train_fn
    # Importing the package and its config API is light; building a config validates [method] with the
    # method's own options, which live beside its torch modules.
    code = ("import sys, synergy_lab; synergy_lab.train.TrainConfig, synergy_lab.train.load_config; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_removed_eval_C_is_dropped_with_one_warning(tmp_path):
    """Probe C is chosen per probe now; configs written before keep loading, with a warning saying so."""
    import warnings

    from synergy_lab.train import EvalConfig

    old = tmp_path / "old.toml"
    old.write_text('[method]\nname = "infmasking"\n[data]\nname = "compositional"\nn_train = 64\n'
                   '[optim]\nbatch_size = 16\nsteps = 2\n[eval]\nC = 0.5\nmax_iter = 50\n')
    with pytest.warns(FutureWarning, match="eval.C is no longer used") as caught:
        cfg = load_config(old)
    assert len(caught) == 1
    assert cfg.eval.max_iter == 50 and not hasattr(cfg.eval, "C")
    assert "C" not in dump_config(cfg).split("[eval]")[1]
    with pytest.warns(FutureWarning, match="eval.C"):
        TrainConfig(eval={"C": 2.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (tmp_path / "new.toml").write_text(dump_config(cfg))
        assert load_config(tmp_path / "new.toml") == cfg  # a current config: no warning
    with pytest.raises(TypeError):
        EvalConfig(C=1.0)
    with pytest.raises(ValueError, match="eval.C: unknown key"):
        cfg.override({"eval.C": 1.0})
