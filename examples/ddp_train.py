"""Data-parallel training of a spiking classifier with torch's DistributedDataParallel.

The network, data and encoding are those of the ``digits`` example (sklearn's 8x8 digits,
rate-coded over ``--steps`` steps of 1 ms; ``Linear(64 -> hidden)`` -> ``neurosim.nn.LIF``
-> ``Linear(hidden -> 10)`` -> ``neurosim.nn.LI``, class scores = readout membrane maxima).
What this file adds is the plumbing for several processes:

- one process per rank, joined in a ``gloo`` process group (CPU tensors);
- the model wrapped in ``torch.nn.parallel.DistributedDataParallel``, which all-reduces
  (averages) the gradients of the surrogate-gradient layers during ``backward``, so every
  rank takes the same optimizer step and the replicas stay identical;
- a ``DistributedSampler`` giving each rank its own shard of the training set (reshuffled
  every epoch); ``--batch-size`` is the global batch, split evenly over the ranks, so one
  optimizer step sees the same number of digits whatever the number of processes;
- the test set is split over the ranks too, and loss/accuracy counts are summed with
  ``all_reduce``; rank 0 prints one line per epoch and writes ``learning_curve.png`` and
  ``summary.json`` into ``--out``.

Run on two processes of one machine::

    torchrun --nproc_per_node=2 -m neurosim.examples.ddp_train --epochs 2 --out results/ddp

or as one process (no torchrun variables: a one-process gloo group is created, same code
path)::

    python -m neurosim.examples.ddp_train --epochs 2 --out results/ddp

On several machines, give torchrun ``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint`` as
usual. Each process runs the layers' fused kernels (``--backend auto``: Numba on CPU) with
its share of the CPU cores. Needs torch, scikit-learn and matplotlib.

Importing this module does nothing: it is not a registered experiment (``neurosim run``
runs one process; a process group belongs to the launcher), everything happens in ``main``.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import time


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m neurosim.examples.ddp_train",
                                description="Train the digits spiking classifier with DistributedDataParallel "
                                            "(gloo, CPU). Launch with torchrun for several processes.")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training set (default 5)")
    p.add_argument("--out", default="results/ddp", help="folder for learning_curve.png and summary.json "
                                                         "(rank 0 writes them; default results/ddp)")
    p.add_argument("--seed", type=int, default=1, help="data split, initial weights, shuffles, spike trains")
    p.add_argument("--hidden", type=int, default=128, help="LIF neurons in the hidden layer (default 128)")
    p.add_argument("--steps", type=int, default=25, help="time steps (1 ms) per digit (default 25)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="global batch per optimizer step, split evenly over the ranks (default 64)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (cosine schedule; default 5e-3)")
    p.add_argument("--beta", type=float, default=0.9, help="membrane decay per step of LIF and LI (default 0.9)")
    p.add_argument("--backend", default="auto", help="neurosim.nn backend: auto, numba, torch, reference")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training digits (default all)")
    p.add_argument("--n-test", type=int, default=None, help="use only the first N test digits (default all)")
    args = p.parse_args(argv)
    for name in ("epochs", "hidden", "steps", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("n_train", "n_test"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.lr > 0:
        p.error(f"--lr must be > 0, got {args.lr}")
    return args


def init_process_group() -> bool:
    """Join the gloo process group: from torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) when it is set, else a one-process group held in memory.
    Returns whether this call created the group (and so must destroy it); a group the caller
    already initialised is used as it is."""
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    if "WORLD_SIZE" in os.environ:
        dist.init_process_group("gloo")
    else:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    return True


def share_cpus(backend: str) -> None:
    """Give each of the ``LOCAL_WORLD_SIZE`` processes on this machine its share of the cores
    for the Numba kernels (torchrun already sets ``OMP_NUM_THREADS=1`` for torch's own ops)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if local <= 1 or backend != "numba":
        return
    import numba

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, cpus // local)))


def main(argv=None) -> dict:
    """Train on every rank; returns the metrics (the same on every rank): ``history`` with
    ``train_loss``, ``train_accuracy`` and ``test_accuracy`` per epoch, the final
    ``test_accuracy``, ``world_size``, ``training_s`` and (rank 0) the ``files`` written."""
    args = parse_args(argv)
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    from neurosim.examples.digits import build, encode, load_split, plot_learning_curve
    from neurosim.experiments import output_files, write_summary
    from neurosim.nn.functional import resolve_backend

    backend = resolve_backend(args.backend, torch.device("cpu"))
    own_group = init_process_group()
    model = optimizer = None
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.batch_size % world:
            raise ValueError(f"--batch-size ({args.batch_size}) must be a multiple of the number of "
                             f"processes ({world})")
        share_cpus(backend)

        x_tr, x_te, y_tr, y_te = load_split(args.seed)
        x_tr, y_tr = x_tr[:args.n_train], y_tr[:args.n_train]
        x_te, y_te = x_te[:args.n_test], y_te[:args.n_test]
        # The same initial weights on every rank (DDP also broadcasts rank 0's at wrapping).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            net = build(args.hidden, args.beta, backend)
        model = DistributedDataParallel(net)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

        sampler = DistributedSampler(TensorDataset(x_tr, y_tr), num_replicas=world, rank=rank, shuffle=True,
                                     seed=args.seed)
        loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=args.batch_size // world, sampler=sampler)
        # Spike trains: each rank draws its own for training; the test set is encoded once,
        # identically on every rank (so accuracies compare across world sizes), then split.
        g_train = torch.Generator().manual_seed(args.seed + 7919 * (rank + 1))
        s_te = encode(x_te, args.steps, torch.Generator().manual_seed(args.seed + 1_000_003))
        s_te_mine, y_te_mine = s_te[:, rank::world], y_te[rank::world]

        if rank == 0:
            print(f"ddp_train: {world} process(es), gloo, backend {backend}; {len(x_tr)} training digits "
                  f"({len(sampler)} per rank), {len(x_te)} test digits, global batch {args.batch_size}",
                  flush=True)
        history = {"train_loss": [], "train_accuracy": [], "test_accuracy": []}
        t_train = time.perf_counter()
        for epoch in range(args.epochs):
            t_epoch = time.perf_counter()
            sampler.set_epoch(epoch)  # a new shuffle (the same on all ranks) every epoch
            model.train()
            totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, digits (this rank)
            for x, y in loader:
                scores, _, _ = model(encode(x, args.steps, g_train))
                loss = F.cross_entropy(scores, y)  # mean over this rank's part of the batch
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # DDP averages the gradients over the ranks here
                optimizer.step()
                totals += torch.tensor([loss.item() * len(y), int((scores.argmax(1) == y).sum()), len(y)],
                                       dtype=torch.float64)
            schedule.step()
            model.eval()
            with torch.no_grad():
                scores, _, _ = net(s_te_mine)  # the plain module: no gradient sync needed
            test = torch.tensor([int((scores.argmax(1) == y_te_mine).sum()), len(y_te_mine)], dtype=torch.float64)
            dist.all_reduce(totals)
            dist.all_reduce(test)
            history["train_loss"].append(float(totals[0] / totals[2]))
            history["train_accuracy"].append(float(totals[1] / totals[2]))
            history["test_accuracy"].append(float(test[0] / test[1]))
            if rank == 0:
                print(f"epoch {epoch + 1}/{args.epochs}: train loss {history['train_loss'][-1]:.4f}, "
                      f"train accuracy {100 * history['train_accuracy'][-1]:.1f} %, "
                      f"test accuracy {100 * history['test_accuracy'][-1]:.1f} % "
                      f"({time.perf_counter() - t_epoch:.1f} s)", flush=True)
            if not math.isfinite(history["train_loss"][-1]):
                raise FloatingPointError(f"training loss became {history['train_loss'][-1]} in epoch {epoch + 1}")

        metrics = {"experiment": "ddp_train", "world_size": world, "backend": backend, "seed": args.seed,
                   "epochs": args.epochs, "hidden": args.hidden, "steps": args.steps,
                   "batch_size": args.batch_size, "lr": args.lr, "beta": args.beta,
                   "n_train": len(x_tr), "n_test": len(x_te),
                   "test_accuracy": history["test_accuracy"][-1], "train_loss": history["train_loss"][-1],
                   "training_s": time.perf_counter() - t_train, "history": history}
        if rank == 0 and args.out:
            files = output_files(args.out, "learning_curve")
            plot_learning_curve(history, files["learning_curve"],
                                title=f"Spiking digits classifier, DDP on {world} process(es) (gloo): "
                                      f"test accuracy {100 * history['test_accuracy'][-1]:.1f} %")
            write_summary(files, metrics)
            metrics["files"] = files
            print(f"wrote {files['learning_curve']} and {files['summary']}", flush=True)
        return metrics
    finally:
        # the DDP model released before its process group: destroyed after it, torch 2.13's gloo
        # aborted ~1 exit in 3 here ("terminate called without an active exception")
        model = optimizer = None
        gc.collect()
        if own_group:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
