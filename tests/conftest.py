"""Shared fixtures. Tests never touch the user's data cache: VPBENCH_DATA points at a temp folder."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_data_root(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VPBENCH_DATA", str(tmp_path_factory.mktemp("vpbench-data")))


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
