"""mpm_msgs/Skeleton2DArray straight from its serialised bytes into numpy (ROS-free).

rclpy's deserialize_message builds one Python object per Keypoint2D and the node then reads three attributes of
each: ~0.3 ms per 10-person frame on this 2-core machine, on the executor thread. This reader walks the CDR
bytes once and hands each skeleton's keypoints over as one (K, 3) float32 view (np.frombuffer). `from_message`
gives the same WireFrame for a message that arrived as an object (the yolo_ros / ros4hri adapters).

Wire format (OMG XCDR1 / plain XCDR2, which coincide for this message: every field is 4-byte aligned and
ROS types are final, so there is no DHEADER): 4-byte encapsulation header; Header {int32 sec, uint32 nanosec,
string frame_id}; uint32 count, then per Skeleton2D {uint32 track_id, string layout, uint32 count, count x
Keypoint2D {float32 x, y, confidence}}. A string is uint32 length (with its NUL) + bytes, padded to 4. Any other
encapsulation returns None: the caller falls back to deserialize_message.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

NS_PER_S = 1_000_000_000
# encapsulation id -> byte order: CDR_BE, CDR_LE, PLAIN_CDR2_BE, PLAIN_CDR2_LE
ENCAPSULATIONS = {b"\x00\x00": ">", b"\x00\x01": "<", b"\x00\x06": ">", b"\x00\x07": "<"}


class WireError(ValueError):
    """The bytes are not a well-formed Skeleton2DArray (truncated, lengths past the end, bad text)."""


@dataclass(frozen=True)
class WireSkeleton:
    track_id: int
    layout: str
    keypoints: np.ndarray  # (K, 3) float32: x, y, confidence (a read-only view of the message bytes)


@dataclass(frozen=True)
class WireFrame:
    stamp_ns: int
    frame_id: str
    skeletons: list[WireSkeleton]


class _Reader:
    def __init__(self, data: bytes, order: str) -> None:
        self.data, self.order, self.at = memoryview(data), order, 4
        self._u32 = struct.Struct(order + "I")

    def u32(self) -> int:
        self.at += -(self.at - 4) % 4  # align to 4 relative to the body
        if self.at + 4 > len(self.data):
            raise WireError(f"truncated at byte {self.at} of {len(self.data)}")
        value = self._u32.unpack_from(self.data, self.at)[0]
        self.at += 4
        return value

    def i32(self) -> int:
        value = self.u32()
        return value - (1 << 32) if value >= 1 << 31 else value

    def string(self) -> str:
        length = self.u32()
        if length == 0 or self.at + length > len(self.data):  # length counts the terminating NUL
            raise WireError(f"string of {length} bytes at byte {self.at} does not fit {len(self.data)}")
        raw = bytes(self.data[self.at:self.at + length - 1])
        self.at += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"string at byte {self.at - length} is not UTF-8") from exc

    def floats(self, count: int) -> np.ndarray:
        self.at += -(self.at - 4) % 4
        end = self.at + 4 * count
        if end > len(self.data):
            raise WireError(f"{count} floats at byte {self.at} do not fit {len(self.data)}")
        values = np.frombuffer(self.data, dtype=np.dtype(self.order + "f4"), count=count, offset=self.at)
        self.at = end
        return values


def read_skeleton2d_array(data: bytes) -> WireFrame | None:
    """The frame, or None for an encapsulation this reader does not handle; raises WireError on malformed bytes.
    Costs one pass over the skeletons (keypoints are views, not copies); the caller bounds the size first."""
    order = ENCAPSULATIONS.get(bytes(data[:2]))
    if order is None or len(data) < 4:
        return None
    reader = _Reader(data, order)
    sec, nanosec = reader.i32(), reader.u32()
    frame_id = reader.string()
    total = reader.u32()
    if total > len(data) // 12:  # every skeleton takes at least 12 bytes: a count past that is corrupt
        raise WireError(f"{total} skeletons cannot fit {len(data)} bytes")
    skeletons = []
    for _ in range(total):
        track_id = reader.u32()
        layout = reader.string()
        count = reader.u32()
        skeletons.append(WireSkeleton(track_id, layout, reader.floats(3 * count).reshape(count, 3)))
    return WireFrame(sec * NS_PER_S + nanosec, frame_id, skeletons)


def from_message(msg) -> WireFrame:
    """A Skeleton2DArray object → WireFrame (what the raw path yields from its bytes)."""
    return WireFrame(int(msg.header.stamp.sec) * NS_PER_S + int(msg.header.stamp.nanosec), msg.header.frame_id, [
        WireSkeleton(int(s.track_id), s.layout, np.array([(k.x, k.y, k.confidence) for k in s.keypoints],
                                                          np.float32).reshape(-1, 3)) for s in msg.skeletons])
