"""The IoU/keypoint tracker keeps ids through crossings and short occlusions."""
import numpy as np

from mpm_model.vision.tracker import PoseTracker, box_iou

FPS = 30.0
# A person-shaped cloud of 17 points (about 60 x 170 px).
SHAPE = np.random.default_rng(1).uniform([-30, -85], [30, 85], (17, 2))
CONF = np.full(17, 0.9)


def person(x: float, y: float = 240.0) -> np.ndarray:
    return SHAPE + [x, y]


def test_two_people_crossing_keep_their_ids() -> None:
    tracker = PoseTracker()
    a_ids, b_ids = [], []
    for t in range(60):
        a, b = person(100 + 8 * t), person(580 - 8 * t)  # they pass through each other around t = 30
        visible = [(a, "a")] + ([] if 28 <= t <= 31 else [(b, "b")])  # b hidden behind a while crossing
        ids = tracker.update(t / FPS, [p for p, _ in visible], [CONF] * len(visible))
        for track_id, (_, who) in zip(ids, visible):
            (a_ids if who == "a" else b_ids).append(track_id)
    assert set(a_ids) == {1} and set(b_ids) == {2}


def test_order_of_detections_does_not_matter_and_lost_tracks_retire() -> None:
    tracker = PoseTracker(max_age_s=0.2)
    assert tracker.update(0.0, [person(100), person(400)], [CONF, CONF]) == [1, 2]
    assert tracker.update(1 / FPS, [person(402), person(101)], [CONF, CONF]) == [2, 1]
    assert tracker.update(1.0, [person(100)], [CONF]) == [3]  # ids are never reused
    tracker.reset()
    assert tracker.track_ids == [] and tracker.update(1.1, [person(100)], [CONF]) == [4]


def test_box_iou() -> None:
    assert box_iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == 50 / 150
    assert box_iou(np.array([0, 0, 1, 1]), np.array([2, 2, 3, 3])) == 0.0
