"""docs/architecture.md names functions a newcomer can find: every function, class and module
it names in backticks exists in the tree (so a rename that forgets the doc fails here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()
SOURCE = "\n".join(p.read_text() for d in ("tlog", "sequencer", "witness")
                   for p in (ROOT / d).rglob("*.py"))
DEFINED = set(re.findall(r"^\s*(?:def|class)\s+(\w+)", SOURCE, re.M)) | set(
    re.findall(r"^\s*(\w+)\s*[:=]", SOURCE, re.M))  # constants, fields


def test_every_path_named_exists() -> None:
    paths = set(re.findall(r"`((?:tlog|sequencer|witness)/[\w/]*\.py)`", DOC))
    assert paths, "the doc names no module"
    assert sorted(p for p in paths if not (ROOT / p).is_file()) == []


def test_every_function_named_exists() -> None:
    # `Class.method`, `module.function` and bare `function` names in the data-flow section.
    flow = DOC[DOC.index("## One submission"):DOC.index("## The core, module by module")]
    names = {n.split(".")[-1] for n in re.findall(r"`([A-Za-z_][\w.]*)`", flow)
             if not n.endswith(".py") and n.replace(".", "").replace("_", "").isalnum()}
    words = {"checkpoint", "sequencer/lock", "tlog", "verify", "submit", "sequence"}
    missing = sorted(n for n in names - words if n not in DEFINED)
    assert missing == []
