"""Test-session set-up.

Triton kernels are tested on every machine: without a CUDA GPU they run in Triton's
interpreter on CPU tensors, which must be switched on before triton is first imported.
"""

import os


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


if not _has_cuda():
    os.environ.setdefault("TRITON_INTERPRET", "1")
