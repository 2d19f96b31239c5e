"""keypoints_wire: the numpy reader gives exactly what rclpy's deserialize_message gives, and refuses broken bytes."""
import numpy as np
import pytest

pytest.importorskip("rclpy")

from mpm_msgs.msg import Keypoint2D, Skeleton2D, Skeleton2DArray  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from mpm_ros.keypoints_wire import WireError, from_message, read_skeleton2d_array  # noqa: E402


def random_message(rng: np.random.Generator) -> Skeleton2DArray:
    msg = Skeleton2DArray()
    msg.header.stamp.sec = int(rng.integers(-2**31, 2**31))
    msg.header.stamp.nanosec = int(rng.integers(0, 10**9))
    msg.header.frame_id = "".join(rng.choice(list("abc_xyzé/"), int(rng.integers(0, 12))))
    for _ in range(int(rng.integers(0, 6))):
        count = int(rng.choice([0, 5, 17, 18]))
        values = rng.normal(0, 500, (count, 3)).astype(np.float32)
        values[rng.random((count, 3)) < 0.05] = np.nan
        msg.skeletons.append(Skeleton2D(
            track_id=int(rng.integers(0, 2**32)), layout=str(rng.choice(["h36m17", "coco17", "", "a"])),
            keypoints=[Keypoint2D(x=float(x), y=float(y), confidence=float(c)) for x, y, c in values]))
    return msg


def as_tuples(frame):
    return frame.stamp_ns, frame.frame_id, [(s.track_id, s.layout, s.keypoints.tolist()) for s in frame.skeletons]


def test_matches_rclpy_on_random_messages() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        msg = random_message(rng)
        data = serialize_message(msg)
        expected = from_message(deserialize_message(data, Skeleton2DArray))
        got = read_skeleton2d_array(data)
        np.testing.assert_equal(as_tuples(got), as_tuples(expected))


def test_truncated_or_corrupt_bytes_raise_wire_error_never_anything_else() -> None:
    rng = np.random.default_rng(1)
    data = serialize_message(random_message(np.random.default_rng(7)))
    assert read_skeleton2d_array(data) is not None
    for cut in range(4, len(data)):
        with pytest.raises(WireError):
            read_skeleton2d_array(data[:cut])
    for _ in range(300):  # random byte flips: a clean answer or WireError
        corrupt = bytearray(data)
        corrupt[int(rng.integers(4, len(data)))] = int(rng.integers(0, 256))
        try:
            frame = read_skeleton2d_array(bytes(corrupt))
        except WireError:
            continue
        assert frame is not None


def test_unknown_encapsulation_is_left_to_rclpy() -> None:
    data = serialize_message(Skeleton2DArray())
    assert read_skeleton2d_array(b"\x00\x0a" + data[2:]) is None
