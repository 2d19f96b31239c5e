"""Launch mpm_lifter (+ optional RViz) in a real ROS 2 install (needs launch, launch_ros; not in the PyPI venv).

    ros2 launch mpm_ros lift.launch.py checkpoint:=mpm_t27_causal backend:=auto use_rviz:=true

The backend and checkpoint arguments override the same keys of params_file.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from mpm_ros.params import SPECS  # the one table of the lifter's parameter defaults


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("mpm_ros")
    params_file = LaunchConfiguration("params_file")
    namespace = LaunchConfiguration("namespace")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "lift.yaml"]),
                              description="Parameter file of the mpm_lifter node"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
        DeclareLaunchArgument("backend", default_value=SPECS["backend"].default,
                              description="Inference backend: auto, torch, onnxruntime or tensorrt"),
        DeclareLaunchArgument("checkpoint", default_value=SPECS["checkpoint"].default,
                              description="Shipped weights name or .pt path (empty = untrained random model); "
                                          "the model's window, mode and look-ahead come from it"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="Start RViz with rviz/lift.rviz"),
        LifecycleNode(
            package="mpm_ros", executable="lift_node", name="mpm_lifter", namespace=namespace, output="screen",
            parameters=[params_file, {"backend": LaunchConfiguration("backend"),
                                      "checkpoint": LaunchConfiguration("checkpoint")}],
        ),
        Node(package="rviz2", executable="rviz2", name="rviz2", namespace=namespace, output="screen",
             arguments=["-d", PathJoinSubstitution([share, "rviz", "lift.rviz"])],
             condition=IfCondition(LaunchConfiguration("use_rviz"))),
    ])
