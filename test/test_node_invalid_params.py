"""Every invalid parameter value refuses the configure transition (FAILURE, node stays unconfigured, reason logged)."""
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

from mpm_ros.lift_node import LifterNode  # noqa: E402
from node_support import lifter_overrides, tiny_checkpoint  # noqa: E402

INVALID = [
    # refused by ROS itself (descriptor range / type), turned into a configure failure
    ("window", -1), ("lookahead", -1), ("min_confidence", 1.5), ("min_confidence", -0.1), ("track_timeout", 0.0),
    ("max_tracks", 0), ("max_tracks", 1000), ("input_qos_depth", 0), ("output_qos_depth", 0), ("queue_size", 0),
    ("frame_rate", -5.0), ("marker_scale", 0.0), ("marker_lifetime", -1.0), ("image_width", 0),
    ("image_height", 0), ("focal_length", -1.0), ("frame_rate", 30), ("window", "nine"), ("causal", "yes"),
    # refused by params.validate
    ("backend", "cuda"), ("precision", "int8"), ("checkpoint", "no_such_shipped_weights"),
    ("checkpoint", "/nonexistent/model.pt"),
    # refused because the loaded (tiny, causal, window 9) model does not match
    ("window", 27), ("causal", False), ("lookahead", 1),
    # refused by the backend factory
    ("backend", "tensorrt"),
]


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.mark.parametrize("name, value", INVALID, ids=[f"{n}={v!r}" for n, v in INVALID])
def test_invalid_parameter_refuses_configure(context, checkpoint, name, value) -> None:
    overrides = {"autostart": False, name: value}
    model = overrides.pop("checkpoint", checkpoint)
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(model, **overrides))
    try:
        assert lifter.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert lifter.lifecycle_state == "unconfigured"
    finally:
        lifter.destroy_node()


def test_valid_parameters_configure(context, checkpoint) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint, autostart=False,
                                                                              window=9, frame_rate=30.0))
    try:
        assert lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert lifter.lifecycle_state == "inactive"
    finally:
        lifter.destroy_node()


def test_untrained_non_power_of_three_window_refused(context, tmp_path) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(
        "", autostart=False, window=10, engine_dir=str(tmp_path)))
    try:
        assert lifter.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        lifter.destroy_node()


def test_autostart_with_invalid_value_leaves_node_unconfigured(context, checkpoint) -> None:
    lifter = LifterNode(context=context, parameter_overrides=lifter_overrides(checkpoint, queue_size=0))
    try:
        assert lifter.lifecycle_state == "unconfigured"
    finally:
        lifter.destroy_node()
