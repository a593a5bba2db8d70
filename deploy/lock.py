"""Regenerate the hash-pinned locks from pyproject.toml: `make lock` (needs pip-tools and the package index).

deploy/requirements.txt is the image's set (extras celery, reports); deploy/requirements-ci.txt is
what `make setup` installs for the demo and the tests (extra test). Versions already locked stay put
(the old lock constrains the new one), so a lock changes only where pyproject.toml asks it to.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"requirements.txt": "celery,reports", "requirements-ci.txt": "test"}
HEADER = """# Exact, hash-pinned set of every package ({what}), resolved from pyproject.toml for Python 3.11
# on Linux. Do not edit: regenerate with `make lock` (deploy/lock.py). Installed with
# `pip install --require-hashes --no-deps -r` and then the project itself with --no-deps.
"""
WHAT = {"requirements.txt": "the deployment image: extras celery and reports",
        "requirements-ci.txt": "`make setup`, the demo and CI: extra test"}


def pins(text: str) -> list[str]:
    """The `name==version` lines of a lock."""
    return re.findall(r"^([A-Za-z0-9][\w.\-]*(?:\[[\w,\-]+\])?==[^\s\\]+)", text, re.M)


def without_self(text: str) -> str:
    """The lock without the project's own line (pip-compile lists the self-reference of the extras)."""
    return re.sub(r"^cdiscflow\[[^\n]*\n(?:[ #][^\n]*\n)*", "", text, flags=re.M)


def main() -> None:
    """Compile both locks, each constrained by the union of the current ones."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        current = {}
        for name in LOCKS:
            path = ROOT / "deploy" / name
            if path.exists():
                for pin in pins(path.read_text(encoding="utf-8")):
                    current.setdefault(re.sub(r"\[.*\]", "", pin.split("==")[0]).lower(), re.sub(r"\[.*\]", "", pin))
        constraints.write_text("\n".join(sorted(current.values())) + "\n", encoding="utf-8")
        for name, extras in LOCKS.items():
            out = Path(tmp) / name
            subprocess.run([sys.executable, "-m", "piptools", "compile", "--quiet", "--generate-hashes",
                            "--no-strip-extras", "--no-emit-index-url", "--no-emit-find-links", "--no-header",
                            f"--extra={extras}", f"--constraint={constraints}", f"--output-file={out}",
                            str(ROOT / "pyproject.toml")], check=True, cwd=ROOT)
            body = without_self(out.read_text(encoding="utf-8")).replace(str(constraints), "deploy/constraints")
            (ROOT / "deploy" / name).write_text(HEADER.format(what=WHAT[name]) + body, encoding="utf-8")


if __name__ == "__main__":
    main()
