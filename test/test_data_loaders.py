"""VideoPose3D Human3.6M and P-STMO MPI-INF-3DHP readers on tiny files written in their exact layout."""
import numpy as np
import pytest

from mpm_model.data.h36m import load_h36m_2d, load_h36m_3d
from mpm_model.skeleton import H36M32_TO_17
from mpm_model.data.mpi3dhp import MPI3DHP_TO_H36M, load_mpi3dhp


def test_h36m_3d_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    walk = rng.normal(size=(6, 32, 3)).astype(np.float32)
    sit = rng.normal(size=(4, 32, 3)).astype(np.float32)
    path = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(path, positions_3d={"S1": {"Walking": walk, "Sitting 1": sit}, "S9": {"Walking": walk[:3]}})
    seqs = load_h36m_3d(path)
    assert [(s.name, s.subject, s.fps, len(s)) for s in seqs] == [
        ("S1/Sitting 1", "S1", 50.0, 4), ("S1/Walking", "S1", 50.0, 6), ("S9/Walking", "S9", 50.0, 3)]
    np.testing.assert_array_equal(seqs[1].poses3d[:, 10], walk[:, 15])  # head is H36M-32 joint 15
    np.testing.assert_array_equal(seqs[1].poses3d, walk[:, list(H36M32_TO_17)])


def test_h36m_2d_round_trip(tmp_path):
    cams = [np.full((5, 17, 2), i, np.float32) for i in range(4)]
    metadata = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    path = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(path, positions_2d={"S1": {"Walking": cams}}, metadata=metadata)
    kp = load_h36m_2d(path)
    assert kp.layout_name == "h36m" and kp.num_joints == 17 and kp.symmetry[0] == [4, 5, 6, 11, 12, 13]
    assert len(kp.positions["S1"]["Walking"]) == 4
    np.testing.assert_array_equal(kp.positions["S1"]["Walking"][3], cams[3])


def test_h36m_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_h36m_3d(tmp_path / "missing.npz")
    path = tmp_path / "wrong.npz"
    np.savez(path, poses=np.zeros(3))
    with pytest.raises(ValueError, match="positions_3d"):
        load_h36m_3d(path)
    np.savez(path, positions_3d={"S1": {"Walking": np.zeros((4, 20, 3))}})
    with pytest.raises(ValueError, match="S1/Walking"):
        load_h36m_3d(path)
    np.savez(path, positions_2d={"S1": {"Walking": [np.zeros((4, 17, 2))]}})
    with pytest.raises(ValueError, match="metadata"):
        load_h36m_2d(path)


def _dhp_pose(n: int, rng) -> np.ndarray:
    """(n, 17, 3) millimetre camera-frame poses in 3DHP joint order: head 700 mm above the pelvis."""
    poses = rng.normal(scale=50.0, size=(n, 17, 3)) + [0.0, 0.0, 4000.0]
    poses[:, 14] = [0.0, 0.0, 4000.0]  # pelvis (3DHP root)
    poses[:, 0] = [0.0, -750.0, 4000.0]  # head top (y down)
    poses[:, 16] = [0.0, -700.0, 4000.0]  # head
    return poses.astype(np.float32)


def test_mpi3dhp_train_layout(tmp_path):
    rng = np.random.default_rng(1)
    data = {"S1 Seq1": [{0: {"data_3d": _dhp_pose(5, rng), "data_2d": rng.uniform(0, 2048, (5, 17, 2))},
                         2: {"data_3d": _dhp_pose(5, rng), "data_2d": rng.uniform(0, 2048, (5, 17, 2))}}]}
    path = tmp_path / "data_train_3dhp.npz"
    np.savez_compressed(path, data=data)
    clips = load_mpi3dhp(path)
    assert [(c.name, c.subject, c.camera, c.width) for c in clips] == [("S1 Seq1/cam0", "S1", "0", 2048), ("S1 Seq1/cam2", "S1", "2", 2048)]
    raw = data["S1 Seq1"][0][2]
    np.testing.assert_allclose(clips[1].poses3d, raw["data_3d"][:, list(MPI3DHP_TO_H36M)] / 1000.0, rtol=1e-6)  # mm → m
    np.testing.assert_allclose(clips[1].poses3d[:, 10], raw["data_3d"][:, 0] / 1000.0, rtol=1e-6)  # H36M head ← head top
    np.testing.assert_allclose(clips[1].poses3d[:, 0], [[0.0, 0.0, 4.0]] * 5)  # pelvis is H36M root
    np.testing.assert_allclose(clips[1].keypoints2d[:, 14], raw["data_2d"][:, 2], rtol=1e-6)  # right shoulder
    assert clips[0].valid.all() and clips[0].valid.shape == (5,)


def test_mpi3dhp_test_layout(tmp_path):
    rng = np.random.default_rng(2)
    data = {
        "TS1": {"data_3d": _dhp_pose(4, rng), "data_2d": rng.uniform(0, 2048, (4, 17, 2)), "valid": np.array([1, 0, 1, 1])},
        "TS5": {"data_3d": _dhp_pose(3, rng) / 1000.0, "data_2d": rng.uniform(0, 1080, (3, 17, 2)), "valid": np.ones(3)},
    }
    path = tmp_path / "data_test_3dhp.npz"
    np.savez_compressed(path, data=data)
    ts1, ts5 = load_mpi3dhp(path)
    assert (ts1.name, ts1.width, ts1.height) == ("TS1", 2048, 2048) and (ts5.width, ts5.height) == (1920, 1080)
    assert ts1.valid.tolist() == [True, False, True, True]
    np.testing.assert_allclose(ts5.poses3d[:, 0], [[0.0, 0.0, 4.0]] * 3, atol=1e-6)  # metres kept in metres
    np.testing.assert_allclose(load_mpi3dhp(path, units="m")[0].poses3d, ts1.poses3d * 1000.0, rtol=1e-6)


def test_mpi3dhp_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_mpi3dhp(tmp_path / "missing.npz")
    path = tmp_path / "bad.npz"
    np.savez(path, data={"TS1": {"data_3d": np.zeros((3, 16, 3)), "data_2d": np.zeros((3, 16, 2))}})
    with pytest.raises(ValueError, match="3DHP joint order"):
        load_mpi3dhp(path)
    np.savez(path, other=np.zeros(2))
    with pytest.raises(ValueError, match="found keys"):
        load_mpi3dhp(path)
    with pytest.raises(ValueError):
        load_mpi3dhp(path, units="inch")
