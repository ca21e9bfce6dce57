"""User mistakes around `synergy-lab train` give one clear line (CLI: ``error: ...`` on stderr, exit code 2;
library: ValueError / TypeError naming the parameter), never a traceback."""

from pathlib import Path

import pytest
from _train_helpers import tiny_config

from synergy_lab.cli import main
from synergy_lab.train import TrainConfig, load_config, train
from synergy_lab.train.checkpoint import checkpoint_path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "experiments" / "configs" / "cpu_tiny_infmasking.toml"
TRIFEATURE = ROOT / "experiments" / "trifeature" / "cpu_comm.toml"


def _file(tmp):
    path = tmp / "a_file"
    path.write_text("x")
    return path


def _checkpoints_is_a_file(tmp):
    (tmp / "run").mkdir()
    (tmp / "run" / "checkpoints").write_text("junk")


def _config_toml_is_a_folder(tmp):
    (tmp / "run" / "config.toml").mkdir(parents=True)


def _only_damaged_checkpoints(tmp):
    path = checkpoint_path(tmp / "run", 30)
    path.parent.mkdir(parents=True)
    path.write_text("junk")


def _nan_lr(tmp):
    (tmp / "c.toml").write_text(TINY.read_text().replace("lr = 3e-3", "lr = nan"))


def _no_length(tmp):
    text = TINY.read_text().replace("steps = 60\n", "")
    assert "steps" not in text.split("[optim]")[1]
    (tmp / "c.toml").write_text(text)


# (case, setup(tmp) or None, argv with {tmp} placeholders, expected text of the one error line)
CASES = [
    ("lr_overflow", None, [str(TINY), "--set", "optim.lr=1e400"],
     "optim.lr must be a finite number, got inf (a literal beyond about 1.8e308 overflows to inf)"),
    ("lr_nan_in_toml", _nan_lr, ["{tmp}/c.toml"], "optim.lr must be a finite number, got nan"),
    ("stop_after_negative", None, [str(TINY), "--stop-after", "-5"], "--stop-after must be >= 1"),
    ("stop_after_zero", None, [str(TINY), "--stop-after", "0"], "--stop-after must be >= 1"),
    ("out_is_a_file", _file, [str(TINY), "--out", "{tmp}/a_file"], "out_dir is not a folder"),
    ("out_below_a_file", _file, [str(TINY), "--out", "{tmp}/a_file/run"], "is not a folder"),
    ("config_is_a_folder", None, ["{tmp}"], "is a folder, not a TOML file"),
    ("config_missing", None, ["{tmp}/missing.toml"], "not found"),
    ("cache_dir_is_a_file", _file, [str(TRIFEATURE), "--out", "{tmp}/run", "--set",
                                    "data.params.cache_dir='{tmp}/a_file'"],
     "data.params.cache_dir: '{tmp}/a_file' is not a folder"),
    ("out_dir_checkpoints_is_a_file", _checkpoints_is_a_file, [str(TINY), "--out", "{tmp}/run"],
     "holds a file named 'checkpoints'"),
    ("out_dir_config_toml_is_a_folder", _config_toml_is_a_folder, [str(TINY), "--out", "{tmp}/run"],
     "holds a folder named 'config.toml'"),
    ("out_dir_only_damaged_checkpoints", _only_damaged_checkpoints, [str(TINY), "--out", "{tmp}/run"],
     "holds no valid checkpoint (checkpoint-000000030.pt: not a synergy_lab checkpoint): start over with "
     "resume=False (CLI: --no-resume)"),
    ("diverging", None, [str(TINY), "--out", "{tmp}/run", "--set", "optim.lr=1e6"],
     "optim.lr: the loss became non-finite at step 2"),
    ("both_lengths", _no_length, ["{tmp}/c.toml", "--set", "optim.steps=2", "--set", "optim.epochs=3"],
     "optim.steps: give optim.epochs or optim.steps, not both"),
]


@pytest.mark.parametrize("case, setup, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_cli_train_mistakes_give_one_error_line(case, setup, argv, expected, tmp_path, capsys):
    if setup is not None:
        setup(tmp_path)
    argv = ["train", *(a.replace("{tmp}", str(tmp_path)) for a in argv), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected.replace("{tmp}", str(tmp_path)) in err


def test_steps_override_replaces_the_default_length(tmp_path, capsys):
    _no_length(tmp_path)
    cfg = load_config(tmp_path / "c.toml")
    assert (cfg.optim.epochs, cfg.optim.steps) == (10, None)  # neither given: 10 epochs
    short = cfg.override({"optim.steps": 2})
    assert (short.optim.epochs, short.optim.steps, short.total_steps) == (None, 2, 2)
    explicit = TrainConfig(optim={"epochs": 3})
    with pytest.raises(ValueError, match="not both"):  # epochs the user chose are not silently dropped
        explicit.override({"optim.steps": 2})
    argv = ["train", str(tmp_path / "c.toml"), "--set", "optim.steps=2", "--out", str(tmp_path / "run"),
            "--no-progress", "--set", "eval.enabled=False"]
    assert main(argv) == 0
    assert "infmasking: 2/2 steps" in capsys.readouterr().out


@pytest.mark.parametrize("stop_after, error, match", [
    (-5, ValueError, "stop_after must be >= 1"),
    (0, ValueError, "stop_after must be >= 1"),
    (2.5, TypeError, "stop_after must be an integer"),
    (True, TypeError, "stop_after must be an integer"),
])
def test_library_refuses_bad_stop_after(stop_after, error, match):
    with pytest.raises(error, match=match):
        train(tiny_config("cmc", steps=4), stop_after=stop_after)


@pytest.mark.parametrize("method", ["infmasking", "cross", "supervised", "factorcl"])
def test_diverging_run_names_the_step_where_the_loss_became_non_finite(method):
    result = None
    cfg = tiny_config(method, steps=30, optim={"lr": 1e6}, eval={"enabled": False}, log_every=10)
    with pytest.raises(ValueError, match=r"optim\.lr: the loss became non-finite at step (\d+)") as info:
        result = train(cfg)
    assert result is None and info.value.step >= 2
    # The same run read back every step: every loss before the reported step is finite.
    seen = []
    with pytest.raises(ValueError, match=f"at step {info.value.step} "):
        train(tiny_config(method, steps=30, optim={"lr": 1e6}, eval={"enabled": False}, log_every=1),
              on_step=lambda step, record: seen.append(record["loss"]))
    assert len(seen) == info.value.step - 1 and all(abs(v) < float("inf") for v in seen)


def test_config_loader_refuses_folders_and_non_utf8(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not a TOML file"):
        load_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"seed = 0\n\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_config(bad)


def test_set_takes_config_file_booleans():
    from synergy_lab.cli import parse_assignments

    assert parse_assignments(["data.colour_jitter=false", "a=true", "b=False", "c=3", "d=x"]) == {
        "data.colour_jitter": False, "a": True, "b": False, "c": 3, "d": "x"}
