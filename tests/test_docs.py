"""The documentation stays inside the repository: every relative markdown link resolves (file and heading),
every ``docs/*.md`` that code names exists, and no code cites notes that live outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), *(ROOT / "benchmarks").glob("*.md")])
CODE_DIRS = ("synergy_lab", "tests", "benchmarks", "experiments")
CODE_SUFFIXES = {".py", ".toml", ".sh", ".md"}

#: ``[text](target)`` and ``![alt](target)``; the target stops at whitespace or ``)``.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
#: Notes that were never part of the repository; written split so that this file does not match itself.
_PATTERNS = [
    "shared" + "/", "spec" + " §", "method" + "_spec", "pid" + "_notes",
    r"\bthe " + r"spec\b", r"\bspec" + "'s",
]
OUTSIDE = re.compile("|".join(_PATTERNS))
DOC_NAME = re.compile(r"docs/[\w.-]+\.md")


def _strip_code(text: str) -> str:
    """Drop fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen = set(), {}
    for line in re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M).splitlines():
        match = HEADING.match(line)
        if match:
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            anchors.add(slug if count == 0 else f"{slug}-{count}")
            seen[slug] = count + 1
    return anchors


def _code_files():
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts:
                yield path


def test_slug_follows_github():
    assert _slug("Defects of the public code, and where synergy_lab differs") == (
        "defects-of-the-public-code-and-where-synergy_lab-differs"
    )
    assert _slug("How much synergy does my representation capture?") == (
        "how-much-synergy-does-my-representation-capture"
    )
    assert _slug("PID (`synergy_lab.pid`)") == "pid-synergy_labpid"


def test_link_checker_finds_links():
    text = "See [a](guide/a.md#x), ![f](figures/f.png) and [web](https://example.org); `[no](link.md)`."
    assert LINK.findall(_strip_code(text)) == ["guide/a.md#x", "figures/f.png", "https://example.org"]


@pytest.mark.parametrize("md", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(md: Path):
    broken = []
    for target in LINK.findall(_strip_code(md.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (md.parent / path_part).resolve() if path_part else md
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif not dest.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{md.relative_to(ROOT)}: " + "; ".join(broken)


def test_docs_index_lists_every_page():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    missing = sorted(name for name in pages if f"({name})" not in index)
    assert not missing, f"docs/README.md does not link {missing}"


def test_code_cites_only_repository_files():
    offenders = []
    for path in _code_files():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not offenders, "references to notes outside the repository:\n" + "\n".join(offenders)


def test_docs_named_in_code_exist():
    missing = []
    for path in [*_code_files(), *MARKDOWN]:
        for name in set(DOC_NAME.findall(path.read_text(encoding="utf-8"))):
            if not (ROOT / name).is_file():
                missing.append(f"{path.relative_to(ROOT)} names {name}")
    assert not missing, "\n".join(missing)


WITH_EXAMPLES = [p for p in MARKDOWN if "```python" in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("md", WITH_EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(md: Path, tmp_path, monkeypatch):
    """Every ```python block of a page runs as written (blocks of one page share a namespace, in order)."""
    blocks = re.findall(r"^```python\n(.*?)^```", md.read_text(encoding="utf-8"), flags=re.S | re.M)
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{md.relative_to(ROOT)} python block {number}", "exec"), namespace)
