"""TOML files of the training configs: a checked reader and a writer whose output reads back equal.

The standard library reads TOML (``tomllib``, Python 3.11+) but does not write it; the configs need only
scalars, lists and one level of inline tables, written here with every string escaped as TOML requires
(control characters included, so e.g. a folder name holding a newline survives the round trip).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def read_toml(path) -> dict:
    """The TOML file at ``path`` as a dict; ``ValueError`` naming the file if it cannot be one."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"config {str(path)!r} is a folder, not a TOML file")
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"config file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"config file {str(path)!r} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None


def _string(text: str) -> str:
    # TOML basic strings may not hold control characters (U+0000-U+001F, U+007F) unescaped.
    escaped = (_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
               for c in text)
    return '"' + "".join(escaped) + '"'


def _key(key) -> str:
    key = str(key)
    return key if _BARE_KEY.match(key) else _string(key)


def toml_value(value) -> str:
    """One TOML value: bool, int, float, string, list, or a table (written inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(values: Mapping, tables) -> str:
    """TOML text of a nested dict: top-level scalars first, then one ``[table]`` per name in ``tables``
    (None values are omitted: TOML has no null)."""
    lines = [f"{_key(k)} = {toml_value(v)}" for k, v in values.items() if k not in tables and v is not None]
    for table in tables:
        lines += ["", f"[{table}]"]
        lines += [f"{_key(k)} = {toml_value(v)}" for k, v in values[table].items() if v is not None]
    return "\n".join(lines) + "\n"
