"""The image-loss harness (mpm_ros.harness.image_loss) end to end, short: a camera in this process, mpm_pose2d as
its own process, the node's own count of received images and its answers read back."""
from __future__ import annotations

from mpm_ros.harness.image_loss import SETTINGS, run_setting, table


def test_images_reach_a_node_process_and_are_accounted_for(tmp_path) -> None:
    row = run_setting(SETTINGS[2], 30, 30.0, tmp_path, {}, width=160, height=120)  # reliable → image_reliable
    assert row["received"] >= 20, row  # 19 KB images, reliable: nothing should be lost
    assert 0 < row["answers"] <= row["received"]
    assert table([row]).splitlines()[-1].startswith(f"| {SETTINGS[2].name} | 30 | {row['received']} |")
