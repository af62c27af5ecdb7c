"""Zero-shot audio -> image matching through two frozen liquids and contrastive projection
heads (the software side of Lin et al. 2025, "Resistive memory-based zero-shot liquid state
machine for multimodal event data learning").

Data, generated offline: event-camera digits (:func:`neurosim.event_data.event_digits`) and
spoken-digit-like cochlear event streams (:func:`neurosim.event_data.cochlear_digits`).
Each modality drives its own liquid (:class:`neurosim.circuits.LiquidStateMachine`, frozen,
random); the features are the liquid states read every ``readout_ms``. One head per modality
(linear + GELU into 64 dimensions) is trained with a CLIP-style loss on pairs matched by class
(:class:`neurosim.circuits.contrastive.ContrastiveHeads`), on the *seen* classes only.

Measured, per held-out class pair (the paper holds out 8 and 9; here every disjoint pair 0/1 ...
8/9 in turn, so the figure is not one lucky split):

* zero-shot: each audio sample of the two unseen classes takes the class of the most similar
  image (one random image per unseen class, averaged over draws; chance 1/2), and against the
  class-mean image embedding ("prototype");
* seen classes: the same retrieval among the seen classes on held-out samples (chance 1/8);
* supervised linear probes (ridge) on the seen classes, per modality, on held-out samples.

The same heads on the raw binned input (no liquid) are the comparison.

Note what the data can and cannot show: the two modalities share nothing but the label, so
nothing in the seen classes says how an unseen image class should line up with an unseen
sound class; above-chance zero-shot matching then depends on how each head happens to place
the unseen classes, and varies from pair to pair (the spread is reported).

Outputs in ``--out``: zero_shot.png, summary.json (the table). Run:
``neurosim run lsm-zero-shot --out results/zero-shot`` (about 3 minutes).
"""

from __future__ import annotations

import time

import numpy as np

from neurosim.experiments import experiment, output_files, write_summary

from neurosim.examples.lsm_events import readout_times


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """``"8,9;0,1"`` -> ``[(8, 9), (0, 1)]``; ``"all"`` -> every disjoint pair 0/1 ... 8/9."""
    if text == "all":
        return [(k, k + 1) for k in range(0, 10, 2)]
    try:
        pairs = [tuple(int(v) for v in item.split(",")) for item in text.split(";")]
    except ValueError:
        raise ValueError(f"held_out must be 'all' or look like '8,9;0,1', got {text!r}") from None
    for p in pairs:
        if len(p) < 2 or len(set(p)) != len(p) or not all(0 <= c <= 9 for c in p):
            raise ValueError(f"held_out: each group needs two or more distinct classes in 0..9, got {p}")
    return pairs


def split_seen(labels: np.ndarray, unseen, test_fraction: float, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices: seen-class training samples, seen-class test samples, unseen-class samples."""
    unseen_mask = np.isin(labels, unseen)
    seen = np.flatnonzero(~unseen_mask)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels[seen]):
        members = rng.permutation(np.flatnonzero(labels == c))
        test[members[: int(round(test_fraction * len(members)))]] = True
    return np.flatnonzero(~unseen_mask & ~test), np.flatnonzero(~unseen_mask & test), np.flatnonzero(unseen_mask)


def evaluate_split(image, image_y, audio, audio_y, unseen, *, seed: int, epochs: int, lr: float, dim: int,
                   temperature: float) -> dict:
    """Train heads on the seen classes, return zero-shot, seen-class and probe accuracies."""
    from neurosim.circuits.contrastive import ContrastiveHeads
    from neurosim.circuits.lsm import linear_probe

    rng = np.random.default_rng(seed)
    i_tr, i_te, i_un = split_seen(image_y, unseen, 0.3, rng)
    a_tr, a_te, a_un = split_seen(audio_y, unseen, 0.3, rng)
    heads = ContrastiveHeads(image.shape[1], audio.shape[1], dim=dim, lr=lr, temperature=temperature, seed=seed)
    heads.fit(image[i_tr], image_y[i_tr], audio[a_tr], audio_y[a_tr], epochs=epochs)
    zero = heads.retrieval_accuracy(audio[a_un], audio_y[a_un], image[i_un], image_y[i_un])
    seen = heads.retrieval_accuracy(audio[a_te], audio_y[a_te], image[i_te], image_y[i_te])
    probes = {}
    for name, x, y, tr, te in (("image", image, image_y, i_tr, i_te), ("audio", audio, audio_y, a_tr, a_te)):
        probes[name] = float(linear_probe().fit(x[tr], y[tr]).score(x[te], y[te]))
    return {"unseen": list(unseen), "zero_shot": zero, "seen": seen, "probe": probes,
            "final_loss": float(np.mean(heads.losses[-10:]))}


def plot_zero_shot(table: dict, path: str) -> None:
    from matplotlib.figure import Figure

    from neurosim.plot import save_figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    colors = {"liquid": "#1f77b4", "raw": "#7f7f7f"}
    names = {"liquid": "liquid states", "raw": "raw binned input"}
    features = list(table)
    splits = [tuple(r["unseen"]) for r in table[features[0]]]
    x = np.arange(len(splits))
    width = 0.8 / len(features)
    for k, f in enumerate(features):
        acc = [r["zero_shot"]["sample"] for r in table[f]]
        ax1.bar(x + (k - (len(features) - 1) / 2) * width, acc, width, color=colors.get(f), label=names.get(f, f))
    chance = table[features[0]][0]["zero_shot"]["chance"]
    ax1.axhline(chance, color="k", ls=":", lw=1, label=f"chance ({chance:.2f})")
    ax1.set_xticks(x, ["unseen " + "/".join(map(str, s)) for s in splits], fontsize=8)
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("audio → image top-1")
    ax1.set_title("zero-shot on held-out classes")
    ax1.legend(fontsize=8)
    metrics = [("zero-shot\n(unseen)", lambda r: r["zero_shot"]["sample"]),
               ("retrieval\n(seen)", lambda r: r["seen"]["sample"]),
               ("probe image\n(seen)", lambda r: r["probe"]["image"]),
               ("probe audio\n(seen)", lambda r: r["probe"]["audio"])]
    x = np.arange(len(metrics))
    for k, f in enumerate(features):
        vals = np.array([[m(r) for r in table[f]] for _, m in metrics])
        ax2.bar(x + (k - (len(features) - 1) / 2) * width, vals.mean(1), width, yerr=vals.std(1), capsize=3,
                color=colors.get(f), label=names.get(f, f))
    ax2.set_xticks(x, [name for name, _ in metrics], fontsize=8)
    ax2.set_ylim(0, 1)
    ax2.set_title(f"mean ± SD over {len(splits)} splits")
    ax2.legend(fontsize=8)
    save_figure(fig, path)


@experiment("lsm-zero-shot")
def lsm_zero_shot(*, duration: float = 300.0, seed: int = 0, backend: str = "numba", out: str | None = None,
                  progress: bool | None = None, n_samples: int = 1000, held_out: str = "all",
                  readout_ms: float = 30.0, image_pool: int = 4, dt: float = 0.5, input_scale: float = 0.2,
                  weight_scale: float = 0.1, input_fraction: float = 0.1, epochs: int = 100, lr: float = 1e-3, dim: int = 64,
                  temperature: float = 0.1) -> dict:
    """Zero-shot audio -> image matching: two frozen liquids + contrastive projection heads.

    ``duration``: simulated time per trial, ms: each of ``n_samples`` streams per modality runs
    through its liquid for ``duration`` ms, read every ``readout_ms``. ``held_out``: the unseen classes, "all" (every pair 0/1 ...
    8/9 in turn) or groups like "8,9;0,1"; heads: ``dim``-d space, Adam (``lr``) for
    ``epochs``, CLIP ``temperature``. The liquids are 15 x 3 x 3 (seeds 1 and 2) with the
    input and recurrent amplitudes scaled by ``input_scale`` and ``weight_scale``."""
    from neurosim.circuits.lsm import LiquidStateMachine
    from neurosim.event_data import binned_counts, cochlear_digits, event_digits

    t_start = time.perf_counter()
    splits = parse_pairs(held_out)
    times = readout_times(readout_ms, duration)
    images, image_y = event_digits(n_samples, seed=seed)
    sounds, audio_y = cochlear_digits(n_samples, seed=seed)
    features = {"liquid": {}, "raw": {}}
    for name, streams, pool, liquid_seed in (("image", images, image_pool, 1), ("audio", sounds, 1, 2)):
        # static synapses: the liquid this experiment was measured with (README); its scaled-down
        # amplitudes would leave a liquid of dynamic (depressing) synapses nearly silent
        lsm = LiquidStateMachine(streams[0].channels(pool)[1], dt=dt, seed=liquid_seed, input_scale=input_scale,
                                 weight_scale=weight_scale, input_fraction=input_fraction, dynamic_synapses=False,
                                 backend=backend)
        states = lsm.states(streams, times, pool=pool, progress=progress)
        features["liquid"][name] = states.reshape(len(states), -1)
        raw = binned_counts(streams, times, pool)
        features["raw"][name] = raw.reshape(len(raw), -1)
    simulated = time.perf_counter() - t_start
    table = {}
    for kind, feats in features.items():
        table[kind] = [evaluate_split(feats["image"], image_y, feats["audio"], audio_y, unseen, seed=seed + k,
                                      epochs=epochs, lr=lr, dim=dim, temperature=temperature)
                       for k, unseen in enumerate(splits)]

    def summary(rows, key):
        vals = [key(r) for r in rows]
        return {"mean": float(np.mean(vals)), "sd": float(np.std(vals)), "per_split": vals}

    metrics = {
        "experiment": "lsm-zero-shot", "n_samples_per_modality": int(n_samples), "held_out": [list(s) for s in splits],
        "chance_zero_shot": table["liquid"][0]["zero_shot"]["chance"],
        "chance_seen": table["liquid"][0]["seen"]["chance"],
        "summary": {kind: {"zero_shot": summary(rows, lambda r: r["zero_shot"]["sample"]),
                           "zero_shot_prototype": summary(rows, lambda r: r["zero_shot"]["prototype"]),
                           "seen_retrieval": summary(rows, lambda r: r["seen"]["sample"]),
                           "probe_image_seen": summary(rows, lambda r: r["probe"]["image"]),
                           "probe_audio_seen": summary(rows, lambda r: r["probe"]["audio"])}
                    for kind, rows in table.items()},
        "table": table, "simulation_seconds": simulated,
    }
    metrics["wall_seconds"] = time.perf_counter() - t_start
    if out is not None:
        files = output_files(out, "zero_shot")
        plot_zero_shot(table, files["zero_shot"])
        write_summary(files, metrics)
    return metrics
