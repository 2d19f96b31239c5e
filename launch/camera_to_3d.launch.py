"""Camera → 2D → 3D in a real ROS 2 install (needs launch, launch_ros, rviz2; not in the PyPI venv):
image + camera_info → mpm_pose2d → keypoints → mpm_lifter → skeletons3d / markers, overlay → RViz.

    ros2 launch mpm_ros camera_to_3d.launch.py image:=/camera/image_raw camera_info:=/camera/camera_info

RViz (rviz/camera_to_3d.rviz) shows the `overlay` image and the MarkerArray in `camera_optical_frame`: the
lifter publishes in that frame by default here (output_frame_id), so no TF is needed; set output_frame_id:=''
to keep the image's own frame_id when your TF tree has it.
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
    arg = LaunchConfiguration
    namespace = arg("namespace")
    return LaunchDescription([
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="sensor_msgs/Image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info",
                              description="sensor_msgs/CameraInfo topic of that image"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "lift.yaml"]),
                              description="Parameter file of the mpm_lifter node"),
        DeclareLaunchArgument("checkpoint", default_value=SPECS["checkpoint"].default,
                              description="Lifter weights (shipped name or .pt); window and mode come from it"),
        DeclareLaunchArgument("backend", default_value=SPECS["backend"].default, description="auto, torch, onnxruntime or tensorrt"),
        DeclareLaunchArgument("detector", default_value="mediapipe", description="mediapipe or yolo_onnx"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="Detector model; empty = the BlazePose .task (required for yolo_onnx)"),
        DeclareLaunchArgument("max_people", default_value="1", description="People detected per image"),
        DeclareLaunchArgument("image_reliable", default_value="false",
                              description="Subscribe to the image reliably (a reliable camera: no image lost to a "
                                          "dropped fragment; docs/CAMERA.md)"),
        DeclareLaunchArgument("output_frame_id", default_value="camera_optical_frame",
                              description="frame_id of the 3D outputs ('' = the image's frame_id)"),
        DeclareLaunchArgument("use_rviz", default_value="true", description="Start RViz with rviz/camera_to_3d.rviz"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the nodes and topics"),
        LifecycleNode(
            package="mpm_ros", executable="pose2d_node", name="mpm_pose2d", namespace=namespace, output="screen",
            parameters=[{"detector": arg("detector"), "model_path": arg("model_path"),
                         "max_people": arg("max_people"), "image_reliable": arg("image_reliable"),
                         "publish_overlay": True}],
            remappings=[("image", arg("image")), ("camera_info", arg("camera_info"))],
        ),
        LifecycleNode(
            package="mpm_ros", executable="lift_node", name="mpm_lifter", namespace=namespace, output="screen",
            parameters=[arg("params_file"), {"checkpoint": arg("checkpoint"), "backend": arg("backend"),
                                             "output_frame_id": arg("output_frame_id")}],
            remappings=[("camera_info", arg("camera_info"))],
        ),
        Node(package="rviz2", executable="rviz2", name="rviz2", namespace=namespace, output="screen",
             arguments=["-d", PathJoinSubstitution([share, "rviz", "camera_to_3d.rviz"])],
             condition=IfCondition(arg("use_rviz"))),
    ])
