"""The largest network this machine holds: 10^6 LIF neurons with 10^9 synapses, float32 weights.

The network of ``bench_gpu.py`` (CUBA-style, 80 % excitatory, fixed in-degree, CUBA weights
scaled by 80 / in-degree so the mean input stays CUBA's) at ``--n`` neurons and ``--in-degree``
synapses per neuron (default 10^6 x 1000 = 10^9), built with ``Network(precision="float32")``
and run for ``--duration`` ms (1 s) on the numba backend with ``--threads`` threads.

Reported: the time of each step of building (every ``connect``, then the first run's flattening
into the engine's pool), the run time, the peak resident memory of the process over building
and over the whole job (Linux ``VmHWM``) and per synapse, spikes, rate, synaptic events and
events per second. No peer: Brian2 standalone needs about 28 bytes a synapse here
(``bench_scale.py``), which for 10^9 synapses is more than this 24 GiB machine has.

    python benchmarks/bench_moonshot.py                         # 10^6 neurons, 10^9 synapses
    python benchmarks/bench_moonshot.py --n 1e5 --in-degree 100 # a quick look

A measurement script, not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import neurosim as ns
from bench_engine import cpu_name  # benchmarks/ is on the path when this script runs
from bench_scale import reset_peak_rss, status_kib
from neurosim.examples.cuba import W_EXC, W_INH


def status(key: str) -> int:
    """A field of /proc/self/status (Linux), bytes."""
    return status_kib(key) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=float, default=1e6)
    parser.add_argument("--in-degree", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=1000.0, help="biological time, ms")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n, k = int(args.n), args.in_degree
    print(f"machine: {platform.node()}, CPU {cpu_name()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}; "
          f"{n} neurons x in-degree {k} = {n * k:.3g} synapses, float32, {args.duration:g} ms, dt 0.1 ms")

    # compile (or load) the kernels first, on a small network of the same models
    warm = ns.Network(dt=0.1, seed=0, precision="float32")
    e, i = warm.population("exc", ns.LIF.cuba(80)), warm.population("inh", ns.LIF.cuba(20))
    warm.connect(e, [e, i], ns.connect.fixed_in_degree(8), weight=W_EXC)
    warm.connect(i, [e, i], ns.connect.fixed_in_degree(2), weight=W_INH)
    warm.run(1.0, progress=False, threads=args.threads)
    del warm, e, i
    if not reset_peak_rss():  # peak resident set from here
        raise SystemExit("needs Linux (/proc/self/clear_refs, /proc/self/status) to measure memory")
    base = status("VmRSS")

    t0 = time.perf_counter()
    net = ns.Network(dt=0.1, seed=args.seed, precision="float32")
    n_exc = int(round(0.8 * n))
    exc = net.population("exc", ns.LIF.cuba(n_exc))
    inh = net.population("inh", ns.LIF.cuba(n - n_exc))
    k_exc, k_inh = int(round(0.8 * k)), k - int(round(0.8 * k))
    scale = 80.0 / k
    for source, target, degree, w in ((exc, exc, k_exc, W_EXC), (exc, inh, k_exc, W_EXC), (inh, exc, k_inh, W_INH),
                                      (inh, inh, k_inh, W_INH)):
        t = time.perf_counter()
        net.connect(source, target, ns.connect.fixed_in_degree(degree), weight=w * scale, allow_self=True)
        print(f"  connect {source.name}->{target.name}: {time.perf_counter() - t:7.1f} s, "
              f"resident {(status('VmRSS') - base) / 2**30:5.2f} GiB", flush=True)
    connect_s = time.perf_counter() - t0
    result = net.run(args.duration, progress=True, threads=args.threads)
    total_s = time.perf_counter() - t0
    synapses = sum(p.n_synapses for p in net.projections)
    peak = status("VmHWM") - base
    events = result.info["synaptic_events"]
    spikes = result.spike_count()
    print(f"synapses {synapses:.4g}; building {connect_s + result.info['build_s']:.1f} s (connect {connect_s:.1f} s, "
          f"flatten {result.info['build_s']:.1f} s); run {result.info['simulate_s']:.1f} s "
          f"(threads {args.threads or 'auto'}); whole job {total_s:.1f} s")
    print(f"peak resident memory {peak / 2**30:.2f} GiB = {peak / synapses:.2f} bytes a synapse; resident after the run "
          f"{(status('VmRSS') - base) / synapses:.2f} bytes a synapse")
    print(f"spikes {spikes}, rate {spikes / n / (args.duration * 1e-3):.2f} Hz, synaptic events {events:.4g}, "
          f"{events / result.info['simulate_s']:.3g} events/s")


if __name__ == "__main__":
    main()
