#!/usr/bin/env bash
# One check of neurosim's GPU code on a machine with a CUDA GPU (issue 22, point 7).
#
# Steps (all by default; name some to run only those, in this order):
#   tests   every test file that mentions triton (grep -l triton tests/test_*.py), compiled
#           Triton kernels on the GPU: TRITON_INTERPRET is unset (conftest.py sets it only
#           when there is no GPU)
#   engine  the Triton engine against numba: benchmarks/bench_gpu.py --sizes 1e5 1e6 (prints
#           the ratio numba / triton and whether the spike counts agree within 2 %)
#   nn      neurosim.nn's fused LIF / RecurrentLIF (Triton, CUDA tensors) against snnTorch and
#           SpikingJelly (and Norse) on the same GPU, forward + backward, with bench_nn.py's
#           work and runners; peers not installed are skipped with a line saying so.
#           (bench_nn.py itself times CPU tensors only: it has no device flag.)
#   scan    benchmarks/bench_scan.py on CUDA: linear and selective scans against torch
#   delays  the delay layer's Triton kernels: tests/test_delays_triton.py compiled on the GPU
#           (also part of `tests`; here alone for a short check), then
#           benchmarks/bench_delays.py --device cuda (triton against conv1d, forward + backward)
#
#   bash benchmarks/gpu_check.sh                      # everything (about 10 min; 1e6 numba is most)
#   bash benchmarks/gpu_check.sh tests nn scan delays # then, in a second call:
#   bash benchmarks/gpu_check.sh engine               # (for 10-minute limits per command)
#
# Environment: PYTHON (default python), GPU_CHECK_SIZES (engine sizes, default "1e5 1e6"),
# GPU_CHECK_NN_SHAPES (TxBxN, default "100x32x512 1000x32x2048"), GPU_CHECK_NN_REPEATS (5),
# GPU_CHECK_PYTEST_ARGS (extra pytest arguments, e.g. "-k triton" for a shorter test step),
# GPU_CHECK_INSTALL (1: try `pip install --no-deps` of a missing snnTorch / SpikingJelly; 0: don't),
# GPU_CHECK_STEP_TIMEOUT (s per step, default 1200).
#
# Exit status: 0 all steps passed, 1 a step failed (listed at the end), 2 no CUDA GPU or a
# missing prerequisite. A measurement script: nothing here asserts on time.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python}
SIZES=${GPU_CHECK_SIZES:-1e5 1e6}
STEP_TIMEOUT=${GPU_CHECK_STEP_TIMEOUT:-1200}
# This checkout first (neurosim/__init__.py maps kernels/, circuits/ ... when run from a checkout).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset TRITON_INTERPRET
export GPU_CHECK_NN_SHAPES=${GPU_CHECK_NN_SHAPES:-100x32x512 1000x32x2048}
export GPU_CHECK_NN_REPEATS=${GPU_CHECK_NN_REPEATS:-5}

ALL_STEPS=(tests engine nn scan delays)
if [ $# -gt 0 ]; then STEPS=("$@"); else STEPS=("${ALL_STEPS[@]}"); fi
for s in "${STEPS[@]}"; do
  case " ${ALL_STEPS[*]} " in
    *" $s "*) ;;
    *) echo "gpu_check.sh: unknown step '$s' (steps: ${ALL_STEPS[*]})" >&2; exit 2;;
  esac
done

if ! "$PYTHON" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "gpu_check.sh: no CUDA GPU: torch.cuda.is_available() is False (or torch is missing) for $PYTHON." >&2
  echo "  This script checks the compiled Triton kernels and times them; it needs a CUDA GPU. On a CPU" >&2
  echo "  machine the Triton tests run interpreted in the ordinary test suite (python -m pytest)." >&2
  exit 2
fi
missing=$("$PYTHON" - <<'PY'
import importlib.util
need = ["numpy", "numba", "torch", "triton", "pytest", "hypothesis", "neurosim"]
print(" ".join(m for m in need if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_check.sh: missing Python modules: $missing (install the test set-up: pip install -e '.[test]')" >&2
  exit 2
fi

echo "==== neurosim GPU check"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC'), host $(hostname)"
echo "command: $0 ${*:-}"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')
git diff --quiet HEAD 2>/dev/null || commit="$commit (+ uncommitted changes)"
echo "commit:  $commit"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap --format=csv,noheader \
    | sed 's/^/GPU:     /'
else
  echo "GPU:     (nvidia-smi not found)"
fi
"$PYTHON" - <<'PY'
import os, platform, sys
import torch, triton, numba, numpy, neurosim
sys.path.insert(0, "benchmarks")
from bench_engine import cpu_name
p = torch.cuda.get_device_properties(0)
print(f"device:  {torch.cuda.get_device_name(0)}, {p.total_memory / 2**30:.0f} GiB, sm_{p.major}{p.minor}, "
      f"CUDA (torch) {torch.version.cuda}")
print(f"CPU:     {cpu_name()} ({os.cpu_count()} cores)")
print(f"python {platform.python_version()}, torch {torch.__version__}, triton {triton.__version__}, "
      f"numba {numba.__version__}, numpy {numpy.__version__}; neurosim from {os.path.dirname(neurosim.__file__)}")
print(f"TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET', '(unset)')}")
PY

failures=()
step() {  # step NAME COMMAND...: run it under the step timeout, record a failure, go on
  local name=$1 t0=$SECONDS rc=0
  shift
  echo
  echo "==== $name"
  echo "\$ $*"
  timeout "$STEP_TIMEOUT" "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "---- $name: ok ($((SECONDS - t0)) s)"
  else
    [ "$rc" -eq 124 ] && echo "---- $name: timed out after $STEP_TIMEOUT s"
    echo "---- $name: FAILED (exit $rc, $((SECONDS - t0)) s)"
    failures+=("$name (exit $rc)")
  fi
}

want() { case " ${STEPS[*]} " in *" $1 "*) return 0;; *) return 1;; esac; }

if want tests; then
  mapfile -t TRITON_TESTS < <(grep -l triton tests/test_*.py)
  # shellcheck disable=SC2086  # GPU_CHECK_PYTEST_ARGS is a list of words
  step "Triton tests on the GPU (${#TRITON_TESTS[@]} files)" \
    "$PYTHON" -m pytest -q -p no:cacheprovider --durations=10 ${GPU_CHECK_PYTEST_ARGS:-} "${TRITON_TESTS[@]}"
fi

if want engine; then
  # shellcheck disable=SC2086  # SIZES is a list of words
  step "engine: triton vs numba (bench_gpu.py)" "$PYTHON" benchmarks/bench_gpu.py --sizes $SIZES
fi

if want nn; then
  if [ "${GPU_CHECK_INSTALL:-1}" = 1 ]; then
    # --no-deps: never let a peer's requirements replace this machine's torch / triton / numpy;
    # SpikingJelly 2 needs loguru beyond what the test set-up has.
    for pair in snntorch:snntorch "spikingjelly loguru:spikingjelly.activation_based.neuron"; do
      pkgs=${pair%%:*} mod=${pair##*:}
      if ! "$PYTHON" -c "import $mod" >/dev/null 2>&1; then
        echo "$mod cannot be imported: trying pip install --no-deps $pkgs (skipped if no registry is reachable)"
        # shellcheck disable=SC2086  # pkgs is a list of words
        timeout 120 "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --retries 0 \
          --timeout 10 $pkgs >/dev/null 2>&1 || echo "  could not install $pkgs; those rows are skipped"
      fi
    done
  fi
  step "nn: fused LIF layers vs snnTorch / SpikingJelly on CUDA" "$PYTHON" - <<'PY'
"""neurosim.nn (Triton on CUDA tensors) against its peers on the same GPU, with bench_nn.py's
work (make_work) and runners, forward + backward; ratios are peer time / neurosim time."""
import os, statistics, sys, time

import torch

sys.path.insert(0, "benchmarks")
import bench_nn as bn  # noqa: E402

dev = torch.device("cuda")
REPEATS = int(os.environ["GPU_CHECK_NN_REPEATS"])
SHAPES = [tuple(int(v) for v in s.split("x")) for s in os.environ["GPU_CHECK_NN_SHAPES"].split()]


def installed(module: str) -> bool:
    try:
        __import__(module)
        return True
    except Exception as exc:  # not installed, or broken against this torch
        print(f"{module}: not available ({type(exc).__name__}: {exc}); its rows are skipped")
        return False


class SpikingJellyFF(bn.Runner):
    """SpikingJelly's LIFNode as neurosim's model: decay_input=False, v_reset=None (soft reset),
    tau = 1 / (1 - beta) gives v = beta v + x, spike when v >= 1; multi-step over the sequence.
    Its default ATan surrogate (the backward's work is alike; its gradients are not compared)."""

    def __init__(self, backend: str | None):
        self.backend = backend  # None: SpikingJelly >= 2 picks the kernel (Triton / CUDA / CPU) itself
        self.name = f"spikingjelly LIFNode ({backend or 'its dispatch'})"

    def prepare(self, work):
        from spikingjelly.activation_based import functional, neuron, surrogate

        self.functional = functional
        backend = {} if self.backend is None else {"backend": self.backend}
        self.node = neuron.LIFNode(tau=1.0 / (1.0 - bn.BETA), decay_input=False, v_threshold=bn.THRESHOLD,
                                   v_reset=None, surrogate_function=surrogate.ATan(), step_mode="m", **backend)
        self.x = bn._leaf(work.x)
        self._leaves = [self.x]

    def forward(self):
        self.functional.reset_net(self.node)
        return self.node(self.x)


def on_device(w: bn.Work) -> bn.Work:
    move = lambda t: None if t is None else t.to(dev)  # noqa: E731
    return bn.Work(w.kind, move(w.x), move(w.g), move(w.w_in), move(w.w_rec))


def timed(runner, work):
    runner.prepare(work)
    for value in vars(runner).values():  # bench_nn builds modules on the CPU
        if isinstance(value, torch.nn.Module):
            value.to(dev)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    runner.run(work.g)  # first call: Triton compile / autotune, cuDNN and allocator warm-up
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    runner.run(work.g)
    times = []
    for _ in range(REPEATS):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        spikes = runner.run(work.g)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return first, times, spikes


peers = {name: installed(module) for name, module in
         (("snntorch", "snntorch"), ("spikingjelly", "spikingjelly.activation_based.neuron"), ("norse", "norse.torch"))}
sj_backends = [None]
if peers["spikingjelly"]:
    import inspect

    from spikingjelly.activation_based import neuron as sj_neuron

    if "backend" in inspect.signature(sj_neuron.LIFNode.__init__).parameters:  # SpikingJelly < 2
        sj_backends = ["torch"] + (["cupy"] if installed("cupy") else [])
failed = False
for T, B, N in SHAPES:
    for kind in ("ff", "rec"):
        if kind == "ff":
            rs = [bn.NeurosimFF("auto")] + ([bn.SnntorchFF()] if peers["snntorch"] else []) \
                + ([SpikingJellyFF(b) for b in sj_backends] if peers["spikingjelly"] else []) \
                + ([bn.NorseFF()] if peers["norse"] else [])
        else:
            rs = [bn.NeurosimRec("auto")] + ([bn.SnntorchRec()] if peers["snntorch"] else []) \
                + ([bn.NorseRec()] if peers["norse"] else [])
        work = on_device(bn.make_work(kind, T, B, N))
        steps = T * B * N
        print(f"\n{kind} T={T} B={B} N={N} ({steps / 1e6:.1f} M neuron-steps), float32, forward + backward on "
              f"{torch.cuda.get_device_name(0)}; best / median of {REPEATS}")
        print(f"{'library':36s} {'best s':>9s} {'median s':>9s} {'first s':>8s} {'steps/s':>9s} {'spiking':>8s} "
              f"{'same spikes':>11s} {'peer / neurosim':>15s}")
        if kind == "rec" and peers["spikingjelly"]:
            print("(SpikingJelly has no recurrent LIF layer of this form: no row for it)")
        ours = ref = None
        while rs:
            r = rs.pop(0)  # dropped after its row: its tensors are freed before the next peer
            try:
                first, times, spikes = timed(r, work)
            except Exception as exc:
                print(f"{r.name:36s} FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                failed = failed or r.is_neurosim
                continue
            best = min(times)
            if r.is_neurosim:
                ours, ref = best, spikes
            same = f"{(spikes == ref).float().mean().item():.2%}" if ref is not None and not r.is_neurosim else ""
            ratio = f"{best / ours:.2f}x" if ours else "n/a"
            print(f"{r.name:36s} {best:9.4f} {statistics.median(times):9.4f} {first:8.2f} {steps / best:9.3g} "
                  f"{spikes.float().mean().item():8.3f} {same:>11s} {ratio:>15s}", flush=True)
            del r, spikes
            torch.cuda.empty_cache()
        del work
        torch.cuda.empty_cache()
sys.exit(1 if failed else 0)
PY
fi

if want scan; then
  step "scans on CUDA (bench_scan.py)" "$PYTHON" benchmarks/bench_scan.py --device cuda
fi

if want delays; then
  step "delay layer: Triton tests on the GPU" \
    "$PYTHON" -m pytest -q -p no:cacheprovider --durations=5 tests/test_delays_triton.py
  step "delay layer: triton vs conv1d on CUDA (bench_delays.py)" \
    "$PYTHON" benchmarks/bench_delays.py --device cuda --skip-memory
fi

echo
if [ ${#failures[@]} -eq 0 ]; then
  echo "==== gpu_check.sh: all steps passed (${STEPS[*]})"
else
  echo "==== gpu_check.sh: ${#failures[@]} step(s) FAILED:"
  printf '  %s\n' "${failures[@]}"
  exit 1
fi
