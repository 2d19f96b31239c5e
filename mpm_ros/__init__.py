"""mpm_ros: ROS 2 nodes and tools that lift streaming 2D keypoints to 3D skeletons with mpm_model.

lift_node (+ params, inputs, layouts, messages, diagnostics) · pose2d_node / adapter_node (camera and detector
front ends) · bags/ (make_bag, replay, report) · stress (fuzz and soak).
"""
from mpm_model.moved import register

register({f"mpm_ros.{name}": f"mpm_ros.bags.{name}" for name in ("make_bag", "replay", "report")})
