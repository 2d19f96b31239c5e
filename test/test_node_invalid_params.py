"""Every invalid parameter value refuses the configure transition (FAILURE, node stays unconfigured, reason logged)."""
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

from node_support import lifter_node, tiny_checkpoint  # noqa: E402

INVALID = [
    # refused by ROS itself (descriptor range / type), turned into a configure failure
    ("min_confidence", 1.5), ("min_confidence", -0.1), ("track_timeout", 0.0),
    ("max_tracks", 0), ("max_tracks", 1000), ("input_qos_depth", 0), ("output_qos_depth", 0), ("queue_size", 0),
    ("frame_rate", -5.0), ("marker_scale", 0.0), ("marker_lifetime", -1.0), ("image_width", 0),
    ("image_height", 0), ("focal_length", -1.0), ("frame_rate", 30), ("queue_size", "two"),
    ("ort_threads", -1), ("ort_threads", 257), ("ort_spinning", "no"),
    ("mirror_max_tracks", -1), ("mirror_max_tracks", 257), ("mirror_max_tracks", 2.0),
    ("gap_fill_frames", -1), ("gap_fill_frames", 244), ("gap_fill_frames", 8.0),
    ("use_depth", "yes"), ("depth_reliable", 1), ("depth_wait", -0.01), ("depth_wait", 0.5),
    ("depth_tolerance", -0.1), ("depth_tolerance", 2.0), ("depth_patch_radius", 11),
    ("depth_min_samples", 0), ("depth_min_samples", 18), ("depth_prior_gate", 0.0), ("depth_weight", 0.0),
    ("smoothing", "on"), ("smoothing_min_cutoff", 0.0), ("smoothing_beta", -1.0), ("smoothing_d_cutoff", 0.0),
    ("root_adaptive_noise", 0.5), ("root_adaptive_noise", 20000.0), ("root_velocity_decay", -0.1),
    ("root_velocity_decay", 101.0), ("root_reacquire", -1), ("root_reacquire", 101),
    ("root_depth_samples", 0), ("root_depth_samples", 101), ("root_depth_samples", 8.0),
    ("root_fit_conditioning", -0.1), ("root_fit_conditioning", 4.5),
    ("ground_plane", "yes"), ("ground_camera_height", -0.1), ("ground_camera_height", 21.0),
    ("ground_camera_pitch", -91.0), ("ground_camera_pitch", 91.0),
    ("ground_size_memory", 0.5), ("ground_weight", -0.1), ("ground_weight", 1.5),
    ("ground_gate", 0.0), ("ground_gate", 1.5), ("pose_lead", -0.01), ("pose_lead", 0.25),
    # refused by params.validate
    # (input_format='openpose' is the mpm_input_adapter relay's now: test_input_adapters.py)
    ("backend", "cuda"), ("precision", "int8"), ("checkpoint", "no_such_shipped_weights"),
    ("checkpoint", "/nonexistent/model.pt"), ("min_visible_joints", 0), ("min_visible_joints", 18),
    ("focal_length", 0.01), ("output_frame_id", "x" * 300), ("output_frame_id", "two words"),
    # refused by the backend factory
    ("backend", "tensorrt"),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.mark.parametrize("name, value", INVALID, ids=[f"{n}={v!r}" for n, v in INVALID])
def test_invalid_parameter_refuses_configure(context, checkpoint, name, value) -> None:
    overrides = {"autostart": False, name: value}
    model = overrides.pop("checkpoint", checkpoint)
    with lifter_node(context, model, **overrides) as lifter:
        assert lifter.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert lifter.lifecycle_state == "unconfigured"


CONFIGURE_ONLY = {("window", 27), ("causal", False), ("lookahead", 1), ("backend", "tensorrt")}  # need the model
RUNTIME_INVALID = [(n, v) for n, v in INVALID if (n, v) not in CONFIGURE_ONLY]


@pytest.mark.parametrize("name, value", RUNTIME_INVALID, ids=[f"{n}={v!r}" for n, v in RUNTIME_INVALID])
def test_invalid_parameter_refused_at_runtime_set(context, checkpoint, name, value) -> None:
    from rclpy.parameter import Parameter

    with lifter_node(context, checkpoint, autostart=False) as lifter:
        before = lifter.get_parameter(name).value
        assert not lifter.set_parameters([Parameter(name, value=value)])[0].successful
        assert lifter.get_parameter(name).value == before
        assert lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS, "the refused value was not kept"


def test_valid_parameters_configure(context, checkpoint) -> None:
    with lifter_node(context, checkpoint, autostart=False, frame_rate=30.0) as lifter:
        assert lifter.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert lifter.lifecycle_state == "inactive"


def test_autostart_with_invalid_value_leaves_node_unconfigured(context, checkpoint) -> None:
    with lifter_node(context, checkpoint, queue_size=0) as lifter:
        assert lifter.lifecycle_state == "unconfigured"
