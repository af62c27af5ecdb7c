"""Compile the Triton engine kernels for an H100 (sm_90) without a GPU: Triton's full compiler
path (TTIR, TTGIR, LLVM, PTX, ptxas to a cubin), which the interpreter never takes.

Run by ``tests/test_engine_triton.py`` in a subprocess without TRITON_INTERPRET (triton decides
interpreter or compiler at import time). Prints one line per kernel: name, whether the PTX holds
a fused multiply-add (it must not: the reference rounds every product), the atomic
instructions used, and the cubin size. With ``--plastic`` (``tests/test_plasticity_triton.py``):
instead the plastic-synapse kernels, the shared ones and those generated for the built-in
synapse models.
"""

import os
import sys

os.environ.pop("TRITON_INTERPRET", None)

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from neurosim.kernels.engine import triton as engine  # noqa: E402
from neurosim.kernels.codegen.modules import load_source  # noqa: E402
from neurosim.kernels.codegen.triton_source import engine_source  # noqa: E402
from neurosim import SynapseModel  # noqa: E402
from neurosim.model_library import ADEX_MODEL, COND_LIF_MODEL, IZHIKEVICH_MODEL, LIF_MODEL  # noqa: E402
from neurosim.plasticity.synapses import (IZHIKEVICH_STDP_MODEL, TSODYKS_MARKRAM_DEPRESSING_MODEL,  # noqa: E402
                                          TSODYKS_MARKRAM_MODEL, stdp_model)

PLASTIC = "--plastic" in sys.argv[1:]
MODELS = (LIF_MODEL, IZHIKEVICH_MODEL, ADEX_MODEL, COND_LIF_MODEL)
# an exp-free trace rule: its kernels must hold no fma at all (the built-ins' exp is libdevice's,
# which uses fma inside)
_EXP_FREE = SynapseModel("exp_free", parameters={"tau": 10.0, "a": 0.1}, state={"w": None, "tr": 0.0},
                         on_pre="release = w * tr\ntr = tr / (1 + elapsed / tau) + a",
                         on_post="w = clip(w + a * tr * tr, 0, 1)")
# kinds 0..5: STDP (additive, all-to-all), Izhikevich 2006 (periodic), STDP (multiplicative,
# nearest), Tsodyks-Markram with facilitation, and depressing only, the exp-free rule
SYNAPSE_MODELS = (stdp_model(), IZHIKEVICH_STDP_MODEL, stdp_model("multiplicative", "nearest"), TSODYKS_MARKRAM_MODEL,
                  TSODYKS_MARKRAM_DEPRESSING_MODEL, _EXP_FREE) if PLASTIC else ()
# the neuron kernels of the built-in models (and the synapse models' kernels)
generated = load_source("engine_triton", engine_source(MODELS, SYNAPSE_MODELS))

F64, I64, U8 = "*fp64", "*i64", "*u8"
SCALARS = {"row", "step", "n_recordable", "n_cols", "n_dynamic", "lo", "hi", "start", "n_kind", "substeps", "e0", "e1",
           "slot", "cap", "n_kinds", "_cap", "_n_slots", "_n_delays", "_n_syn", "_n_dynamic", "_step", "_per_synapse"}
FLOAT_ARRAYS = {"values", "state", "currents", "ring", "until", "i_mean", "noise", "scalars", "now_weight",
                "later_weight", "coefficients", "refractory_steps", "_syn", "_coefficients", "_values", "_scalars", "_tables"}
I64_SCALARS = {"capacity", "slot_offset", "noise_offset", "ring_base", "ring_size"}
U8_ARRAYS = {"record", "keep"}
if PLASTIC:
    KERNELS = {"_remember": (engine, {"BLOCK": engine.BLOCK}), "_synapses_end": (engine, {})}
    for m, d in enumerate(SYNAPSE_MODELS):
        KERNELS[f"arrive_{m}"] = (generated, {"M": m, "NPROG": 528, "CHAIN": True, "BLOCK": engine.BLOCK})
        if d.on_post:
            KERNELS[f"post_{m}"] = (generated, {"M": m, "NPROG": 528, "BLOCK": engine.BLOCK})
        if d.periodic:
            KERNELS[f"periodic_{m}"] = (generated, {"M": m, "BLOCK": engine.BLOCK})
else:
    KERNELS = {"_step_begin": (engine, {"BLOCK": 128}), "_propagate": (engine, {"NPROG": 528, "BLOCK": engine.BLOCK})}
    KERNELS.update({f"step_{k}": (generated, {"BLOCK": engine.BLOCK}) for k in range(len(MODELS))})


def signature(fn, constexprs):
    types = {}
    for name in fn.arg_names:
        if name in constexprs:
            types[name] = "constexpr"
        elif name in SCALARS:
            types[name] = "i32"
        elif name in I64_SCALARS:
            types[name] = "i64"
        elif name in U8_ARRAYS:
            types[name] = U8
        else:
            types[name] = F64 if name in FLOAT_ARRAYS else I64
    return types


for name, (module, constexprs) in KERNELS.items():
    fn = getattr(module, name)
    source = ASTSource(fn=fn, signature=signature(fn, constexprs),
                       constexprs={(fn.arg_names.index(k),): v for k, v in constexprs.items()})
    kernel = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"enable_fp_fusion": False})
    ptx = kernel.asm["ptx"]
    atomics = sorted({word for line in ptx.splitlines() for word in line.split() if word.startswith(("atom.", "red."))})
    print(name, "fma" if "fma.rn.f64" in ptx else "no-fma", ",".join(atomics) or "-", len(kernel.asm["cubin"]))
