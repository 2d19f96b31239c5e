"""Shared mocap npz: canonical round trip, tolerated layouts, up-axis detection, splits, resampling."""
import logging

import numpy as np
import pytest

from mpm_model.data.mocap import (MocapSequence, dataset_hash, load_mocap, resample, rotation_to_z_up,
                                  split_by_subject, write_mocap)
from mpm_model.data.synthetic import synthetic_sequences


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(3, 40, seed=3)


def test_canonical_round_trip(tmp_path, seqs):
    seqs[0].source = "cmu-mocap"
    path = tmp_path / "mocap.npz"
    write_mocap(path, seqs)
    with np.load(path, allow_pickle=False) as npz:  # canonical files never need pickle
        assert sorted(npz.files) == ["fps", "poses_3d", "sequence_index", "sequence_names", "sequence_subjects", "source"]
        assert npz["poses_3d"].dtype == np.float32 and npz["sequence_index"].dtype == np.int32
    loaded = load_mocap(path)
    assert [s.name for s in loaded] == [s.name for s in seqs]
    assert [s.subject for s in loaded] == [s.subject for s in seqs]
    assert loaded[0].source == "cmu-mocap" and loaded[1].source == "synthetic-procedural"
    for a, b in zip(loaded, seqs):
        assert a.fps == b.fps
        np.testing.assert_allclose(a.poses3d, b.poses3d, atol=1e-6)


def test_alternative_layouts(tmp_path, seqs):
    # positions_3d as a per-sequence object array, scalar fps, y-up world in millimetres.
    y_up = [np.stack([s.poses3d[..., 0], s.poses3d[..., 2], -s.poses3d[..., 1]], -1) * 1000 for s in seqs]
    chunks = np.empty(len(y_up), dtype=object)
    chunks[:] = y_up
    path = tmp_path / "alt.npz"
    np.savez(path, positions_3d=chunks, frame_rate=np.float32(50), subjects=np.array(["a", "b", "c"]))
    loaded = load_mocap(path)
    assert [s.subject for s in loaded] == ["a", "b", "c"]
    for a, b in zip(loaded, seqs):  # rotated back to z-up (a proper rotation, so x is kept)
        np.testing.assert_allclose(a.poses3d, b.poses3d, atol=1e-4)
    # one concatenated array + seq_lengths, nested dict layout
    path2 = tmp_path / "lengths.npz"
    np.savez(path2, joints_3d=np.concatenate([s.poses3d for s in seqs]), seq_lengths=[len(s) for s in seqs], fps=50.0)
    assert [len(s) for s in load_mocap(path2)] == [len(s) for s in seqs]
    path3 = tmp_path / "dict.npz"
    np.savez(path3, poses3d={"S1": {"walk": seqs[0].poses3d}, "S2": {"jump": seqs[1].poses3d}}, fps=25.0)
    loaded3 = load_mocap(path3)
    assert [(s.name, s.subject, s.fps) for s in loaded3] == [("S1/walk", "S1", 25.0), ("S2/jump", "S2", 25.0)]


def test_up_axis_rotation_is_proper():
    for axis in np.vstack([np.eye(3), -np.eye(3)]):
        rot = rotation_to_z_up(axis)
        np.testing.assert_allclose(rot @ axis, [0, 0, 1], atol=1e-12)
        assert np.isclose(np.linalg.det(rot), 1.0)


def test_bad_files(tmp_path, seqs, caplog):
    with pytest.raises(FileNotFoundError):
        load_mocap(tmp_path / "missing.npz")
    path = tmp_path / "nokeys.npz"
    np.savez(path, foo=np.zeros(3))
    with pytest.raises(ValueError, match="found keys \\['foo'\\]"):
        load_mocap(path)
    path = tmp_path / "nofps.npz"
    np.savez(path, poses_3d=seqs[0].poses3d)
    with pytest.raises(ValueError, match="frame rate"):
        load_mocap(path)
    assert len(load_mocap(path, default_fps=30.0)[0]) == len(seqs[0])
    bad = seqs[1].poses3d.copy()
    bad[10, 3, 0] = np.nan
    broken = [seqs[0], MocapSequence("broken", "s", 50.0, bad)]
    path = tmp_path / "nan.npz"
    write_mocap(path, broken)
    with pytest.raises(ValueError, match="'broken'"):
        load_mocap(path)
    with caplog.at_level(logging.WARNING):
        parts = load_mocap(path, drop_nonfinite=True)
    assert [s.name for s in parts] == [seqs[0].name, "broken#0", "broken#1"]
    assert [len(s) for s in parts[1:]] == [10, len(bad) - 11]
    assert "dropped 1 non-finite" in caplog.text
    with pytest.raises(ValueError, match="17"):
        MocapSequence("x", "s", 50.0, np.zeros((5, 16, 3)))


def test_split_by_subject(seqs):
    many = synthetic_sequences(10, 5, seed=1)
    train, val = split_by_subject(many, 0.2, seed=0)
    assert len(val) == 2 and len(train) == 8
    assert not {s.subject for s in train} & {s.subject for s in val}
    assert [s.name for s in split_by_subject(many, 0.2, seed=0)[1]] == [s.name for s in val]  # deterministic
    one_subject = [MocapSequence(f"s{i}", "same", 50.0, s.poses3d) for i, s in enumerate(seqs)]
    train, val = split_by_subject(one_subject, 0.34)
    assert len(train) == 2 and len(val) == 1  # falls back to whole sequences
    train, val = split_by_subject(seqs[:1], 0.25)
    assert len(train[0]) == 30 and len(val[0]) == 10  # single sequence: split in time
    with pytest.raises(ValueError):
        split_by_subject(seqs, 1.5)


def test_dataset_hash(tmp_path, seqs):
    path = tmp_path / "a.npz"
    write_mocap(path, seqs)
    digest = dataset_hash(path)
    assert len(digest) == 16 and digest == dataset_hash(path)
    write_mocap(path, seqs[:2])
    assert dataset_hash(path) != digest
    with pytest.raises(FileNotFoundError):
        dataset_hash(tmp_path / "nope.npz")


def test_resample_linear():
    poses = np.zeros((5, 17, 3), np.float32)
    poses[:, :, 0] = np.arange(5)[:, None]  # x = frame index at 25 Hz
    up = resample(MocapSequence("a", "s", 25.0, poses), 50.0)
    assert len(up) == 9 and up.fps == 50.0
    np.testing.assert_allclose(up.poses3d[:, 0, 0], np.arange(9) / 2)
    down = resample(MocapSequence("a", "s", 100.0, poses), 50.0)
    np.testing.assert_allclose(down.poses3d[:, 0, 0], [0, 2, 4])
    with pytest.raises(ValueError):
        resample(up, 0.0)
