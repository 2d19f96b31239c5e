"""The mpm_lifter node in-process with real rclpy publishers/subscribers and a tiny random-init torch model."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from mpm_msgs.msg import Keypoint2D, Skeleton2D, Skeleton3D  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from mpm_model.checkpoint import list_pretrained  # noqa: E402
from mpm_model.config import ModelConfig  # noqa: E402
from mpm_ros.lift_node import CAMERA_INFO_GRACE_S, Job, LifterNode  # noqa: E402
from node_support import (FRAME_ID, Driver, lifter_node, lifter_overrides, skeleton_array,  # noqa: E402
                          stamp_ns, tiny_checkpoint, walking_pixels)


def start(context, checkpoint, **values):
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint, **values))
    assert lifter.lifecycle_state == "active"
    driver = Driver(context, lifter)
    driver.wait_connected()
    return lifter, driver


def stamps(msgs) -> list[int]:
    return [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]


def test_walking_skeleton_causal_end_to_end(context, tmp_path) -> None:
    lifter, driver = start(context, tiny_checkpoint(tmp_path), track_timeout=0.1)
    try:
        walker_a, walker_b = walking_pixels(12, seed=0), walking_pixels(12, seed=1)
        driver.send_camera_info(lifter)
        for frame in range(12):
            tracks = {1: walker_a[frame]} | ({2: walker_b[frame]} if frame < 5 else {})
            confidence = {1: np.where(np.arange(17) == 13, 0.0, 0.9)} if frame == 3 else None
            # Causal: each input's output arrives before the next input is sent (never waits for the future).
            driver.send(skeleton_array(stamp_ns(frame), tracks, confidence), expect_outputs=frame + 1)
        assert stamps(driver.skeletons) == [stamp_ns(f) for f in range(12)]
        assert {m.header.frame_id for m in driver.skeletons} == {FRAME_ID}
        assert [[s.track_id for s in m.skeletons] for m in driver.skeletons[:6]] == [[1, 2]] * 5 + [[1]]
        frame3 = driver.skeletons[3].skeletons[0]
        assert frame3.masked[13] and frame3.confidence[13] == 0.0 and not frame3.masked[12]
        assert len(frame3.joints) == 17 and all(np.isfinite([p.x, p.y, p.z]).all() for p in frame3.joints)
        # Placed in the camera frame: the root is in front of the camera (z > 0) rather than at the origin.
        assert driver.skeletons[0].skeletons[0].joints[0].z > 0
        def expiries() -> list[list[tuple[str, int]]]:
            return [[(m.ns, m.id) for m in a.markers] for a in driver.markers
                    if all(m.action == Marker.DELETE for m in a.markers)]
        driver.spin_until(expiries, 5.0)
        placed = {(s.track_id, s.placed) for m in driver.skeletons for s in m.skeletons}
        added = {(m.ns, m.id) for a in driver.markers for m in a.markers if m.action == Marker.ADD}
        assert added == {(f"track_{t}" + ("" if ok else "/root_relative"), i) for t, ok in placed
                         for i in ((0, 1, 2) if ok else (0, 1))}, "placed: joints, bones and the placement label"
        placements = {(s.placed, s.placement) for m in driver.skeletons for s in m.skeletons}
        assert (True, Skeleton3D.REPROJECTION) in placements  # no depth subscribed: placed by the 2D fit only
        assert placements <= {(True, Skeleton3D.REPROJECTION), (True, Skeleton3D.PREDICTED),  # a random model's fits
                              (False, Skeleton3D.NOT_PLACED)}                                  # jump: some gated
        assert (1, True) in placed and (2, True) in placed
        assert expiries() == [[("track_2", 0), ("track_2", 1), ("track_2", 2), ("track_2/root_relative", 0),
                               ("track_2/root_relative", 1), ("track_2/root_relative", 2)]], \
            "track 2 expires 0.1 s after its last frame"
    finally:
        driver.close()
        lifter.destroy_node()


def test_centred_model_outputs_delayed_with_source_stamps(context, tmp_path) -> None:
    lifter, driver = start(context, tiny_checkpoint(tmp_path, window=9, causal=False))
    try:
        walker = walking_pixels(8)
        for frame in range(4):  # window 9 centred: delay 4 frames
            driver.send(skeleton_array(stamp_ns(frame), {7: walker[frame]}))
        driver.spin_until(lambda: False, 0.5)
        assert driver.skeletons == []
        for frame in range(4, 8):
            driver.send(skeleton_array(stamp_ns(frame), {7: walker[frame]}), expect_outputs=frame - 3)
        assert stamps(driver.skeletons) == [stamp_ns(f) for f in range(4)]
        assert driver.skeletons[0].skeletons[0].joints[0].x == 0.0, "no camera_info/focal_length: root-relative"
    finally:
        driver.close()
        lifter.destroy_node()


BAD_INPUTS = ["wrong_joint_count", "unknown_layout", "empty_message", "duplicate_stamp", "out_of_order_stamp",
              "stamp_outlier", "too_many_tracks", "duplicate_track_id"]


def test_every_bad_input_counted_and_node_keeps_serving(context, tmp_path) -> None:
    lifter, driver = start(context, tiny_checkpoint(tmp_path), max_tracks=2, output_frame_id="override_frame",
                           image_width=1000, image_height=1000)
    try:
        walker = walking_pixels(4)
        driver.send(skeleton_array(stamp_ns(100), {1: walker[0]}), expect_outputs=1)
        short = skeleton_array(stamp_ns(101), {1: walker[1]})
        short.skeletons[0].keypoints = short.skeletons[0].keypoints[:16]
        unknown = skeleton_array(stamp_ns(102), {1: walker[1]}, layout="openpose25")
        nan = walker[1].copy()
        nan[4] = np.nan
        bad = [short, unknown, skeleton_array(stamp_ns(103), {1: nan}), skeleton_array(stamp_ns(104), {}),
               skeleton_array(stamp_ns(104), {1: walker[2]}), skeleton_array(stamp_ns(103) + 1, {1: walker[2]}),
               skeleton_array(stamp_ns(0), {1: walker[2]}),  # one far stamp: an outlier
               skeleton_array(stamp_ns(1), {1: walker[2]}), skeleton_array(stamp_ns(2), {1: walker[2]}),  # a loop
               skeleton_array(stamp_ns(3), {1: walker[2], 2: walker[3], 3: walker[3]})]
        duplicate = skeleton_array(stamp_ns(4), {1: walker[3]})
        duplicate.skeletons.append(duplicate.skeletons[0])
        bad.append(duplicate)
        for msg in bad:
            driver.send(msg)
            driver.spin_until(lambda: False, 0.05)
        assert driver.spin_until(lambda: set(BAD_INPUTS) <= set(lifter.stats.dropped()), 5.0), lifter.stats.dropped()
        count = len(driver.skeletons)
        driver.send(skeleton_array(stamp_ns(5), {1: walker[3]}), expect_outputs=count + 1)
        assert driver.skeletons[-1].header.frame_id == "override_frame"
        assert lifter.lifecycle_state == "active"

        def reported() -> bool:
            keys = {kv.key for d in driver.diagnostics for kv in d.status[0].values}
            return {f"dropped.{reason}" for reason in BAD_INPUTS} <= keys
        assert driver.spin_until(reported, 5.0), "diagnostics must list every drop reason"
        values = {kv.key: kv.value for kv in driver.diagnostics[-1].status[0].values}
        assert values["backend"] == "torch" and "backend_selection" in values and "inference_p99_ms" in values
        assert values["buffer_resets.stamp_jump_back"] == "1", "the sustained jump back (a bag loop) resets"
        assert int(values["masked.non_finite_keypoints"]) >= 1 and "dropped.non_finite_keypoints" not in values
        assert int(values["dropped_total"]) == sum(int(v) for k, v in values.items() if k.startswith("dropped."))
        driver.spin_until(lambda: False, CAMERA_INFO_GRACE_S)
        driver.send(skeleton_array(stamp_ns(6), {1: walker[3]}))  # > 2 s of keypoints and still no camera_info
        assert driver.spin_until(lambda: driver.diagnostics[-1].status[0].level == DiagnosticStatus.WARN, 5.0), \
            "no camera_info after the grace period is a warning"
    finally:
        driver.close()
        lifter.destroy_node()


def test_drop_oldest_queue(context, tmp_path) -> None:
    with lifter_node(context, tiny_checkpoint(tmp_path), autostart=False, queue_size=2) as lifter:
        assert lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS  # inactive: no worker drains the queue
        jobs = [Job([], FRAME_ID, FRAME_ID, [], None, float(k)) for k in range(5)]
        for job in jobs:
            lifter._enqueue(job)
        assert list(lifter._worker._jobs) == jobs[-2:]
        assert lifter.stats.dropped()["inference_queue_full"] == 3


def test_lifecycle_deactivate_cleanup_reconfigure(context, tmp_path) -> None:
    lifter, driver = start(context, tiny_checkpoint(tmp_path))
    try:
        walker = walking_pixels(3)
        driver.send(skeleton_array(stamp_ns(0), {1: walker[0]}), expect_outputs=1)
        assert lifter.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        driver.send(skeleton_array(stamp_ns(1), {1: walker[1]}))
        driver.spin_until(lambda: False, 0.3)
        assert len(driver.skeletons) == 1, "an inactive node publishes nothing"
        assert lifter.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert lifter.lifecycle_state == "unconfigured"
        assert lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert lifter.trigger_activate() == TransitionCallbackReturn.SUCCESS
        driver.wait_connected()
        driver.send(skeleton_array(stamp_ns(2), {1: walker[2]}), expect_outputs=2)
    finally:
        driver.close()
        lifter.destroy_node()


def test_coco_input_and_fallback_focal_length_places_skeleton(context, tmp_path) -> None:
    lifter, driver = start(context, tiny_checkpoint(tmp_path), focal_length=1145.0, image_width=1000,
                           image_height=1000)
    try:
        h36m = walking_pixels(1)[0]
        # COCO order from the walker: nose/eyes/ears around the H36M neck/head, limbs 1:1.
        coco = np.stack([h36m[9], h36m[10] + (-5, 0), h36m[10] + (5, 0), h36m[10] + (-10, 3), h36m[10] + (10, 3),
                         h36m[11], h36m[14], h36m[12], h36m[15], h36m[13], h36m[16], h36m[4], h36m[1], h36m[5],
                         h36m[2], h36m[6], h36m[3]])
        msg = skeleton_array(stamp_ns(0), {})
        msg.skeletons = [Skeleton2D(track_id=4, layout=Skeleton2D.LAYOUT_COCO17, keypoints=[
            Keypoint2D(x=float(x), y=float(y), confidence=0.9) for x, y in coco])]
        driver.send(msg, expect_outputs=1)
        skeleton = driver.skeletons[0].skeletons[0]
        assert skeleton.track_id == 4 and not any(skeleton.masked)
        assert skeleton.joints[0].z != 0.0, "focal_length fallback places the root away from the origin"
    finally:
        driver.close()
        lifter.destroy_node()


def test_untrained_checkpoint_warns(context, tmp_path) -> None:
    with lifter_node(context, "", autostart=False, engine_dir=str(tmp_path)) as lifter:
        assert lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert lifter.health.untrained and lifter._lifter.config == ModelConfig(), "the default ModelConfig, random weights"
        assert list(tmp_path.glob("untrained_t27_centred.pt"))


@pytest.mark.parametrize("name", list_pretrained("lifter"))
def test_every_shipped_lifter_starts_from_its_name_alone(context, name) -> None:
    """checkpoint:=<name> and nothing else about the model: window, mode and look-ahead come from the file."""
    lifter = LifterNode(context=context, parameter_overrides=[Parameter("checkpoint", value=name),
                                                              Parameter("backend", value="torch")])
    driver = None
    try:
        assert lifter.lifecycle_state == "active"
        cfg = lifter._lifter.config
        delay = cfg.lookahead if cfg.causal else cfg.window // 2
        assert lifter._lifter.delay_frames == delay
        driver = Driver(context, lifter)
        driver.wait_connected()
        walker = walking_pixels(delay + 1)
        for frame in range(delay + 1):  # one at a time: the best-effort input queue holds only a few
            driver.send(skeleton_array(stamp_ns(frame), {1: walker[frame]}))
            driver.spin_until(lambda: False, 0.03)
        assert driver.spin_until(lambda: driver.skeletons, 30.0)
        assert stamps(driver.skeletons) == [stamp_ns(0)], f"{name}: frame 0 answered after {delay} more frames"
    finally:
        if driver is not None:
            driver.close()
        lifter.destroy_node()


def test_onnxruntime_threads_do_not_spin_unless_asked(context, tmp_path) -> None:
    """Spinning ORT threads fight rclpy for the cores: off by default, thread count from the parameter."""
    checkpoint = tiny_checkpoint(tmp_path)
    for spinning, expected in ((False, "0"), (True, "1")):
        with lifter_node(context, checkpoint, backend="onnxruntime", engine_dir=str(tmp_path), ort_threads=1,
                         ort_spinning=spinning) as lifter:
            options = lifter._lifter.backend.session.get_session_options()
            assert options.intra_op_num_threads == 1
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == expected
