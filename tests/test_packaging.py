"""pyproject.toml: installs without setuptools' deprecation boxes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_license_is_an_spdx_string_and_the_build_needs_a_setuptools_that_reads_it() -> None:
    """A ``{ text = ... }`` table is deprecated (PEP 639); SPDX strings need setuptools 77."""
    config = tomllib.loads(PYPROJECT.read_text("utf-8"))
    assert config["project"]["license"] == "MIT"
    assert not any(c.startswith("License ::") for c in config["project"].get("classifiers", []))
    (setuptools,) = [r for r in config["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert minimum is not None and int(minimum.group(1)) >= 77


def test_every_data_file_the_code_opens_is_in_the_package_data() -> None:
    """A wheel without the .tcss files opens an unstyled inbox; without the scenarios,
    ``smsdesk sim --seed-demo`` fails. setuptools ships only what package-data names."""
    root = PYPROJECT.parent
    config = tomllib.loads(PYPROJECT.read_text("utf-8"))
    shipped = {
        path
        for package, patterns in config["tool"]["setuptools"]["package-data"].items()
        for pattern in patterns
        for path in (root / package.replace(".", "/")).glob(pattern)
    }
    data = {*root.glob("tui/**/*.tcss"), *root.glob("server/**/*.toml")}
    assert data and data <= shipped, sorted(str(p.relative_to(root)) for p in data - shipped)
