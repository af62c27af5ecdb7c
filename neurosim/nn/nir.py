"""NIR (Neuromorphic Intermediate Representation) export and import for ``neurosim.nn``.

    graph = export_nir(torch.nn.Sequential(torch.nn.Linear(20, 64), snn.LIF(64, reset="zero"),
                                           torch.nn.Linear(64, 10), snn.LI(10)), dt=1e-4)
    nir.write("net.nir", graph)
    net = import_nir(nir.read("net.nir"), dt=1e-4)     # a NIRNetwork
    out, state = net(x)                                 # x: [T, batch, 20] -> out: [T, batch, 10]

NIR describes each neuron by an ODE in continuous time:

    LI       tau dv/dt = (v_leak - v) + r I
    LIF      tau dv/dt = (v_leak - v) + r I;   z = H(v - v_threshold);   v -> v_reset where z = 1
    CubaLIF  tau_syn dI/dt = -I + w_in S;   tau_mem dv/dt = (v_leak - v) + r I;   spike/reset as LIF

neurosim steps them by forward Euler with step ``dt``, the discretisation snnTorch
(``snntorch.export_nir`` / ``import_nir``) and Norse (``LIFBoxCell``, ``LIBoxCell``, its
CubaLIF import) use:

    v[t] = v[t-1] + dt/tau (v_leak - v[t-1] + r I[t])
         = beta v[t-1] + (r dt/tau) I[t] + (dt/tau) v_leak,        beta = 1 - dt/tau

so **beta = 1 - dt/tau** (not ``exp(-dt/tau)``; ``tau = dt / (1 - beta)``) and the input is
multiplied by the gain ``r dt/tau``. The exporter writes ``r = tau/dt`` (gain 1, as snnTorch
does), so the NIR membrane is neurosim's membrane. For CubaLIF, with ``alpha = 1 - dt/tau_syn``:

    i[t] = alpha i[t-1] + (w_in dt/tau_syn) S[t]
    u[t] = beta v[t-1] + (r dt/tau_mem) i[t] + (dt/tau_mem) v_leak

(the membrane takes the current of the same step, as snnTorch's ``Synaptic`` and Norse do).
Spikes are strict (``v > v_threshold``) and the membrane is set to ``v_reset`` in the step of
the spike: neurosim's ``LIF(reset="zero")``. neurosim's initial state is 0 for every variable.

Recurrence is written as graph edges: ``lif -> w_rec -> lif`` with ``w_rec`` an ``Affine`` or
``Linear``; the recurrent input at step t is ``w_rec`` applied to the spikes of step t-1 (the
spikes before step 0 are 0, so a bias of ``w_rec`` acts from step 0 on, as in snnTorch's
``RLeaky``/``RSynaptic``). The exporter writes a ``RecurrentLIF`` as the nodes
``<i>.w_in -> <i>.lif``, ``<i>.lif -> <i>.w_rec -> <i>.lif`` (the flat, dotted form of the
NIR paper's graphs and of snnTorch's export).

Units: ``dt`` is in the unit of the graph's time constants. snnTorch always exports and imports
with ``dt = 1e-4`` (its ``tau = 1e-4 / (1 - beta)``); Norse's ``to_nir`` writes
``tau = dt / tau_mem_inv`` (``dt * tau_mem``), which is the time constant only for ``dt = 1``.
Pass the ``dt`` the graph was written with: a wrong ``dt`` changes every ``beta``.

Not in NIR, so not exported: the surrogate, ``detach_reset`` and the backend (``import_nir``
takes them as arguments). NIR's LIF only resets to a value, so a layer with
``reset="subtract"`` or ``"none"`` is refused unless ``strict=False``.

With the peers (``tests/test_nn_nir.py`` checks each of these; snnTorch 1.0, Norse 1.1,
nirtorch 2.6):

- ``snntorch.import_from_nir`` reads ``export_nir(net, dt=1e-4)`` of feed-forward networks
  exactly (it assumes dt = 1e-4 and needs one threshold per layer). It mis-wires recurrent
  graphs: its subgraph routes the layer's input through ``w_rec``.
- ``norse.torch.from_nir(graph, dt=dt)`` ignores ``r`` of LIF nodes (it always applies the gain
  ``dt / tau``): export with ``unit_resistance=True`` for Norse; feed-forward and recurrent
  LIF graphs then give the same spikes. Norse reads no LI nodes.
- Graphs from snnTorch (``Leaky``, ``RLeaky``, ``Synaptic`` with ``reset_mechanism="zero",
  reset_delay=False``; import with ``dt=1e-4``) and from Norse (``LIFBoxCell``, ``LIBoxCell``
  written with ``dt=1``) import into the same outputs. nirtorch-run graphs (both peers'
  importers) feed 0 from a recurrent node before its first output, so there a recurrent bias
  acts from step 1 on.

The code is split by direction, as SpikingJelly's ``nir_exchange`` is: :mod:`neurosim.nn.nir_export`
and :mod:`neurosim.nn.nir_import`, with the modules a graph becomes in :mod:`neurosim.nn.nir_layers`
(``CubaLIF``, a layer in its own right, is :class:`neurosim.nn.CubaLIF`).
"""

from .cuba_lif import CubaLIF, CubaLIFState
from .nir_export import export_nir
from .nir_import import import_nir
from .nir_layers import (
    CubaLI,
    Delay,
    MultiSpikeIF,
    NIRConversionError,
    NIRNetwork,
    PerStep,
    Scale,
    ScaledInput,
    Shaped,
    Threshold,
)

__all__ = ["export_nir", "import_nir", "NIRNetwork", "CubaLIF", "CubaLIFState", "ScaledInput", "Scale",
           "NIRConversionError", "PerStep", "Shaped", "MultiSpikeIF", "Threshold", "Delay", "CubaLI"]
