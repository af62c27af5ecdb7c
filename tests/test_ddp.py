"""Training beyond one process: ``neurosim.nn`` layers under DistributedDataParallel (gloo, CPU).

The gradient test starts two worker processes by running this file as a script (pytest's
importlib mode keeps test modules off ``sys.path``, so a spawned function could not be
unpickled there); they meet in a gloo group on 127.0.0.1.
"""

import gc
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import torch
import torch.distributed as dist

T, BATCH, N_IN, HIDDEN, N_OUT = 12, 8, 6, 10, 4
WORKER_TIMEOUT_S = 240
PNG = b"\x89PNG\r\n\x1a\n"


def build_model(backend: str):
    """Linear -> LIF (per-neuron trainable beta and threshold) -> RecurrentLIF (trainable
    threshold) -> Linear -> LI (trainable beta); scores are the readout membrane's time mean.
    ``forward(x [T, B, N_IN]) -> (scores [B, N_OUT], spikes of both spiking layers)``."""
    from torch import nn

    import neurosim.nn as snn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(N_IN, HIDDEN)
            self.lif = snn.LIF(HIDDEN, beta=torch.linspace(0.8, 0.95, HIDDEN), threshold=0.5, learn_beta=True,
                               learn_threshold=True, backend=backend)
            self.rec = snn.RecurrentLIF(HIDDEN, HIDDEN, beta=0.9, threshold=0.5, learn_threshold=True,
                                        backend=backend)
            self.out = nn.Linear(HIDDEN, N_OUT)
            self.readout = snn.LI(N_OUT, beta=0.9, learn_beta=True, backend=backend)

        def forward(self, x):
            h, _ = self.lif(self.fc(x))
            r, _ = self.rec(h)
            v, _ = self.readout(self.out(r))
            return v.mean(0), (h, r)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return Net()


def loss_of(model, x, y):
    scores, _ = model(x)
    return torch.nn.functional.cross_entropy(scores, y)  # mean over the batch


def grads(model) -> dict:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def worker(rank: int, world: int, port: int, folder: Path) -> None:
    """One rank, for each backend in ``setup.pt``: load the shared initial weights and batch,
    take this rank's equal slice, and save its gradient twice: local only (``no_sync``) and
    averaged over the ranks by DDP."""
    from datetime import timedelta

    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=WORKER_TIMEOUT_S))
    try:
        saved = {}
        for backend, setup in torch.load(folder / "setup.pt").items():
            model = build_model(backend)
            model.load_state_dict(setup["state"])
            ddp = DistributedDataParallel(model)
            part = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
            x, y = setup["x"][:, part], setup["y"][part]
            with ddp.no_sync():
                loss_of(ddp, x, y).backward()
            local = grads(model)
            ddp.zero_grad(set_to_none=True)
            loss_of(ddp, x, y).backward()  # the all-reduce (average over ranks) happens here
            saved[backend] = {"local": local, "synced": grads(model)}
            ddp = model = None
        torch.save(saved, folder / f"rank{rank}.pt")
    finally:
        # DDP models released before the process group: destroyed after it, torch 2.13's gloo
        # aborted ~1 exit in 3 here ("terminate called without an active exception")
        gc.collect()
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workers(world: int, folder: Path) -> None:
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, __file__, str(rank), str(world), str(port), str(folder)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(world)]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=WORKER_TIMEOUT_S)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for rank, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"rank {rank} exited with {p.returncode}:\n{out}"


def make_setup(backend: str) -> dict:
    """Seeded initial weights and a batch ``x [T, BATCH, N_IN]``, ``y [BATCH]``."""
    g = torch.Generator().manual_seed(1)
    x = 1.5 * torch.rand(T, BATCH, N_IN, generator=g)
    y = torch.randint(0, N_OUT, (BATCH,), generator=g)
    return {"state": build_model(backend).state_dict(), "x": x, "y": y}


@pytest.fixture(scope="module")
def ddp_setups_and_gradients(tmp_path_factory):
    """``(setups, ranks)``: per backend the setup, and per rank per backend the gradients of
    two DDP workers (one run of the workers serves every backend: their start-up, mostly
    importing torch and torch._dynamo for DDP, is the slow part)."""
    backends = ["torch", "numba"]
    folder = tmp_path_factory.mktemp("ddp")
    setups = {backend: make_setup(backend) for backend in backends}
    torch.save(setups, folder / "setup.pt")
    run_workers(2, folder)
    return setups, [torch.load(folder / f"rank{rank}.pt") for rank in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_ddp_gradients_equal_one_process_on_the_whole_batch(ddp_setups_and_gradients, backend):
    setups, ranks = ddp_setups_and_gradients
    setup = setups[backend]
    model = build_model(backend)
    model.load_state_dict(setup["state"])

    # One process, the whole batch.
    scores, (h, r) = model(setup["x"])
    torch.nn.functional.cross_entropy(scores, setup["y"]).backward()
    full = grads(model)
    # The spiking layers fire, but not always, so the surrogate gradients carry information ...
    for name, spikes in (("lif", h), ("rec", r)):
        rate = float(spikes.detach().mean())
        assert 0.05 < rate < 0.95, (name, rate)
    # ... and the thresholds, which only the surrogate reaches, get a gradient.
    for name in ("lif.threshold", "rec.threshold", "lif.beta", "readout.beta"):
        assert float(full[name].abs().sum()) > 0, name
    assert set(full) >= {"fc.weight", "rec.input.weight", "rec.recurrent.weight", "out.weight"}

    for name, want in full.items():
        local0, local1 = ranks[0][backend]["local"][name], ranks[1][backend]["local"][name]
        # Each half alone gives another gradient (so the comparison below is not vacuous) ...
        assert not torch.allclose(local0, want, rtol=1e-3, atol=1e-4), name
        # ... their mean is the whole batch's, and DDP's all-reduce delivers exactly that mean
        # to both ranks.
        torch.testing.assert_close((local0 + local1) / 2, want, rtol=1e-5, atol=1e-6, msg=name)
        for rank in range(2):
            torch.testing.assert_close(ranks[rank][backend]["synced"][name], want, rtol=1e-5, atol=1e-6,
                                       msg=f"{name}, rank {rank}")


def test_example_trains_in_one_process(tmp_path, capsys):
    from neurosim.examples import ddp_train

    assert not dist.is_initialized()  # importing the example has no side effects
    out = tmp_path / "ddp"
    metrics = ddp_train.main(["--epochs", "1", "--n-train", "64", "--n-test", "40", "--hidden", "24",
                              "--steps", "8", "--batch-size", "16", "--out", str(out)])
    assert not dist.is_initialized()  # the one-process group it created is gone again
    printed = capsys.readouterr().out
    assert "1 process(es)" in printed and "epoch 1/1: train loss" in printed
    assert metrics["world_size"] == 1 and metrics["n_train"] == 64 and metrics["n_test"] == 40
    h = metrics["history"]
    assert len(h["train_loss"]) == 1 and math.isfinite(h["train_loss"][0]) and h["train_loss"][0] > 0
    assert 0.0 <= h["test_accuracy"][0] <= 1.0
    png = (out / "learning_curve.png").read_bytes()
    assert png[:8] == PNG and len(png) > 5000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 1 and summary["history"] == h


@pytest.mark.slow
def test_example_under_torchrun_two_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", "-m", "neurosim.examples.ddp_train", "--epochs", "2", "--n-train", "64",
           "--n-test", "40", "--hidden", "24", "--steps", "8", "--batch-size", "16", "--out", str(out)]
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Only rank 0 reports; each rank saw half of the training digits.
    assert proc.stdout.count("epoch 1/2:") == 1 and proc.stdout.count("epoch 2/2:") == 1, proc.stdout
    assert "2 process(es)" in proc.stdout and "(32 per rank)" in proc.stdout, proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["n_train"] == 64
    assert all(math.isfinite(v) for v in summary["history"]["train_loss"])
    assert (out / "learning_curve.png").read_bytes()[:8] == PNG


def test_example_rejects_bad_arguments():
    from neurosim.examples import ddp_train

    with pytest.raises(SystemExit):
        ddp_train.parse_args(["--epochs", "0"])
    with pytest.raises(SystemExit):
        ddp_train.parse_args(["--lr", "-1"])
    assert not dist.is_initialized()


if __name__ == "__main__":  # a worker of test_ddp_gradients_equal_one_process_on_the_whole_batch
    worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
