"""launch/camera_to_3d.launch.py and its RViz preset (the launch itself runs only in a real ROS 2 install)."""
import ast
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch/camera_to_3d.launch.py"


def test_launch_starts_console_scripts_that_exist() -> None:
    scripts = dict(re.findall(r'"([\w-]+)\s*=\s*([\w.:]+)"', (ROOT / "setup.py").read_text()))
    executables = {node.value.value for node in ast.walk(ast.parse(LAUNCH.read_text()))
                   if isinstance(node, ast.keyword) and node.arg == "executable"}
    assert executables == {"pose2d_node", "lift_node", "rviz2"}
    assert {"pose2d_node", "lift_node"} <= set(scripts)


def test_rviz_preset_shows_the_overlay_and_the_markers() -> None:
    rviz = yaml.safe_load((ROOT / "rviz/camera_to_3d.rviz").read_text())["Visualization Manager"]
    topics = {d["Class"]: d["Topic"]["Value"] for d in rviz["Displays"] if "Topic" in d}
    assert topics == {"rviz_default_plugins/MarkerArray": "/markers", "rviz_default_plugins/Image": "/overlay"}
    assert rviz["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    tf = [d for d in rviz["Displays"] if d["Class"] == "rviz_default_plugins/TF"]  # people's frames (publish_tf)
    assert tf and tf[0]["Enabled"] and tf[0]["Show Axes"]


def test_launch_description_declares_arguments() -> None:
    pytest.importorskip("launch")
    pytest.importorskip("launch_ros")
    spec = importlib.util.spec_from_file_location("camera_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from launch.actions import DeclareLaunchArgument

    declared = {a.name for a in module.generate_launch_description().entities if isinstance(a, DeclareLaunchArgument)}
    assert {"image", "camera_info", "checkpoint", "detector", "image_reliable", "use_rviz"} <= declared
