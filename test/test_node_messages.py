"""messages: builders produce well-formed Skeleton3DArray / MarkerArray / DiagnosticArray (no rclpy needed)."""
import numpy as np
import pytest

pytest.importorskip("mpm_msgs.msg")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from mpm_msgs.msg import Skeleton3D  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from mpm_model.skeleton import H36M_BONES  # noqa: E402
from mpm_ros import messages  # noqa: E402
from mpm_ros.diagnostics import PipelineStats, frame_rate_problem  # noqa: E402

STAMP = 1_700_000_123_456_789_012


def test_time_roundtrip_is_exact() -> None:
    stamp = messages.time_from_ns(STAMP)
    assert (stamp.sec, stamp.nanosec) == (1_700_000_123, 456_789_012)
    assert messages.ns_from_time(stamp) == STAMP


def test_skeleton3d_array() -> None:
    joints = np.arange(2 * 17 * 3, dtype=np.float32).reshape(2, 17, 3)
    masked = np.zeros((2, 17), bool)
    masked[1, 3] = True
    confidence = np.where(masked, 0.0, 0.8).astype(np.float32)
    msg = messages.skeleton3d_array(STAMP, "cam_optical", [4, 9], messages.track_points(joints), confidence, masked,
                                    np.array([Skeleton3D.DEPTH, Skeleton3D.NOT_PLACED]))
    assert msg.header.frame_id == "cam_optical" and messages.ns_from_time(msg.header.stamp) == STAMP
    assert [s.track_id for s in msg.skeletons] == [4, 9]
    assert [s.placed for s in msg.skeletons] == [True, False]
    assert [s.placement for s in msg.skeletons] == [Skeleton3D.DEPTH, Skeleton3D.NOT_PLACED]
    assert msg.skeletons[1].joints[2].z == pytest.approx(joints[1, 2, 2])
    assert list(msg.skeletons[1].masked)[3] and msg.skeletons[1].confidence[3] == 0.0
    with pytest.raises(ValueError):
        messages.skeleton3d_array(STAMP, "c", [1], messages.track_points(joints), confidence, masked, np.ones(1, bool))


def test_markers_per_track_namespace_stable_ids_and_colours() -> None:
    joints = np.zeros((2, 17, 3))
    masked = np.zeros((2, 17), bool)
    masked[0, 0] = True
    msg = messages.skeleton_markers(STAMP, "cam", [3, 11], messages.track_points(joints), masked,
                                    np.array([Skeleton3D.REPROJECTION, Skeleton3D.DEPTH]), np.zeros(2, bool),
                                    scale=0.05, lifetime_s=0.5)
    assert all(m.action == Marker.ADD for m in msg.markers), "no state change: nothing to delete"
    added = [(m.ns, m.id, m.type) for m in msg.markers if m.action == Marker.ADD]
    assert added == [("track_3", 0, Marker.SPHERE_LIST), ("track_3", 1, Marker.LINE_LIST),
                     ("track_3", 2, Marker.TEXT_VIEW_FACING), ("track_11", 0, Marker.SPHERE_LIST),
                     ("track_11", 1, Marker.LINE_LIST), ("track_11", 2, Marker.TEXT_VIEW_FACING)]
    assert [m.text for m in msg.markers if m.id == 2] == ["2D fit", "depth"], "the label says how it was placed"
    spheres, bones = msg.markers[:2]
    assert len(spheres.points) == 17 and len(bones.points) == 2 * len(H36M_BONES)
    assert spheres.colors[0].a < 1.0 == spheres.colors[1].a, "masked joints are drawn faded"
    assert (spheres.lifetime.sec, spheres.lifetime.nanosec) == (0, 500_000_000)
    assert spheres.color.r == messages.track_color(3)[0]
    assert messages.track_color(3) == messages.track_color(3 + len(messages.PALETTE))


def test_unplaced_skeleton_markers_have_their_own_namespace_and_colour() -> None:
    joints, masked = np.zeros((2, 17, 3)), np.zeros((2, 17), bool)
    msg = messages.skeleton_markers(STAMP, "cam", [3, 4], messages.track_points(joints), masked,
                                    np.array([Skeleton3D.REPROJECTION, Skeleton3D.NOT_PLACED]), np.ones(2, bool),
                                    0.05, 0.5)
    actions = [(m.ns, m.id, m.action) for m in msg.markers]
    assert actions == [("track_3", 0, Marker.ADD), ("track_3", 1, Marker.ADD), ("track_3", 2, Marker.ADD),
                       ("track_3/root_relative", 0, Marker.DELETE), ("track_3/root_relative", 1, Marker.DELETE),
                       ("track_3/root_relative", 2, Marker.DELETE),
                       ("track_4/root_relative", 0, Marker.ADD), ("track_4/root_relative", 1, Marker.ADD),
                       ("track_4", 0, Marker.DELETE), ("track_4", 1, Marker.DELETE), ("track_4", 2, Marker.DELETE)]
    placed_colour, unplaced_colour = msg.markers[0].color, msg.markers[6].color
    assert (unplaced_colour.r, unplaced_colour.g, unplaced_colour.b) == messages.UNPLACED_COLOR
    assert (placed_colour.r, placed_colour.g, placed_colour.b) == pytest.approx(messages.track_color(3))
    assert unplaced_colour.a < 1.0


def test_delete_markers() -> None:
    msg = messages.delete_markers(STAMP, "cam", [5])
    assert [(m.ns, m.id, m.action) for m in msg.markers] == [
        ("track_5", 0, Marker.DELETE), ("track_5", 1, Marker.DELETE), ("track_5", 2, Marker.DELETE),
        ("track_5/root_relative", 0, Marker.DELETE), ("track_5/root_relative", 1, Marker.DELETE),
        ("track_5/root_relative", 2, Marker.DELETE)]


def test_diagnostic_array_from_stats() -> None:
    stats = PipelineStats()
    for k in range(10):
        stats.input_received(now=100.0 + 0.1 * k)
        stats.inference_done(0.010 + 0.001 * k)
        stats.output_published(0.020, 0.050 + 0.001 * k, now=100.0 + 0.1 * k)
    stats.drop("wrong_joint_count", 3)
    stats.mask("non_finite_keypoints", 5)
    snapshot = stats.snapshot(extra={"backend": "torch"}, now=101.0)
    assert snapshot.input_rate_hz == pytest.approx(10 / 5.0)
    assert snapshot.inference_p50_ms == pytest.approx(14.5)
    assert snapshot.end_to_end_p50_ms == pytest.approx(20.0)
    assert snapshot.stamp_age_p50_ms == pytest.approx(54.5)
    msg = messages.diagnostic_array(STAMP, "mpm_lifter: pipeline", "torch", DiagnosticStatus.OK, "ok",
                                    snapshot.as_key_values())
    values = {kv.key: kv.value for kv in msg.status[0].values}
    assert values["dropped.wrong_joint_count"] == "3" and values["backend"] == "torch"
    assert values["dropped_total"] == "3", "masked joints are not drops"
    assert values["masked.non_finite_keypoints"] == "5" and values["masked_total"] == "5"
    assert values["stamp_age_p50_ms"] == "54.50"
    assert msg.status[0].level == DiagnosticStatus.OK


@pytest.mark.parametrize("measured, model_fps, warns", [(30.0, 30.0, False), (25.0, 30.0, False), (15.0, 30.0, True),
                                                        (50.0, 30.0, True), (15.0, None, False), (None, 30.0, False)])
def test_frame_rate_problem(measured, model_fps, warns) -> None:
    problem = frame_rate_problem(measured, model_fps)
    assert bool(problem) == warns
    if warns:
        assert f"{measured:.1f} Hz" in problem and f"trained at {model_fps:g} Hz" in problem
