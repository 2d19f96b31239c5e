"""mpm_input_adapter: lifecycle relay from yolo_ros or ros4hri 2D poses to the lifter's `keypoints`.

Thin glue around `mpm_ros.input_adapters` (pure decoding); republishes mpm_msgs/Skeleton2DArray with the
source stamps, so the lifter needs no remapping. The one way other detectors reach the lifter: the lifter itself
has a single input, raw Skeleton2DArray bytes, so adapted messages pass the same size check, CDR reader and drop
counters as native ones, and any other consumer of `keypoints` gets them too (one more local DDS hop).

    python -m mpm_ros.adapter_node --ros-args -p input_format:=yolo_ros -r detections:=/yolo/tracking
    python -m mpm_ros.adapter_node --ros-args -p input_format:=ros4hri -r camera_info:=/camera/camera_info
"""
from __future__ import annotations

import sys
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from mpm_msgs.msg import Skeleton2DArray
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo

from mpm_ros import messages
from mpm_ros.camera_source import FallbackCamera
from mpm_ros.diagnostics import PipelineStats, input_report
from mpm_ros.input_adapters import INPUT_FORMATS, KeypointInput, unavailable
from mpm_ros.node_main import ServingNode, reliable_qos, run_lifecycle_node, sensor_qos
from mpm_ros.param_table import AUTOSTART, ParamSpec, ParamTable, specs_from

NODE_NAME = "mpm_input_adapter"
_SIZE = {s.name: s for s in specs_from(FallbackCamera, descriptions={
    "image_width": "Image width in pixels for normalised (ros4hri) keypoints until camera_info arrives",
    "image_height": "Image height in pixels for normalised (ros4hri) keypoints until camera_info arrives"})}
TABLE = ParamTable((
    ParamSpec("input_format", "yolo_ros", "2D source: yolo_ros (yolo_msgs/DetectionArray on `detections`) or "
              "ros4hri (REP-155 bodies under /humans/bodies)", choices=INPUT_FORMATS),
    _SIZE["image_width"], _SIZE["image_height"],
    ParamSpec("input_qos_depth", 5, "Depth of the best-effort input subscriptions", 1, 1000),
    ParamSpec("output_qos_depth", 10, "Depth of the reliable keypoints publisher", 1, 1000),
    AUTOSTART,
))
PARAMS = TABLE.specs


class AdapterNode(ServingNode):
    """The relay; with autostart (default) it configures and activates itself in the constructor
    (`defer_autostart`: left to `autostart()`, as main does inside its signal guard)."""

    def __init__(self, argv: list[str] | None = None, defer_autostart: bool = False, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, TABLE, argv, **kwargs)
        self.stats = PipelineStats()
        self._size: tuple[int, int] | None = None
        self._input: KeypointInput | None = None
        if not defer_autostart:
            self.autostart()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values, errors = self._read_parameters()
        problem = None if errors else unavailable(values["input_format"])
        if errors or problem:
            return self._refuse("invalid parameters" if errors else "input_format unavailable", errors or [problem])
        self._params = values
        qos = reliable_qos(values["output_qos_depth"])
        self._outputs = {"keypoints": self.create_lifecycle_publisher(Skeleton2DArray, "keypoints", qos),
                         "diagnostics": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", qos)}
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        v = self._params
        qos = sensor_qos(v["input_qos_depth"])
        self._input = KeypointInput(self, v["input_format"], self._publish, qos, self._image_size, self.stats.drop)
        self._serve([self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)],
                    self._publish_diagnostics)
        return super().on_activate(state)

    def _release(self) -> None:
        super()._release()
        self._params, self._size = None, None

    def _stop_serving(self) -> None:
        if self._input is not None:
            self._input.destroy()
            self._input = None
        super()._stop_serving()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        if msg.width > 0 and msg.height > 0:
            self._size = (int(msg.width), int(msg.height))
        else:
            self.stats.drop("invalid_camera_info")

    def _image_size(self) -> tuple[int, int]:
        return self._size or (self._params["image_width"], self._params["image_height"])

    def _publish(self, msg: Skeleton2DArray) -> None:
        self.stats.input_received()
        self._outputs["keypoints"].publish(msg)
        age_s = (self.get_clock().now().nanoseconds - messages.ns_from_time(msg.header.stamp)) * 1e-9
        self.stats.output_published(0.0, age_s)

    def _publish_diagnostics(self) -> None:
        if self._params is None:
            return
        report = input_report(self.stats, {"input_format": self._params["input_format"],
                                           "image_size": "x".join(map(str, self._image_size()))},
                              running="{rate:.1f} Hz", idle="no input yet")
        self._outputs["diagnostics"].publish(messages.diagnostic_report(
            self.get_clock().now().nanoseconds, f"{self.get_name()}: relay", self._params["input_format"], report))


def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C; exit status 1 when autostart could not reach the active state."""
    return run_lifecycle_node(lambda args: AdapterNode(argv=args, defer_autostart=True), __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
