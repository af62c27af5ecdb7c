"""FORCE training of a spiking Izhikevich network (Nicola & Clopath 2017, Fig. 2).

Network: :meth:`IzhikevichReservoir.nicola_clopath` — 2000 Izhikevich neurons in capacitance
form (C = 250 pF, k = 2.5, v_r = -60 mV, v_t = -19.2 mV, a = 0.01, b = -2, d = 200 pA,
v_peak = 30 mV, reset -65 mV, bias 1000 pA), static random weights of gain G through
double-exponential synapses (rise 2 ms, decay 20 ms), dt = 0.04 ms; the readout
``z = phi^T r`` of the filtered spike trains is fed back through encoders uniform in
[-Q, Q] and ``phi`` is learnt by recursive least squares every 20 steps (``P(0) = 2 I``).
Parameters from the authors' code (ModelDB 190565): ``task="sine"`` is IZFORCESINE.m
(5 Hz sinusoid, G = 5000, Q = 5000), ``task="product"`` IZFORCEPRODSINE.m
(sin(2 pi 4 t) sin(2 pi 6 t), G = 10000, Q = 9000).

Schedule (theirs): ``settle`` ms of spontaneous activity (the readout is 0), ``train`` ms of
FORCE, then testing with learning off for the rest of ``duration`` (the whole simulated run):
the network keeps producing the target from its own feedback. Measured: normalised RMSE of the output over the test
(RMSE / std of the target), firing rate, wall time per phase.

Departures from their code: the engine updates ``u`` with the new ``v`` (they use the
previous one) and the feedback current is held for ``every`` steps (1 = every step, theirs).
``update="nicola-clopath"`` (default) is their RLS weight step; ``"rls"`` the exact one.

Outputs in ``--out``: ``force.png`` (target and output through the end of training and the
test, error beneath), ``raster.png`` (test phase) and ``summary.json``.

Run: ``neurosim run force-sine --out results/force`` (about 2 minutes on two cores).
"""

from __future__ import annotations

import time

import numpy as np

from neurosim.experiments import experiment, output_files, write_summary
from neurosim.validation import check_number

#: task -> (target function of t in ms, G, Q), from the authors' scripts
TASKS = {
    "sine": (lambda t: np.sin(2 * np.pi * 5e-3 * t), 5e3, 5e3),
    "product": (lambda t: np.sin(2 * np.pi * 4e-3 * t) * np.sin(2 * np.pi * 6e-3 * t), 1e4, 9e3),
}


def nrmse(output: np.ndarray, target: np.ndarray) -> float:
    """Root-mean-square error divided by the standard deviation of the target."""
    return float(np.sqrt(np.mean((output - target) ** 2)) / np.std(target))


@experiment("force-sine")
def force_sine(*, duration: float = 11000.0, seed: int = 1, backend: str = "numba", out: str | None = None,
               progress: bool | None = None, task: str = "sine", n: int = 2000, dt: float = 0.04,
               settle: float = 5000.0, train: float = 5000.0, regularization: float = 0.5, learn_every: int = 20,
               every: int = 1, feedback: bool = True, update: str = "nicola-clopath") -> dict:
    """FORCE-trained Izhikevich network (Nicola & Clopath 2017): 5 Hz sine or product of sines.

    ``duration``: simulated time per trial, ms; the experiment is one trial, the whole run: it
    settles for ``settle`` ms, learns for ``train`` ms, then is tested with learning off for the
    remaining ``duration - settle - train`` ms (> 0). ``task`` is "sine" or "product"."""
    from neurosim.circuits import IzhikevichReservoir
    from neurosim.plasticity import FORCE

    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    f, G, Q = TASKS[task]
    check_number("settle", settle, nonnegative=True)
    check_number("train", train, nonnegative=True)
    testing = check_number("duration", duration, nonnegative=True) - settle - train
    if not testing > 0:
        raise ValueError(f"duration ({duration:g} ms) is the whole simulated run: it must exceed settle + train "
                         f"({settle + train:g} ms) to leave time for the test phase")
    res = IzhikevichReservoir.nicola_clopath(n, G=G, Q=Q, dt=dt, seed=seed)
    force = FORCE(res.n, 1, regularization=regularization, update=update)
    opts = dict(readout=force, feedback=feedback, every=every, backend=backend, progress=progress)

    def target(offset):  # the target over a phase starting at offset ms
        return lambda t: [f(offset + t)]

    phases, wall = {}, {}
    for name, length, learn in (("settle", settle, False), ("train", train, True), ("test", testing, False)):
        start = res.network.step * res.dt
        t0 = time.perf_counter()
        phases[name] = res.run(length, target=target(start), learn=learn, learn_every=learn_every, **opts)
        wall[name] = time.perf_counter() - t0
    test = phases["test"]
    z, y = test.outputs[:, 0], test.targets[:, 0]
    last_train = phases["train"].times >= phases["train"].times[-1] - 1000.0
    metrics = {
        "experiment": "force-sine", "task": task, "n": res.n, "dt_ms": dt, "G": G, "Q": Q, "seed": seed,
        "feedback": feedback, "every_steps": every, "rls_every_steps": learn_every, "rls_update": update,
        "nrmse_test": nrmse(z, y),
        "nrmse_test_first_1s": nrmse(z[test.times - test.times[0] < 1000.0], y[test.times - test.times[0] < 1000.0]),
        "nrmse_train_last_1s": nrmse(phases["train"].outputs[last_train, 0], phases["train"].targets[last_train, 0]),
        "rate_hz_test": float(test.result.counts.sum() / (testing * 1e-3) / res.n),
        "rls_updates": force.n_updates,
        "wall_s": {k: round(v, 2) for k, v in wall.items()},
        "wall_s_per_biological_s_training": round(wall["train"] / (train * 1e-3), 2) if train > 0 else None,
    }
    if out is not None:
        from neurosim import plot
        files = output_files(out, "force", "raster")
        plot_force(phases, path=files["force"], title=f"FORCE, {task}: test NRMSE {metrics['nrmse_test']:.3f}")
        plot.raster(test.result, path=files["raster"], title=f"FORCE network ({res.n} Izhikevich neurons), test phase")
        write_summary(files, metrics)
        metrics["files"] = files
    return metrics


def plot_force(phases: dict, path=None, title: str = "", tail_ms: float = 1000.0):
    """Target and output over the last ``tail_ms`` of training and the whole test, with the
    error beneath; the training part is shaded. Returns the matplotlib Figure."""
    from neurosim.plot import _figure, save_figure

    train, test = phases["train"], phases["test"]
    keep = train.times >= train.times[-1] - tail_ms
    t = np.concatenate([train.times[keep], test.times]) * 1e-3
    z = np.concatenate([train.outputs[keep, 0], test.outputs[:, 0]])
    y = np.concatenate([train.targets[keep, 0], test.targets[:, 0]])
    fig = _figure((9, 4.5))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    for ax in (top, bottom):
        ax.axvspan(t[0], test.times[0] * 1e-3, color="0.92", lw=0)
    top.plot(t, y, color="k", lw=2, label="target")
    top.plot(t, z, color="#d62728", lw=1, label="network output")
    top.set_ylabel("output")
    top.legend(loc="upper right", fontsize=8)
    top.set_title(title + "   (shaded: learning on)")
    bottom.plot(t, z - y, color="#1f77b4", lw=0.8)
    bottom.set_ylabel("error")
    bottom.set_xlabel("time (s)")
    return save_figure(fig, path, 150)
