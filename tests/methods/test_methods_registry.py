"""The methods package: one registry, each method's own validated options, and a method defined outside the
package trained end to end by the trainer, which asks the method object (never its name) what it needs."""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

import synergy_lab
import synergy_lab.losses as losses
from synergy_lab._validate import check_int
from synergy_lab.methods import (
    ContrastiveOptions,
    CriticStep,
    DataSpec,
    MethodSystem,
    StepOutput,
    available_methods,
    build_method,
    method_class,
    register_method,
    unregister_method,
)
from synergy_lab.train import TrainConfig, load_config

PACKAGE = Path(synergy_lab.__file__).parent
SPEC = DataSpec(((16,), (16,)), n_classes={"redundancy": 4})
LOSS_OF = {"infmasking": losses.InfMaskingLoss, "comm": losses.CoMMLoss, "cross": losses.CLIPLoss,
           "cross_self": losses.CrossSelfLoss, "simclr": losses.SimCLRLoss, "cmc": losses.CMCLoss,
           "factorcl": losses.FactorCLLoss, "supervised": losses.SupervisedLoss}


@pytest.mark.parametrize("name", list(LOSS_OF))
def test_every_builtin_method_is_registered_with_its_loss(name):
    assert available_methods()[:8] == list(LOSS_OF)
    config = TrainConfig(method={"name": name})
    assert type(config.method) is method_class(name).Options and config.method.name == name
    system = build_method(config, SPEC)
    assert isinstance(system, method_class(name)) and type(system.loss) is LOSS_OF[name]
    assert system.features([torch.randn(3, 16), torch.randn(3, 16)]).shape[0] == 3


def test_options_reach_the_loss():
    table = {"name": "infmasking", "temperature": 0.2, "lam": 0.5, "weights": [1, 1, 1, 1, 5]}
    config = TrainConfig(method=table, optim={"steps": 7 * 39})  # 10,000 pairs / 256: 39 steps per epoch
    loss = build_method(config, SPEC).loss
    assert (loss.temperature, loss.lam, loss.max_epochs, loss.weights) == (0.2, 0.5, 7, (1, 1, 1, 1, 5))


def test_what_the_trainer_asks_the_methods():
    systems = {name: build_method(TrainConfig(method={"name": name, "critic_lr": 1e-4} if name == "factorcl"
                                              else {"name": name}), SPEC) for name in LOSS_OF}
    assert {n for n, s in systems.items() if s.critic_step() is not None} == {"factorcl"}
    critic = systems["factorcl"].critic_step()
    assert critic.lr == 1e-4 and critic.parameters == list(systems["factorcl"].loss.club_parameters())
    assert {n: s.label_target for n, s in systems.items() if s.label_target} == {"supervised": "redundancy"}


@pytest.mark.parametrize("table, error, match", [
    ({"name": "mae"}, ValueError, r"method\.name: unknown method 'mae'; valid: \['infmasking', 'comm', "),
    ({"name": None}, ValueError, r"method\.name: unknown method None"),
    ({"name": "simclr", "temperature": 0}, ValueError, r"method\.temperature must be in \(0\.0, inf\]"),
    ({"name": "infmasking", "lam": -1}, ValueError, r"method\.lam must be in \[0\.0, inf\]"),
    ({"name": "cross_self", "ssl_scale": -1}, ValueError, r"method\.ssl_scale"),
    ({"name": "cmc", "temperatur": 0.1}, ValueError,
     r"method\.temperatur: unknown key in \[method\] for method 'cmc'; valid keys: \['name', 'temperature']"),
    ({"name": "factorcl", "critic_hidden": 2.5}, TypeError, r"method\.critic_hidden must be an integer"),
    ({"name": "simclr", "simclr_input": "x3"}, ValueError, r"method\.simclr_input: unknown value 'x3'"),
    ({"name": "supervised", "target": 3}, TypeError, r"method\.target must be a string"),
    ({"name": "supervised", "class_weight": "inverse"}, ValueError,
     r"method\.class_weight must be 'balanced'"),
    ({"name": "comm", "weights": [1, 1]}, ValueError, r"method\.weights: comm with 2 modalities needs 3"),
])
def test_each_method_validates_its_own_options(table, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(method=table)


def test_config_files_of_earlier_versions_still_load(tmp_path):
    """Earlier versions wrote every method's knobs into each config.toml (at their defaults)."""
    old = ('[method]\nname = "infmasking"\ntemperature = 0.1\nlam = 1.0\nbeta = 0.0\nssl_scale = 1.0\n'
           'clip_temperature = 0.07\ncritic_hidden = 512\ntarget = "redundancy"\nsimclr_input = "concat"\n')
    (tmp_path / "old.toml").write_text(old)
    assert load_config(tmp_path / "old.toml").method == TrainConfig().method
    (tmp_path / "set.toml").write_text(old.replace("ssl_scale = 1.0", "ssl_scale = 2.0"))
    with pytest.raises(ValueError, match=r"method\.ssl_scale: unknown key in \[method\] for method 'infmask"):
        load_config(tmp_path / "set.toml")  # a real setting of another method is not silently dropped


# ------------------------------------------------------------------------------ a method from outside
@dataclass(frozen=True)
class ToyOptions(ContrastiveOptions):
    """A method's own option, validated like the built-in ones."""

    width: int = 8

    def __post_init__(self):
        super().__post_init__()
        check_int("method.width", self.width, 1)


class Toy(MethodSystem):
    """One linear map on the concatenated modalities, NT-Xent between two augmentations, and a critic step
    on a scalar (to check that the trainer runs what the method declares)."""

    name = "toy_linear"
    Options = ToyOptions

    def __init__(self, options, model, spec, *, max_epochs=1):
        super().__init__(options, model, spec, max_epochs=max_epochs)
        self.model["map"] = nn.Linear(sum(s[0] for s in spec.shapes), options.width)
        self.loss = losses.SimCLRLoss(options.temperature)
        self.critic_scale = nn.Parameter(torch.ones(()))
        self.critic_calls = 0

    def forward(self, batch, ctx):
        a, b = (nn.functional.normalize(self.model["map"](torch.cat(ctx.views(batch["xs"]), 1)), dim=1)
                for _ in range(2))
        return StepOutput(self.loss(a, b), aux=(a.detach(),))

    def features(self, xs):
        return self.model["map"](torch.cat(self._inputs(xs), 1))

    def critic_step(self):
        def loss(aux):
            self.critic_calls += 1
            return (self.critic_scale * aux[0]).pow(2).mean()

        return CriticStep([self.critic_scale], loss, lr=0.5)


@pytest.fixture
def toy():
    register_method(Toy)
    yield Toy
    unregister_method(Toy.name)
    assert Toy.name not in available_methods()


TOY_TOML = """seed = 0
device = "cpu"
progress = false
[method]
name = "toy_linear"
width = 6
temperature = 0.2
[data]
name = "compositional"
params = {{ k = 4, dim = 16 }}
n_train = 256
n_probe = 200
n_val = 200
[model]
encoder_out = 32
[optim]
steps = 4
batch_size = 64
[eval]
targets = ["redundancy"]
"""


def test_a_method_defined_outside_the_package_trains_through_the_trainer(toy, tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(TOY_TOML.format())
    config = load_config(path)
    assert isinstance(config.method, ToyOptions) and config.method.width == 6
    result = synergy_lab.train(config)
    assert len(result.losses) == 4 and all(abs(v) < 1e3 for v in result.losses)
    assert result.system.model["map"].out_features == 6
    assert result.system.critic_calls == 4 and result.system.critic_scale.item() != 1.0  # its own optimiser
    assert set(result.metrics) == {"redundancy"}  # probed on the features the method declares
    path.write_text(TOY_TOML.format().replace("width = 6", "widht = 6"))
    with pytest.raises(ValueError, match=r"method\.widht: unknown key in \[method\] for method 'toy_linear'"):
        load_config(path)
    path.write_text(TOY_TOML.format().replace("width = 6", "width = 0"))
    with pytest.raises(ValueError, match=r"method\.width must be >= 1, got 0"):
        load_config(path)


def test_registry_refuses_bad_registrations(toy):
    with pytest.raises(ValueError, match="already registered"):
        register_method(type("Other", (Toy,), {}))
    with pytest.raises(TypeError, match="MethodSystem subclass"):
        register_method(object)
    with pytest.raises(ValueError, match="built-in"):
        unregister_method("infmasking")


def _code_strings(path):
    """String constants of a module's code (docstrings left out: examples there are documentation)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_no_method_name_in_train_and_no_upward_import():
    from synergy_lab.train.config import AUGMENTS

    # "simclr" is also a data.augment kind (the SimCLR image augmentation), which train/ does name.
    names = set(LOSS_OF) - set(AUGMENTS)
    for path in sorted((PACKAGE / "train").glob("*.py")):
        assert not names & _code_strings(path), f"{path.name} names a method"
    for path in sorted((PACKAGE / "methods").glob("*.py")):
        text = path.read_text()
        assert not re.search(r"^\s*(from \.\.train|import synergy_lab\.train|from synergy_lab\.train)", text,
                             re.M), f"{path.name} imports train"
