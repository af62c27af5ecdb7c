"""Compile the Triton engine kernels for an H100 (sm_90) without a GPU: Triton's full compiler
path (TTIR, TTGIR, LLVM, PTX, ptxas to a cubin), which the interpreter never takes.

Run by ``tests/test_engine_triton.py`` in a subprocess without TRITON_INTERPRET (triton decides
interpreter or compiler at import time). Prints one line per kernel: name, whether the PTX holds
a fused multiply-add (it must not: the reference rounds every product), the atomic
instructions used, and the cubin size.
"""

import os

os.environ.pop("TRITON_INTERPRET", None)

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from neurosim.kernels import engine_triton as engine  # noqa: E402

F64, I64, U8 = "*fp64", "*i64", "*u8"
SCALARS = {"row", "step", "n_recordable", "n_cols", "n_dynamic", "lo", "hi", "first", "substeps", "e0", "e1"}
FLOAT_ARRAYS = {"values", "v", "u", "currents", "ring", "until", "i_mean", "noise", "scalars", "now_weight",
                "later_weight", "decay_exc", "decay_inh", "v_rest", "decay_m", "gain_exc", "gain_inh", "gain_ext",
                "v_threshold", "v_reset", "refractory_steps", "a", "b", "c", "d", "v_peak", "k2", "k1", "k0", "v_u"}
I64_SCALARS = {"capacity", "slot_offset", "noise_offset", "ring_base", "ring_size"}
KERNELS = {"_step_begin": {"BLOCK": 128}, "_lif_step": {"BLOCK": engine.BLOCK},
           "_izhikevich_step": {"BLOCK": engine.BLOCK}, "_propagate": {"NPROG": 528, "BLOCK": engine.BLOCK}}


def signature(fn, constexprs):
    types = {}
    for name in fn.arg_names:
        if name in constexprs:
            types[name] = "constexpr"
        elif name in SCALARS:
            types[name] = "i32"
        elif name in I64_SCALARS:
            types[name] = "i64"
        elif name == "record":
            types[name] = U8
        else:
            types[name] = F64 if name in FLOAT_ARRAYS else I64
    return types


for name, constexprs in KERNELS.items():
    fn = getattr(engine, name)
    source = ASTSource(fn=fn, signature=signature(fn, constexprs),
                       constexprs={(fn.arg_names.index(k),): v for k, v in constexprs.items()})
    kernel = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"enable_fp_fusion": False})
    ptx = kernel.asm["ptx"]
    atomics = sorted({word for line in ptx.splitlines() for word in line.split() if word.startswith(("atom.", "red."))})
    print(name, "fma" if "fma.rn.f64" in ptx else "no-fma", ",".join(atomics) or "-", len(kernel.asm["cubin"]))
