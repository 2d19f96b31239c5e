"""Streaming inference without ROS or torch: per-track windows (window_buffer), one batched infer() for all
tracks, root placement with the intrinsics (placement, camera) — `StreamingLifter` ties them together; the ROS
node only decodes messages into it and publishes what it returns. Everything a caller needs is exported here."""
from mpm_model.streaming.camera import Camera, fallback_intrinsics, intrinsics_problem
from mpm_model.streaming.lifter import LiftBatch, Lifted, StreamingLifter
from mpm_model.streaming.options import LifterOptions, StreamOptions, confident
from mpm_model.streaming.window_buffer import RESETS, Emission, Observation, PushResult

__all__ = ["RESETS", "Camera", "Emission", "LiftBatch", "Lifted", "LifterOptions", "Observation", "PushResult",
           "StreamOptions",
           "StreamingLifter", "confident", "fallback_intrinsics", "intrinsics_problem"]
