"""launch/lift.launch.py in a real ROS 2 install (skips here: the PyPI venv has no launch/launch_pytest)."""
import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_launch_description_declares_arguments() -> None:
    pytest.importorskip("launch_pytest")
    pytest.importorskip("launch_ros")
    spec = importlib.util.spec_from_file_location("lift_launch", ROOT / "launch/lift.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from launch.actions import DeclareLaunchArgument

    description = module.generate_launch_description()
    declared = {a.name for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert declared == {"params_file", "namespace", "backend", "checkpoint", "use_rviz"}


def test_config_declares_exactly_the_node_parameters() -> None:
    from mpm_ros.param_table import ros_value
    from mpm_ros.params import SPECS

    values = yaml.safe_load((ROOT / "config/lift.yaml").read_text())["/**"]["ros__parameters"]
    assert set(values) == set(SPECS)
    for name, value in values.items():
        assert type(ros_value(value)) is type(SPECS[name].default), f"{name}: {value!r} has the wrong YAML type"


def test_rviz_shows_markers_in_the_camera_frame() -> None:
    rviz = yaml.safe_load((ROOT / "rviz/lift.rviz").read_text())["Visualization Manager"]
    assert rviz["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    markers = [d for d in rviz["Displays"] if d["Class"] == "rviz_default_plugins/MarkerArray"]
    assert markers and markers[0]["Topic"]["Value"] == "/markers" and markers[0]["Enabled"]
    tf = [d for d in rviz["Displays"] if d["Class"] == "rviz_default_plugins/TF"]  # people's frames (publish_tf)
    assert tf and tf[0]["Enabled"] and tf[0]["Show Axes"]


# Launch-level tier: defined for real only where launch_pytest exists (a ROS 2 install after colcon build).

if importlib.util.find_spec("launch_pytest") is not None and importlib.util.find_spec("launch_ros") is not None:
    import launch_pytest
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    @launch_pytest.fixture
    def lift_launch() -> LaunchDescription:
        return LaunchDescription([
            IncludeLaunchDescription(PythonLaunchDescriptionSource(str(ROOT / "launch/lift.launch.py")),
                                     launch_arguments={"backend": "onnxruntime", "use_rviz": "false"}.items()),
            launch_pytest.actions.ReadyToTest(),
        ])

    @pytest.mark.launch(fixture=lift_launch)
    def test_launched_node_reports_diagnostics() -> None:
        import time

        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray

        rclpy.init()
        try:
            node = rclpy.create_node("launch_test_listener")
            received = []
            node.create_subscription(DiagnosticArray, "/diagnostics", received.append, 10)
            deadline = time.monotonic() + 60.0
            while not received and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.5)
            assert received, "mpm_lifter published no /diagnostics within 60 s of launch"
            values = {kv.key: kv.value for kv in received[0].status[0].values}
            assert values["backend"] == "onnxruntime"
        finally:
            rclpy.try_shutdown()
else:
    def test_launched_node_reports_diagnostics() -> None:
        pytest.skip("launch_pytest / launch_ros not installed (PyPI ROS venv): launch-level test needs a ROS install")
