"""Overlay drawing: filled vs hollow 2D keypoints, 3D reprojected through K, nothing drawn for unplaced 3D."""
import numpy as np

from mpm_model.vision.overlay import OverlayTrack, draw_overlay, reproject

K = np.array([[500.0, 0, 160], [0, 500.0, 120], [0, 0, 1]])
RED = (255, 0, 0)


def track(masked: np.ndarray, joints3d: np.ndarray | None = None) -> OverlayTrack:
    pixels = np.stack([np.linspace(40, 280, 17), np.full(17, 60.0)], axis=1)
    return OverlayTrack(3, RED, pixels, masked, joints3d)


def test_masked_keypoints_are_hollow() -> None:
    masked = np.ones(17, bool)
    masked[4] = False  # only joint 4 seen: no bones, so marker centres are unobstructed
    image = draw_overlay(np.zeros((240, 320, 3), np.uint8), [track(masked)], None)
    x4, x5 = (int(round(x)) for x in np.linspace(40, 280, 17)[[4, 5]])
    assert tuple(image[60, x4]) == RED  # a filled marker's centre has the track colour
    assert tuple(image[60, x5]) == (0, 0, 0)  # a hollow marker's centre shows the image
    assert (image[55:66, x5 - 5:x5 + 6] == RED).all(axis=-1).any()  # … inside its red ring


def test_3d_is_reprojected_through_the_intrinsics() -> None:
    joints = np.zeros((17, 3))
    joints[:, 0] = np.linspace(-0.5, 0.5, 17)
    joints[:, 1] = 0.4
    joints[:, 2] = 4.0
    projected = reproject(joints, K)
    np.testing.assert_allclose(projected[0], [160 - 62.5, 170])
    blank = np.zeros((240, 320, 3), np.uint8)
    hidden = np.ones(17, bool)
    drawn = draw_overlay(blank, [track(hidden, joints)], K)
    assert drawn[165:176, 90:106].any(), "no 3D marker near the reprojected pelvis"
    assert not draw_overlay(blank, [track(hidden, joints)], None)[150:].any(), "3D drawn without intrinsics"
    root_relative = joints - joints[0]  # depth 0: not placed, cannot be reprojected
    assert reproject(root_relative, K) is None
    assert not draw_overlay(blank, [track(hidden, root_relative)], K)[150:].any()
