"""mpm_input_adapter: lifecycle relay from yolo_ros or ros4hri 2D poses to the lifter's `keypoints`.

Thin glue around `mpm_ros.input_adapters` (pure decoding); republishes mpm_msgs/Skeleton2DArray with the
source stamps, so the lifter needs no remapping. A relay rather than a lifter subscription because the lifter's
input path is being hardened (raw, size-checked subscription); the adapters' `KeypointInput` takes any node.

    python -m mpm_ros.adapter_node --ros-args -p input_format:=yolo_ros -r detections:=/yolo/tracking
    python -m mpm_ros.adapter_node --ros-args -p input_format:=ros4hri -r camera_info:=/camera/camera_info
"""
from __future__ import annotations

import sys
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from mpm_msgs.msg import Skeleton2DArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo

from mpm_ros.node_main import ServingNode, run_lifecycle_node
from mpm_ros import messages, param_table
from mpm_ros.diagnostics import PipelineStats
from mpm_ros.input_adapters import INPUT_FORMATS, KeypointInput, unavailable
from mpm_ros.params import ParamSpec

NODE_NAME = "mpm_input_adapter"
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("input_format", "yolo_ros", "2D source: yolo_ros (yolo_msgs/DetectionArray on `detections`) or "
              "ros4hri (REP-155 bodies under /humans/bodies)", choices=INPUT_FORMATS),
    ParamSpec("image_width", 640, "Image width in pixels for normalised (ros4hri) keypoints until camera_info "
              "arrives", 1, 100000),
    ParamSpec("image_height", 480, "Image height in pixels for normalised (ros4hri) keypoints until camera_info "
              "arrives", 1, 100000),
    ParamSpec("input_qos_depth", 5, "Depth of the best-effort input subscriptions", 1, 1000),
    ParamSpec("output_qos_depth", 10, "Depth of the reliable keypoints publisher", 1, 1000),
    ParamSpec("autostart", True, "Configure and activate on start-up (false: wait for lifecycle transitions)",
              read_only=True),
)


class AdapterNode(ServingNode):
    """The relay; with autostart (default) it configures and activates itself in the constructor
    (`defer_autostart`: left to `autostart()`, as main does inside its signal guard)."""

    def __init__(self, defer_autostart: bool = False, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._refused = param_table.declare(self, PARAMS)
        self.stats = PipelineStats()
        self._values: dict[str, Any] | None = None
        self._size: tuple[int, int] | None = None
        self._input: KeypointInput | None = None
        self._camera_info = None
        self._outputs: dict = {}
        self._timer = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if not defer_autostart:
            self.autostart()

    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        """Runtime sets are validated like configure; none applies while configured (all are read there)."""
        reason = param_table.refusal(param_table.read(self, PARAMS), {c.name: c.value for c in changes},
                                     lambda values: param_table.validate(values, PARAMS),
                                     self.lifecycle_state if self._values else None)
        if reason is None:
            for change in changes:
                self._refused.pop(change.name, None)
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = param_table.read(self, PARAMS)
        errors = list(self._refused.values()) + param_table.validate(values, PARAMS)
        problem = None if errors else unavailable(values["input_format"])
        if errors or problem:
            self.get_logger().error("configure refused:\n  " + "\n  ".join(errors or [problem]))
            return TransitionCallbackReturn.FAILURE
        self._values = values
        qos = QoSProfile(depth=values["output_qos_depth"], reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST)
        self._outputs = {"keypoints": self.create_lifecycle_publisher(Skeleton2DArray, "keypoints", qos),
                         "diagnostics": self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", qos)}
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        v = self._values
        qos = QoSProfile(depth=v["input_qos_depth"], reliability=qos_profile_sensor_data.reliability,
                         history=HistoryPolicy.KEEP_LAST)
        self._input = KeypointInput(self, v["input_format"], self._publish, qos, self._image_size, self.stats.drop)
        self._camera_info = self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)
        self._timer = self.create_timer(1.0, self._publish_diagnostics)
        return super().on_activate(state)

    def _release(self) -> None:
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs, self._values, self._size = {}, None, None

    def _stop_serving(self) -> None:
        if self._input is not None:
            self._input.destroy()
            self._input = None
        if self._camera_info is not None:
            self.destroy_subscription(self._camera_info)
            self._camera_info = None
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def _on_camera_info(self, msg: CameraInfo) -> None:
        if msg.width > 0 and msg.height > 0:
            self._size = (int(msg.width), int(msg.height))
        else:
            self.stats.drop("invalid_camera_info")

    def _image_size(self) -> tuple[int, int]:
        return self._size or (self._values["image_width"], self._values["image_height"])

    def _publish(self, msg: Skeleton2DArray) -> None:
        self.stats.input_received()
        self._outputs["keypoints"].publish(msg)
        age_s = (self.get_clock().now().nanoseconds - messages.ns_from_time(msg.header.stamp)) * 1e-9
        self.stats.output_published(0.0, age_s)

    def _publish_diagnostics(self) -> None:
        if self._values is None:
            return
        snapshot = self.stats.snapshot(extra={"input_format": self._values["input_format"],
                                              "image_size": "x".join(map(str, self._image_size()))})
        level = DiagnosticStatus.OK if snapshot.input_rate_hz > 0 else DiagnosticStatus.WARN
        summary = f"{snapshot.output_rate_hz:.1f} Hz" if snapshot.input_rate_hz > 0 else "no input yet"
        self._outputs["diagnostics"].publish(messages.diagnostic_array(
            self.get_clock().now().nanoseconds, f"{self.get_name()}: relay", self._values["input_format"], level,
            summary, snapshot.as_key_values()))


def main(argv: list[str] | None = None) -> int:
    """Run the node until Ctrl-C; exit status 1 when autostart could not reach the active state."""
    return run_lifecycle_node(lambda _args: AdapterNode(defer_autostart=True), __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
