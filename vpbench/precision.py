"""Full float32 arithmetic for every number vpbench reports, whatever the GPU's defaults.

Why: PyTorch lets cuDNN run float32 convolutions in TF32 (a 10-bit mantissa) by default on Ampere and later
GPUs. Training tolerates that (it runs under bf16 autocast anyway), but a record is a claim that the same
checkpoint gives the same numbers anywhere. Measured on an H200 (2026-12-04, `benchmarks/bench_cuda.py`): four
CPU-trained long-track checkpoints evaluated on the GPU reproduced their CPU records within `vpbench check`'s
cross-environment tolerance with TF32 off (at most 4.1e-5 relative over 187 numbers each), while with TF32 on
`srvp-wo-rfa`'s srvp-paper PSNR at frame 10 moved from 8.423 to 8.353 (0.8%), outside it. So evaluation and
validation (the model's predictions) and the metric accumulator (SSIM's windows are convolutions) turn TF32
off, and restore the caller's setting afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def float32_exact() -> Iterator[None]:
    """Within: no TF32 in cuDNN convolutions or CUDA matrix products (a no-op on CPU)."""
    convolutions, matmuls = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = convolutions, matmuls
