"""`make demo-rgbd` on a short bag: an RGB-D bag (make_bag --rgbd) through lift_node without and with
`use_depth` (subprocesses, ONNX Runtime), replayed and recorded, scored by placement_eval.summarize. Checks that
depth reaches the node, that it places skeletons with depth, and that the table and placement.json are written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from mpm_model.data.mocap import write_mocap  # noqa: E402
from mpm_model.data.synthetic import synthetic_sequences  # noqa: E402
from mpm_ros.harness.pipeline import DemoOptions, demo_rgbd  # noqa: E402


def test_depth_reaches_the_node_and_places_skeletons(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_mocap(tmp_path / "clip.npz", synthetic_sequences(2, 90, fps=30.0, seed=5))
    rows = demo_rgbd(DemoOptions(out=tmp_path / "run", clip=tmp_path / "clip.npz", fps=10.0, duration_s=3.0))["rows"]
    without, with_depth = rows
    assert (without["use_depth"], with_depth["use_depth"]) == (False, True)
    assert without["count"] > 20 and with_depth["count"] > 20
    assert without["by_method"]["depth"]["count"] == 0
    assert with_depth["by_method"]["depth"]["count"] > 0.3 * with_depth["count"], with_depth["by_method"]
    assert int(with_depth["counts"].get("masked.depth.placed", 0)) > 0, with_depth["counts"]
    # Reliable depth and depth_wait: images reach the node for (nearly) every frame, even on a loaded machine.
    assert int(with_depth["counts"].get("masked.depth.no_image", 0)) <= 0.1 * with_depth["count"], with_depth["counts"]
    # Depth pins the distance the 2D fit guesses from the person's size: better over the people depth sees.
    sees = [row["depth_sees_person"]["root_error_m"]["median"] for row in rows]
    assert sees[1] < sees[0], sees
    saved = json.loads((tmp_path / "run/placement.json").read_text())
    assert [row["use_depth"] for row in saved] == [False, True]
    assert "2D + depth, depth sees" in capsys.readouterr().out
