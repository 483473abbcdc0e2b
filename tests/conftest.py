"""Shared fixtures: the test data folders and an isolated graph cache."""
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    "Every test gets its own empty graph cache."
    monkeypatch.setenv('NIRICH_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


@pytest.fixture
def tiny():
    "16 small Ni-rich cells labelled with their exact volume per atom (see tests/fixtures/README.md)."
    return TESTS / 'fixtures' / 'tiny'
