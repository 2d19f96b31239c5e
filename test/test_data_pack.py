"""Training pack of the mocap (mpm_model.data.pack): load_mocap reads it like the npz it came from (same arrays
and dtypes, positions within 0.44 mm, same dataset hash); oversized steps and non-finite data are refused."""
from pathlib import Path

import numpy as np
import pytest

from mpm_model.data.mocap import MocapSequence, dataset_hash, load_mocap, write_mocap
from mpm_model.data.pack import UNIT_M, is_pack, main, read_pack, write_pack
from mpm_model.data.synthetic import synthetic_sequences

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
JOINT_BOUND_M = 0.5e-3  # the bound; the pack's worst case is sqrt(3) * UNIT_M / 2 = 0.43 mm


def _same_as_npz(npz: Path, pack: Path) -> None:
    with np.load(npz) as original:
        arrays = read_pack(pack)
        assert set(arrays) == set(original.files)
        for key in original.files:
            assert arrays[key].dtype == original[key].dtype and arrays[key].shape == original[key].shape, key
            if key != "poses_3d":
                assert np.array_equal(arrays[key], original[key]), key
        error = np.linalg.norm(arrays["poses_3d"].astype(np.float64) - original["poses_3d"], axis=-1)
        assert 0.0 < error.max() <= JOINT_BOUND_M and np.abs(arrays["poses_3d"] - original["poses_3d"]).max() <= \
            UNIT_M / 2 + 1e-5
    for a, b in zip(load_mocap(npz), load_mocap(pack), strict=True):
        assert (a.name, a.subject, a.fps, a.source, a.poses3d.shape) == (b.name, b.subject, b.fps, b.source,
                                                                          b.poses3d.shape)
        assert np.abs(a.poses3d - b.poses3d).max() <= UNIT_M / 2 + 1e-5
    assert dataset_hash(pack) == dataset_hash(npz)


def test_pack_reads_like_the_npz_and_is_smaller(tmp_path, capsys):
    npz, pack = tmp_path / "motion.npz", tmp_path / "motion.pack"
    write_mocap(npz, synthetic_sequences(5, 300, seed=3))
    assert main([str(npz), str(pack)]) == 0 and "max coordinate error" in capsys.readouterr().out
    assert is_pack(pack) and not is_pack(npz) and pack.stat().st_size < 0.5 * npz.stat().st_size
    _same_as_npz(npz, pack)


def test_far_apart_sequences_restart_their_deltas(tmp_path):
    """Each sequence starts from its own absolute frame: a sequence 100 m away does not overflow a step."""
    near, far = synthetic_sequences(2, 60, seed=1)
    far = MocapSequence(far.name, far.subject, far.fps, far.poses3d + np.array([100.0, -40.0, 0.0]), far.source)
    write_mocap(tmp_path / "m.npz", [near, far])
    _same_as_npz(tmp_path / "m.npz", write_pack(tmp_path / "m.npz", tmp_path / "m.pack"))


def test_refuses_what_it_cannot_hold(tmp_path):
    seq = synthetic_sequences(1, 40, seed=2)[0]
    jumpy = seq.poses3d.copy()
    jumpy[20:] += np.array([0.0, 17.0, 0.0])  # 17 m in one frame: beyond an int16 step of 0.5 mm
    write_mocap(tmp_path / "jump.npz", [MocapSequence("jump", "s", 30.0, jumpy, "")])
    with pytest.raises(ValueError, match=r"frame 20 .* moves a joint by 17\.0 m, beyond the int16 step"):
        write_pack(tmp_path / "jump.npz", tmp_path / "jump.pack")
    assert not (tmp_path / "jump.pack").exists()
    broken = seq.poses3d.copy()
    broken[3, 2] = np.nan
    np.savez(tmp_path / "nan.npz", poses_3d=broken.astype(np.float32), sequence_index=np.zeros(40, np.int32),
             sequence_names=np.array(["a"]), fps=np.array([30.0]))
    with pytest.raises(ValueError, match="3 non-finite coordinates cannot be packed"):
        write_pack(tmp_path / "nan.npz", tmp_path / "nan.pack")
    (tmp_path / "bad.pack").write_bytes(b"\xfd7zXZ\x00garbage")
    with pytest.raises(ValueError, match="not a readable mocap pack"):
        load_mocap(tmp_path / "bad.pack")


@pytest.mark.skipif(not (SHARED / "mocap_h36m17_test_slice.npz").is_file(), reason="shared test slice absent")
def test_real_test_slice_round_trip(tmp_path):
    npz = SHARED / "mocap_h36m17_test_slice.npz"
    _same_as_npz(npz, write_pack(npz, tmp_path / "slice.pack"))
