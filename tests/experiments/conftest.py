"""Shared fixtures of the experiment-script tests."""

import importlib.util
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="session")
def experiment_script():
    """``load(name)``: ``experiments/<name>/run.py`` imported as a module (the scripts are not a package)."""
    def load(name):
        spec = importlib.util.spec_from_file_location(f"{name}_run", EXPERIMENTS / name / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
