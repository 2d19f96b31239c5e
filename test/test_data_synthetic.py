"""Procedural motion is physically plausible: rigid bones, feet on the ground, upright, moving."""
import numpy as np
import pytest

from mpm_model.data.synthetic import ANKLE_HEIGHT, synthetic_sequences
from mpm_model.skeleton import H36M_PARENTS


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(4, 500, fps=50.0, seed=0)


def test_shapes_and_determinism(seqs):
    assert [s.poses3d.shape for s in seqs] == [(500, 17, 3)] * 4
    assert all(np.isfinite(s.poses3d).all() and s.fps == 50.0 for s in seqs)
    assert len({s.subject for s in seqs}) == 4
    np.testing.assert_array_equal(synthetic_sequences(1, 500, fps=50.0, seed=0)[0].poses3d, seqs[0].poses3d)
    assert not np.allclose(synthetic_sequences(1, 500, fps=50.0, seed=1)[0].poses3d, seqs[0].poses3d)
    with pytest.raises(ValueError):
        synthetic_sequences(0, 10)


def test_bone_lengths_constant(seqs):
    for s in seqs:
        p = s.poses3d
        lengths = np.stack([np.linalg.norm(p[:, c] - p[:, q], axis=-1) for c, q in enumerate(H36M_PARENTS) if q >= 0], 1)
        assert lengths.std(axis=0).max() < 1e-4
        assert 0.38 < lengths[0, 1] < 0.5  # thigh ≈ 0.45 m


def test_feet_on_ground_and_height(seqs):
    for s in seqs:
        p = s.poses3d
        lower_ankle = p[:, [3, 6], 2].min(axis=1)
        np.testing.assert_allclose(lower_ankle, ANKLE_HEIGHT, atol=1e-5)  # one foot always on the ground
        assert p[..., 2].min() >= 0.0
        standing_height = p[:, 10, 2].max()
        assert 1.5 < standing_height < 1.9
        assert (p[:, 10, 2] > p[:, 0, 2]).all()  # upright: head above pelvis


def test_motion_is_smooth_and_varied(seqs):
    speeds = [np.linalg.norm(np.diff(s.poses3d, axis=0), axis=-1) * s.fps for s in seqs]
    assert max(v.max() for v in speeds) < 6.0  # no whipping or teleporting joints (m/s)
    travelled = [np.linalg.norm(s.poses3d[-1, 0, :2] - s.poses3d[0, 0, :2]) for s in seqs]
    assert max(travelled) > 2.0  # someone walked somewhere
    pelvis_heights = np.concatenate([s.poses3d[:, 0, 2] for s in seqs])
    assert pelvis_heights.max() - pelvis_heights.min() > 0.15  # squats happen
