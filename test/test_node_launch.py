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
    from mpm_ros.params import SPECS

    values = yaml.safe_load((ROOT / "config/lift.yaml").read_text())["/**"]["ros__parameters"]
    assert set(values) == set(SPECS)
    for name, value in values.items():
        assert type(value) is type(SPECS[name].default), f"{name}: {value!r} has the wrong YAML type"


def test_rviz_shows_markers_in_the_camera_frame() -> None:
    rviz = yaml.safe_load((ROOT / "rviz/lift.rviz").read_text())["Visualization Manager"]
    assert rviz["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    markers = [d for d in rviz["Displays"] if d["Class"] == "rviz_default_plugins/MarkerArray"]
    assert markers and markers[0]["Topic"]["Value"] == "/markers" and markers[0]["Enabled"]
