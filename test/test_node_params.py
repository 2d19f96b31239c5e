"""params: one table, every rule of validate() (ROS-free), descriptors carry ranges."""
import pytest

from mpm_model.checkpoint import list_pretrained
from mpm_ros import param_table, params

SHIPPED = list_pretrained()


def defaults() -> dict:
    return {spec.name: spec.default for spec in params.PARAMS}


def test_defaults_are_valid_and_complete() -> None:
    assert params.DEFAULT_CHECKPOINT in SHIPPED
    assert params.validate(defaults(), shipped=SHIPPED) == []
    assert set(params.SPECS) == set(params.TABLE.record_fields(params.LifterParams))
    required = {"checkpoint", "backend", "engine_dir", "precision", "min_confidence",
                "track_timeout", "max_tracks", "input_qos_depth", "output_qos_depth", "queue_size", "frame_rate",
                "output_frame_id", "place_in_camera_frame", "marker_scale", "marker_lifetime", "image_width",
                "image_height", "focal_length", "autostart"}
    assert required <= set(params.SPECS)
    assert len(params.PARAMS) == len(params.SPECS), "every parameter is declared once"


INVALID = [
    ("backend", "cuda"), ("precision", "int8"), ("ort_threads", -1), ("ort_threads", 1000), ("ort_spinning", "yes"),
    ("mirror_max_tracks", -1), ("gap_fill_frames", -1), ("gap_fill_frames", 244), ("min_confidence", 1.5), ("track_timeout", 0.0), ("max_tracks", 0),
    ("input_qos_depth", 0), ("output_qos_depth", 0), ("queue_size", 0), ("frame_rate", -1.0), ("marker_scale", 0.0),
    ("marker_lifetime", -1.0), ("image_width", 0), ("image_height", -5), ("focal_length", -1.0),
    ("checkpoint", "no_such_weights"), ("frame_rate", 30), ("min_visible_joints", 0),
    ("min_visible_joints", 18), ("focal_length", 0.01), ("output_frame_id", "x" * 300),
    ("output_frame_id", "camera frame"),
]


@pytest.mark.parametrize("name, value", INVALID, ids=[f"{n}={v!r}" for n, v in INVALID])
def test_invalid_value_rejected(name: str, value) -> None:
    values = defaults() | {name: value}
    errors = params.validate(values, shipped=SHIPPED)
    assert errors and name in errors[0]


@pytest.mark.parametrize("changes", [dict(backend="onnxruntime", precision="fp16")])
def test_inconsistent_combinations_rejected(changes: dict) -> None:
    assert params.validate(defaults() | changes, shipped=SHIPPED)


def test_command_line_problems() -> None:
    argv = ["lift_node", "--ros-args", "--params-file", "x.yaml", "-p", "min_confidence:=abc", "-p", "no_such:=5",
            "-p", "max_tracks:=4", "--param", "frame_rate:=30", "-r", "keypoints:=/k"]
    problems = params.TABLE.command_line_problems(argv, "mpm_lifter")
    assert set(problems) == {"min_confidence", "no_such", "frame_rate"}
    assert "expected float, got str 'abc'" in problems["min_confidence"] and "write 30.0" in problems["frame_rate"]
    assert params.TABLE.command_line_problems(["lift_node", "-p", "no_such:=5"], "mpm_lifter") == {}, \
        "outside --ros-args: not ROS's"
    ros = ["lift_node", "--ros-args", "-p", "use_sim_time:=true"]
    assert params.TABLE.command_line_problems(ros, "mpm_lifter", {"use_sim_time"}) == {}, "ROS's own parameter"


def test_live_and_structural_parameters() -> None:
    assert params.TABLE.needs_reconfigure(["min_confidence", "marker_scale", "backend", "max_tracks", "use_sim_time"]) == [
        "backend", "max_tracks"]


def test_descriptors_carry_ranges_and_read_only() -> None:
    pytest.importorskip("rcl_interfaces.msg")
    tracks = param_table.descriptor(params.SPECS["max_tracks"])
    assert tracks.integer_range[0].from_value == 1 and tracks.integer_range[0].to_value == 256
    assert param_table.descriptor(params.SPECS["min_confidence"]).floating_point_range[0].to_value == 1.0
    assert param_table.descriptor(params.SPECS["autostart"]).read_only
    assert "auto" in param_table.descriptor(params.SPECS["backend"]).description


def test_model_shape_is_not_a_parameter() -> None:
    """window, causal/centred, look-ahead and fps come from the checkpoint: nothing to restate or to get wrong."""
    assert not {"window", "causal", "lookahead", "fps"} & set(params.SPECS)


def test_lift_yaml_holds_the_table_defaults() -> None:
    """config/lift.yaml is the user's starting copy of the table: it must not become a second set of defaults."""
    import yaml
    from pathlib import Path

    values = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/lift.yaml").read_text())
    values = values["/**"]["ros__parameters"]
    assert {name: param_table.ros_value(value) for name, value in values.items()} == defaults()
