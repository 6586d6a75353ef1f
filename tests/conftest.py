"""Shared fixtures. Tests never touch the user's data cache: VPBENCH_DATA points at a temp folder."""

from __future__ import annotations

import sys
from typing import NamedTuple

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_data_root(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VPBENCH_DATA", str(tmp_path_factory.mktemp("vpbench-data")))


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


class Finished(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def vpbench_cli(monkeypatch, capsys):
    """`vpbench_cli("table", "--metric", "ssim")` runs the command in this process, as a user types it (the real
    entry point: argument parsing, error contract, exit code), and returns (exit code, stdout, stderr)."""

    def run(*arguments: str) -> Finished:
        from vpbench.cli import main  # here, not at the top: most tests never need the command line

        monkeypatch.setattr(sys, "argv", ["vpbench", *arguments])
        with pytest.raises(SystemExit) as stopped:
            main()
        captured = capsys.readouterr()
        return Finished(stopped.value.code, captured.out, captured.err)

    return run
