"""Shared fixtures: the study configuration and the tiny example drop shipped with the tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from transforms.config import StudyConfig, load_study

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = FIXTURES / "examples"


@pytest.fixture(scope="session")
def study() -> StudyConfig:
    """The NCT03668171 configuration."""
    return load_study("nct03668171")


@pytest.fixture(scope="session")
def examples() -> Path:
    """The example drop from the study's contracts (examples/)."""
    return EXAMPLES
