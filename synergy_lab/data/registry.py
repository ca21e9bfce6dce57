"""The one registry of data sources: name -> builder, its parameters, and what kind of data it yields.

Every source -- the vector generators (``gate``, ``compositional``, ``gaussian``) and the image sources
(``trifeature``, ``synthetic_images``) -- is a :class:`DataSource`. Its builder's keyword signature is
inspected here and nowhere else (:func:`generator_parameters`); image sources override a few defaults (the
trainer's 224-px Trifeature) and name a check that validates a parameter set before anything is rendered.
``make(name, **params)`` builds any source; ``describe`` (the ground-truth table of the targets) needs a
vector generator, because an image source's truth depends on the pairs drawn from it.

Builders are imported on first use, so this module pulls in no torch (the image builders need it).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module

import pandas as pd

#: Kinds of data a source yields: row-aligned vector modalities with exact ground truth, or images.
KINDS = ("vectors", "images")


@dataclass(frozen=True)
class DataSource:
    """One registered data source.

    Attributes
    ----------
    name : str
    kind : {"vectors", "images"}
    builder : str
        ``"module:function"``, the module relative to :mod:`synergy_lab.data`.
    summary : str
        One line for ``synergy-lab data --list``.
    defaults : dict
        Defaults that replace the builder's own (the parameters themselves come from its signature).
    check : str, optional
        ``"module:function"`` of ``check(params, prefix)``, validating a complete parameter set up front.
    reserved : tuple of str
        Parameters a training config sets from its own fields (size, seed, pairing, device), not from
        ``data.params``.
    biased_pairs : bool
        Whether the trainer can draw biased training pairs from an image source (vector generators: whether
        the builder takes ``pairing``; see :func:`has_biased_pairing`).
    """

    name: str
    kind: str
    builder: str
    summary: str
    defaults: dict = field(default_factory=dict)
    check: str | None = None
    reserved: tuple[str, ...] = ("n_samples", "random_state", "pairing")
    biased_pairs: bool = False

    @property
    def function(self):
        return _resolve(self.builder)


def _resolve(target: str):
    module, name = target.split(":")
    return getattr(import_module(f"{__package__}.{module}"), name)


_SOURCES = {s.name: s for s in (
    DataSource("gate", "vectors", "gates:make_gate",
               "a named logic gate (and, xor, copy, ...) over two discrete inputs, one-hot coded"),
    DataSource("compositional", "vectors", "compositional:make_compositional",
               "shared, unique and synergistic discrete factors embedded in two vector modalities"),
    DataSource("gaussian", "vectors", "gaussian:make_gaussian",
               "jointly Gaussian modalities and target (closed-form Gaussian PID)"),
    DataSource("trifeature", "images", "trifeature:make_trifeature_images",
               "bimodal Trifeature image pairs (shape, texture, colour; docs/trifeature.md)",
               defaults={"resolution": 224}, check="_image_sources:check_trifeature_params",
               reserved=("seed", "device"), biased_pairs=True),
    DataSource("synthetic_images", "images", "_image_sources:make_random_images",
               "Trifeature-shaped random uint8 images with random labels (throughput checks)",
               check="_image_sources:check_random_image_params",
               reserved=("n_samples", "random_state", "device"), biased_pairs=True),
)}


def available_generators(kind: str | None = None) -> list[str]:
    """Registered source names, sorted; only those of ``kind`` (``"vectors"`` or ``"images"``) if given."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)} or None, got {kind!r}")
    return sorted(n for n, s in _SOURCES.items() if kind is None or s.kind == kind)


def data_source(name: str) -> DataSource:
    """The registry entry of ``name`` (case-insensitive); an unknown name raises ValueError listing them."""
    if not isinstance(name, str) or name.lower() not in _SOURCES:
        raise ValueError(f"unknown generator {name!r}; valid generators are {available_generators()}")
    return _SOURCES[name.lower()]


@cache
def _parameters(name: str) -> tuple:
    source = _SOURCES[name]
    sig = inspect.signature(source.function)
    return tuple({**{k: v.default for k, v in sig.parameters.items()}, **source.defaults}.items())


def generator_parameters(name: str) -> dict:
    """The source's keyword parameters and the defaults :func:`make` uses (a fresh dict)."""
    return dict(_parameters(data_source(name).name))


def has_biased_pairing(name: str) -> bool:
    """Whether training pairs of ``name`` can be biased (synergy-positive only, or s2 = pi(s1)); the random
    images of ``synthetic_images`` accept either pairing, which changes nothing."""
    source = data_source(name)
    return source.biased_pairs if source.kind == "images" else "pairing" in generator_parameters(name)


def check_parameters(name: str, params: dict, prefix: str = "") -> dict:
    """``params`` completed with the defaults and validated: an unknown parameter raises ValueError naming it
    (with ``prefix``, e.g. ``"data.params."``), and an image source's check runs on the complete set.
    Vector generators validate their values when called."""
    source = data_source(name)
    valid = generator_parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        where = f"{prefix}{unknown[0]}: u" if prefix else "u"
        raise ValueError(f"{where}nknown parameter(s) {unknown} for generator {source.name!r}; valid "
                         f"parameters are {sorted(valid)}")
    full = {**valid, **params}
    if source.check is not None:
        _resolve(source.check)(full, prefix)
    return full


def make(name: str, /, **params):
    """Build a dataset by registry name.

    Parameters
    ----------
    name : str
        A name of :func:`available_generators`.
    **params
        Keyword parameters of the builder (``make_gate``, ``make_compositional``, ``make_gaussian``,
        ``make_trifeature_images``, ``make_random_images``; see :func:`generator_parameters`). A parameter the
        builder does not take raises ValueError naming it.

    Returns
    -------
    SyntheticDataset or the image source's container
        Vector generators return a :class:`~synergy_lab.data.SyntheticDataset`; ``trifeature`` a
        :class:`~synergy_lab.data.trifeature.TrifeatureImages` (needs torch).

    Examples
    --------
    >>> from synergy_lab.data import make
    >>> ds = make("gate", name="and", n_samples=10, random_state=0)
    >>> round(ds.truth("y")["redundancy"], 6)
    0.311278
    """
    full = check_parameters(name, params)
    source = data_source(name)
    # Vector generators get only what was given, so their own defaults and validation stay in charge.
    return source.function(**(full if source.kind == "images" else params))


def require_vectors(name: str, what: str) -> DataSource:
    """The entry of ``name``, or ValueError when it is not a vector generator (``what`` needs one)."""
    source = data_source(name)
    if source.kind != "vectors":
        raise ValueError(f"{what} needs a vector generator {available_generators('vectors')}; "
                         f"{source.name!r} is an image source (its ground truth depends on the pairs drawn: "
                         f"train it with data.name = {source.name!r})")
    return source


def describe(name: str, /, **params) -> pd.DataFrame:
    """Ground-truth PID table (bits) of a vector generator's targets for the given parameters."""
    require_vectors(name, "describe")
    params.setdefault("n_samples", 200)
    return make(name, **params).ground_truth
