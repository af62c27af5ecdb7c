"""Damaged files are detected on load: results (.npz) and checkpoints.

A small file of each kind is damaged at many byte positions (every byte of a result, 600
random bytes of a checkpoint) and truncated at random lengths; random bytes are loaded as
either kind. Every outcome must be a clean refusal -- ``neurosim.DamagedFileError`` naming the
file -- never another exception, a crash, or a file that loads with something missing.
Checkpoints that pass their checksum but hold out-of-range index arrays (written by other code)
are refused before a kernel can read outside its arrays.
"""

import os
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim as ns
from neurosim.checkpoint import read_checkpoint
from neurosim.io import seal_zip, write_sealed_pickle


def small_network(seed=2):
    net = ns.Network(dt=0.5, seed=seed)
    src = net.population("src", ns.PoissonSource(8, rate=200.0))
    lif = net.population("lif", ns.LIF(6, v_init=ns.Uniform(-65.0, -50.0)))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(4))
    net.connect(src, [lif, izh], ns.connect.random(0.5), weight=ns.Uniform(5.0, 15.0), delay=ns.Uniform(0.5, 3.0))
    net.connect(lif, izh, ns.connect.all_to_all(), weight=2.0)
    net.add_current(izh, ns.NoiseCurrent(std=3.0, mean=5.0))
    net.monitor_state(lif, ["v", "i_exc"], indices=[0, 3])
    net.monitor_state(izh, "u")
    return net


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("result") / "run.npz"
    result = small_network().run(20.0, progress=False)
    result.save(path)
    return path, result


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoint") / "run.ckpt"
    small_network().run(20.0, progress=False, checkpoint_every=10.0, checkpoint_path=path)
    return path


def _expect_refusal(load, path):
    with pytest.raises(ns.DamagedFileError) as info:
        load(path)
    assert repr(os.fspath(path)) in str(info.value) and info.value.path == os.fspath(path)


def test_a_saved_result_loads_back_whole(result_file):
    path, result = result_file
    back = ns.RunResult.load(path)
    assert back.sizes == result.sizes and back.sources == ("src",) and set(back.states) == set(result.states)
    for name in result.spikes:
        np.testing.assert_array_equal(back.spikes[name].times, result.spikes[name].times)
    for key in result.states:
        np.testing.assert_array_equal(back.states[key].values, result.states[key].values)
    np.testing.assert_array_equal(back.counts, result.counts)


@pytest.mark.slow
def test_every_damaged_byte_of_a_result_is_detected(result_file, tmp_path):
    path, _ = result_file
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    damaged = tmp_path / "damaged.npz"
    for position in range(len(data)):  # every byte: the file is a few kB
        copy = bytearray(data)
        copy[position] ^= int(rng.integers(1, 256))
        damaged.write_bytes(bytes(copy))
        _expect_refusal(ns.RunResult.load, damaged)
    assert len(data) >= 500


def test_a_truncated_result_is_detected(result_file, tmp_path):
    path, _ = result_file
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for length in sorted(set(np.random.default_rng(1).integers(0, len(data), 300).tolist())) + [len(data) - 1]:
        cut.write_bytes(data[:length])
        _expect_refusal(ns.RunResult.load, cut)


def test_a_renamed_member_is_detected_even_when_the_file_is_resealed(result_file, tmp_path):
    """The reported case: a damaged member name loaded without error, without that state. The
    checksum catches it; so does the list of members when someone re-seals the file."""
    path, _ = result_file
    data = path.read_bytes()
    name = b"states/lif.v/values"
    damaged_name = b"states/lif.v/valueZ"
    assert data.count(name) == 2  # the local header and the central directory
    renamed = tmp_path / "renamed.npz"
    renamed.write_bytes(data.replace(name, damaged_name))
    _expect_refusal(ns.RunResult.load, renamed)
    # the same rename with a fresh seal (and without the old comment)
    with zipfile.ZipFile(renamed) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    resealed = tmp_path / "resealed.npz"
    with zipfile.ZipFile(resealed, "w") as zf:
        for member, content in members.items():
            zf.writestr(member, content)
    seal_zip(resealed)
    with pytest.raises(ns.DamagedFileError, match="layout"):
        ns.RunResult.load(resealed)


@settings(max_examples=150)
@given(content=st.one_of(st.binary(max_size=400), st.builds(lambda b: b"PK\x03\x04" + b, st.binary(max_size=400)),
                         st.builds(lambda b: b"NEUROSIM-CHECKPOINT sha256:" + b, st.binary(max_size=200))))
def test_random_bytes_are_refused_as_a_result_and_as_a_checkpoint(content, tmp_path, within):
    path = tmp_path / "random.bin"
    path.write_bytes(content)
    with within(5):
        _expect_refusal(ns.RunResult.load, path)
        _expect_refusal(ns.Network.resume, path)


def test_a_folder_is_refused_naming_it(tmp_path):
    _expect_refusal(ns.RunResult.load, tmp_path)
    _expect_refusal(ns.Network.resume, tmp_path)


@pytest.mark.slow
def test_damaged_checkpoints_are_refused_before_anything_runs(checkpoint_file, tmp_path):
    data = checkpoint_file.read_bytes()
    rng = np.random.default_rng(2)
    damaged = tmp_path / "damaged.ckpt"
    positions = rng.choice(len(data), size=min(600, len(data)), replace=False)
    for position in positions:
        copy = bytearray(data)
        copy[position] ^= int(rng.integers(1, 256))
        damaged.write_bytes(bytes(copy))
        _expect_refusal(ns.Network.resume, damaged)
    for length in sorted(set(rng.integers(0, len(data), 300).tolist())) + [len(data) - 1]:
        damaged.write_bytes(data[:length])
        _expect_refusal(ns.Network.resume, damaged)
    assert len(positions) >= 500
    # the undamaged file still resumes (the run had ended: its whole result comes back)
    shutil.copy(checkpoint_file, tmp_path / "intact.ckpt")
    net, result = ns.Network.resume(tmp_path / "intact.ckpt", progress=False)
    assert result.n_steps == 40


# ---- checkpoints that pass the checksum but are inconsistent (the SIGSEGV of the report) -----

def _mutations(saved_net, rec):
    """(name, function(value) mutating an array in place) for every index array the kernels use."""
    sim = saved_net._sim

    def setter(array):
        def mutate(value, position):
            if array.size:
                array[position % array.size] = value
        return mutate

    syn = sim.static
    targets = {
        "static targets": syn.target, "static indptr": syn.indptr, "static delays": syn.delay,
        "row starts": syn.row_start, "source starts": syn.source_lo, "source sizes": syn.source_n,
        "target starts": syn.target_lo, "target sizes": syn.target_n, "receptors": syn.receptor,
        "fixed delays": syn.fixed_delay, "delay offsets": syn.delay_shift, "by_source_ptr": syn.by_source_ptr,
        "by_source": syn.by_source,
        "population_of": sim.population_of, "noise_ids": sim.noise_ids, "noise_column": sim.noise_column,
        "LIF lo": sim.kinds[0].lo, "LIF hi": sim.kinds[0].hi, "Izhikevich hi": sim.kinds[1].hi,
        "substeps": sim.kinds[1].integers, "Izhikevich start": sim.kinds[1].start, "LIF rows": sim.kinds[0].rows,
        "state columns": rec.col_var, "state column neurons": rec.col_neuron, "state strides": rec.col_stride,
        "counters": rec.counters, "spike ids": rec.spike_id,
    }
    return {name: setter(a) for name, a in targets.items()}


def test_an_out_of_range_index_in_a_sealed_checkpoint_is_refused(checkpoint_file, tmp_path):
    net, rec, plan, backend = read_checkpoint(checkpoint_file)
    net._sim.static.target[0] = 10**6  # the reported SIGSEGV: a target far outside the neurons
    bad = tmp_path / "bad.ckpt"
    write_sealed_pickle(bad, {"format": 2, "network": net, "recording": rec, "plan": plan, "backend": backend})
    with pytest.raises(ns.DamagedFileError, match="inconsistent: static synapses targets"):
        ns.Network.resume(bad)


@pytest.mark.slow
@settings(max_examples=120)
@given(which=st.integers(0, 26), value=st.one_of(st.integers(-(2**40), 2**40), st.integers(-3, 60)),
       position=st.integers(0, 10**6))
def test_no_corrupted_index_array_reaches_a_kernel(checkpoint_file, tmp_path, which, value, position, within):
    net, rec, plan, backend = read_checkpoint(checkpoint_file)
    plan.n_steps += 20  # leave something to run after the checkpoint
    name, mutate = list(_mutations(net, rec).items())[which]
    array_value = value
    try:
        mutate(array_value, position)
    except OverflowError:  # the value does not fit the array's dtype (int8, int32): nothing to test
        return
    bad = tmp_path / "mutated.ckpt"
    write_sealed_pickle(bad, {"format": 2, "network": net, "recording": rec, "plan": plan, "backend": backend})
    with within(20):
        try:
            ns.Network.resume(bad, progress=False)  # a harmless change runs (this process must survive)
        except ns.DamagedFileError as err:
            assert "inconsistent" in str(err), name
        except ns.SimulationError as err:  # an in-range change (another model row) may blow a neuron up: reported
            assert "NaN/inf" in str(err), name
