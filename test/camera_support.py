"""Shared helpers of the camera front-end tests: clips from the mocap test slice."""
from pathlib import Path

import numpy as np
import pytest

TEST_SLICE = Path(__file__).resolve().parents[2] / "shared/data/mocap_h36m17_test_slice.npz"


def slice_clip(keyword: str, frames: int) -> np.ndarray:
    """(frames, 17, 3) world poses of the first test-slice sequence named like `keyword`, at 30 fps."""
    if not TEST_SLICE.is_file():
        pytest.skip(f"mocap test slice {TEST_SLICE} not present")
    from mpm_ros.harness.camera_demo import load_clips

    return load_clips(TEST_SLICE, (keyword,), frames)[0][1]
