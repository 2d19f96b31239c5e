"""mpm_pose2d's /diagnostics level (mpm_ros.camera_health), without ROS: one test per condition."""
import numpy as np

from mpm_ros.camera_health import CameraHealth, StampGaps, pose2d_report
from mpm_ros.diagnostics import PipelineStats
from mpm_ros.load_health import ERROR, OK, WARN

PERIOD_NS = 33_333_333
T0 = 1_700_000_000_000_000_000


def _gaps(indices, start: float = 0.0, period_ns: int = PERIOD_NS) -> StampGaps:
    """Images k in `indices` of a 30 Hz camera reached the node (at their own time after `start`)."""
    gaps = StampGaps()
    for k in indices:
        gaps.add(T0 + k * period_ns, start + k * period_ns * 1e-9)
    return gaps


def test_stamp_gaps_count_the_images_lost_on_the_way():
    gaps = _gaps([k for k in range(90) if k % 3 != 1])  # every third image lost: 30, the first two before the
    assert abs(gaps.rate_hz() - 30.0) < 0.1  # period is known (3 gaps)
    assert gaps.total_missed == 28
    assert gaps.missed(3.0) == 28 and gaps.missed(20.0) == 0  # only the last window counts for the level


def test_stamp_gaps_hold_the_period_when_most_images_are_lost():
    arrived = np.flatnonzero(np.random.default_rng(0).random(300) < 0.4)  # 60 % lost: the median gap is 2 periods
    gaps = _gaps(arrived)
    assert abs(gaps.rate_hz() - 30.0) < 0.1
    lost = arrived[-1] - arrived[0] + 1 - len(arrived)  # between the first and the last image that arrived
    assert 0.9 * lost <= gaps.total_missed <= lost  # (the first gaps come before the period estimate)


def test_a_pause_a_burst_and_a_bag_loop_are_no_loss():
    gaps = _gaps(range(30))
    for k in range(30):  # a driver flushing its backlog: 30 stamps 1 ms apart
        gaps.add(T0 + 30 * PERIOD_NS + k * 1_000_000, 1.0)
    for k in range(60, 90):  # 1 s later (after a 2 s pause of the publisher), honest again
        gaps.add(T0 + 2 * 10**9 + k * PERIOD_NS, 3.0 + k / 30)
    gaps.add(T0, 7.0)  # a bag loop
    for k in range(1, 30):
        gaps.add(T0 + k * PERIOD_NS, 7.0 + k / 30)
    assert gaps.total_missed <= 1 and abs(gaps.rate_hz() - 30.0) < 0.1


def _report(stats: PipelineStats, gaps: StampGaps = StampGaps(), health: CameraHealth | None = None,
            now: float = 3.0):
    health = health or CameraHealth(last_image_at=now - 0.1)
    return pose2d_report(stats.snapshot(now=now), stats.frame_counts(now), gaps, health, "/image", "1", now)


def _stats(frames: int = 90, refused: str | None = None, published: bool = True) -> PipelineStats:
    stats = PipelineStats(frame_losses=frozenset({"unsupported_encoding", "zero_stamp"}))
    for k in range(frames):
        now = k / 30
        stats.input_received(now)
        if refused:
            stats.drop(refused)
        elif published:
            stats.output_published(0.02, 0.03, now)
    return stats


def test_a_healthy_camera_is_ok_with_its_rate_and_people():
    report = _report(_stats(), _gaps(range(90)))
    assert report.level == OK and report.summary.endswith("Hz, 1 people")
    assert dict(report.values)["camera_rate_hz"] == "30.00"


def test_no_image_since_activation_says_so():
    report = _report(_stats(0), health=CameraHealth())
    assert report.level == WARN and report.summary == "no image has arrived on '/image' since activation"


def test_a_stopped_camera_says_since_when():
    report = _report(_stats(), health=CameraHealth(last_image_at=0.0), now=9.0)
    assert report.level == WARN and report.summary == "no image on '/image' for 9 s"


def test_every_image_refused_is_an_error_naming_the_reason():
    report = _report(_stats(refused="unsupported_encoding"))
    assert report.level == ERROR and "all refused (unsupported_encoding" in report.summary


def test_images_lost_before_the_node_warn():
    indices = [k for k in range(90) if k % 3 != 1]
    stats = _stats(0)
    for k in indices:
        stats.input_received(k / 30)
        stats.output_published(0.02, 0.03, k / 30)
    report = _report(stats, _gaps(indices))
    assert report.level == WARN and "about 28 of 88 images lost before reaching the node" in report.summary
    assert dict(report.values)["images_lost_before_node"] == "28"


def test_a_camera_info_of_another_size_warns():
    health = CameraHealth(last_image_at=2.9, last_size_mismatch="camera_info 1280x960, image 640x480",
                          last_size_mismatch_at=2.5)
    report = _report(_stats(), _gaps(range(90)), health)
    assert report.level == WARN and "camera_info does not fit the images (camera_info 1280x960" in report.summary
    health.last_size_mismatch_at = -3.0  # more than 5 s ago
    assert _report(_stats(), _gaps(range(90)), health).level == OK


def test_a_detector_slower_than_the_camera_warns():
    stats = _stats(0)
    for k in range(90):
        stats.input_received(k / 30)
        stats.output_published(0.05, 0.06, k / 30)  # 50 ms from image to keypoints, images every 33 ms
    report = _report(stats, _gaps(range(90)))
    assert report.level == WARN and "end-to-end latency p50 50 ms is over 1 input frame period (33 ms)" in report.summary


def test_losses_then_a_bag_loop_report_without_a_rate():
    indices = [k for k in range(90) if k % 3 != 1]
    gaps = _gaps(indices)
    gaps.add(T0, 3.0)  # a bag loop: the period is estimated anew, the losses of the window remain
    report = _report(_stats(), gaps)
    assert gaps.rate_hz() is None and gaps.missed(3.0) == 28
    assert report.level == OK and dict(report.values)["camera_rate_hz"] == "unknown"
