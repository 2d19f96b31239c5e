"""Streaming inference without ROS: per-track windows (window_buffer), one batched infer() for all tracks,
root placement with the intrinsics (placement, camera) — `StreamingLifter` ties them together; the ROS node
only decodes messages into it and publishes what it returns."""
from mpm_model.streaming.camera import Camera
from mpm_model.streaming.lifter import LiftBatch, Lifted, StreamingLifter, StreamOptions
from mpm_model.streaming.window_buffer import Observation, PushResult

__all__ = ["Camera", "LiftBatch", "Lifted", "Observation", "PushResult", "StreamOptions", "StreamingLifter"]
