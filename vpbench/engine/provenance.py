"""Where a result came from: code version, library versions, device, time — stamped on every record."""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

import vpbench


@functools.cache
def code_version() -> str:
    """The git commit of the vpbench checkout (with '-dirty' if it has uncommitted changes), else the version.

    Read once per process: `run` pins it before any work, so a record names the code that was loaded, not
    whatever the checkout holds when the record is written hours later (a commit made while a run trains
    would otherwise be credited with numbers it never computed)."""
    root = Path(vpbench.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            raise OSError
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return f"vpbench-{vpbench.__version__}"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def cpu_kernels(device: torch.device) -> str:
    """torch's CPU kernel set (e.g. "AVX512", "AVX2"): two machines with different sets round differently, which
    explains last-digit differences when a record is re-run elsewhere. Empty on a GPU."""
    return torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else ""


def kernels_or_gpu(device: torch.device, autocast: bool = False) -> str:
    """Where a training segment ran, as far as its numbers depend on it: the CPU kernel set, or the GPU.

    On a CPU the thread count also changes the rounding (a convolution's sums are split per thread), so a
    segment that ran on more than vpbench's default one thread says so ("AVX512, 2 threads"); a one-thread
    segment reads as before, so a run resumed under the default does not gain a segment it never had. A GPU
    segment says whether it trained under bf16 autocast ("NVIDIA H200, bf16 autocast"), which changes far more
    than rounding."""
    kernels = cpu_kernels(device)
    if not kernels:
        return device_name(device) + (", bf16 autocast" if autocast else "")
    threads = torch.get_num_threads()
    return kernels if threads == 1 else f"{kernels}, {threads} threads"


@functools.cache
def machine_id() -> str:
    """This boot of this machine: the kernel's boot id where Linux has one, else the host name.

    A training log names it on every segment, so that `sweep --plan` compares the paces of two thread counts
    only where one machine logged both: the machines a campaign here is drawn on differ up to twofold in speed
    at every thread count, so a pace at one thread from one machine over a pace at two from another measures
    the machines, not the layouts."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or platform.node()
    except OSError:
        return platform.node()


def stable_hash(payload: Any, length: int = 16) -> str:
    """SHA-256 of a JSON-serialisable payload with sorted keys: the same config always hashes the same."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def environment() -> dict[str, str]:
    return {
        "code_version": code_version(),
        "vpbench_version": vpbench.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }
