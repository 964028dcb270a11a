"""What `pip install tiledlog` gets: the wheel built from this tree carries every package and
the site templates (an editable install, which the other tests use, would hide a missing one)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_every_package_and_template(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                          str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (wheel,) = tmp_path.glob("tiledlog-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {str(p.relative_to(ROOT)) for top in ("tlog", "sequencer", "witness")
              for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts}
    wanted |= {str(p.relative_to(ROOT)) for p in (ROOT / "site_templates").iterdir()
               if p.suffix in (".html", ".js", ".css", ".py")}
    assert sorted(wanted - names) == []
