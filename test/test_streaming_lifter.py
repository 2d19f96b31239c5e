"""StreamingLifter without ROS: timing rules, one batched infer() per frame, placement, expiry, live options."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from mpm_model.checkpoint import save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.deploy.backends import create_backend
from mpm_model.model import MPMLifter
from mpm_model.streaming import Camera, LifterOptions, Observation, StreamingLifter, StreamOptions
from mpm_model.streaming.placement import root_translations
from mpm_model.streaming.refiner import HISTORY, RefinerWeights, present_2d
from mpm_model.streaming.temporal import TemporalOptions

ROOT = Path(__file__).resolve().parents[1]
K = np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]])
CAMERA = Camera(640, 480, K)
PERIOD_NS = 33_333_333


def tiny_backend(directory: Path, window: int = 9, causal: bool = True, lookahead: int = 0):
    config = ModelConfig(window=window, encoder_hidden=32, d_model=32, ffn_dim=64, heads=2, depth=1, decoder_depth=1,
                         causal=causal, lookahead=lookahead)
    torch.manual_seed(0)
    path = save_checkpoint(directory / f"tiny_{window}_{causal}_{lookahead}.pt", MPMLifter(config), config, "lifter",
                           train_args={}, data_hash="test")
    return create_backend("torch", checkpoint=path, device="cpu")


class Recording:
    """The real backend, with every infer() batch size written down."""

    def __init__(self, backend) -> None:
        self.backend, self.config, self.batches = backend, backend.config, []

    def infer(self, keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.batches.append(len(keypoints))
        return self.backend.infer(keypoints, mask)


def person(frame: int, track: int) -> Observation:
    """A skeleton-sized blob of 17 pixels that drifts a little per frame."""
    rng = np.random.default_rng(track)
    base = rng.uniform([200, 100], [440, 380], (17, 2))
    return Observation(base + frame * 0.5, np.full(17, 0.9, np.float32))


def stamp(frame: int) -> int:
    return 1_000_000_000 + frame * PERIOD_NS


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    directory = tmp_path_factory.mktemp("streaming")
    return {"causal": tiny_backend(directory), "centred": tiny_backend(directory, causal=False),
            "lookahead": tiny_backend(directory, lookahead=2)}


@pytest.mark.parametrize("kind, delay", [("causal", 0), ("lookahead", 2), ("centred", 4)])
def test_each_output_describes_its_source_frame(backends, kind, delay) -> None:
    lifter = StreamingLifter(backends[kind])
    assert lifter.delay_frames == delay
    answered = []
    for frame in range(12):
        _, lifted = lifter.step(stamp(frame), {3: person(frame, 3)}, CAMERA)
        answered += [(frame, result.stamp_ns) for result in lifted]
    assert answered == [(frame, stamp(frame - delay)) for frame in range(delay, 12)], \
        "newest frame (causal), t - lookahead, t - T//2 (centred): the stamp is the source frame's"


def test_all_tracks_go_into_one_infer_and_match_one_by_one(backends) -> None:
    recording = Recording(backends["causal"])
    together = StreamingLifter(recording)
    alone = {track: StreamingLifter(backends["causal"]) for track in (1, 2, 5)}
    for frame in range(10):
        _, lifted = together.step(stamp(frame), {t: person(frame, t) for t in (1, 2, 5)}, CAMERA)
        assert [r.track_ids for r in lifted] == [(1, 2, 5)]
        for index, track in enumerate((1, 2, 5)):
            _, single = alone[track].step(stamp(frame), {track: person(frame, track)}, CAMERA)
            np.testing.assert_allclose(lifted[0].joints[index], single[0].joints[0], atol=1e-4)
    assert recording.batches == [6] * 10, "one infer() per frame, every track in it, each also mirrored"


def test_placement_is_the_batched_root_fit_of_the_raw_output(backends) -> None:
    lifter = StreamingLifter(backends["causal"], LifterOptions(temporal=TemporalOptions(root_filter=False)))
    raw = StreamingLifter(backends["causal"], LifterOptions(StreamOptions(place_in_camera_frame=False)))
    for frame in range(5):
        observations = {t: person(frame, t) for t in (1, 2)}
        result, lifted = lifter.step(stamp(frame), observations, CAMERA)
        _, unplaced = raw.step(stamp(frame), observations, CAMERA)
    assert not unplaced[0].placed.any()
    emission = result.emissions[0]
    translation, solved = root_translations(unplaced[0].joints, emission.target_pixels, emission.target_confidence, K)
    np.testing.assert_array_equal(lifted[0].placed, solved)
    assert solved.any(), "at least one of the random lifter's poses is placeable"
    np.testing.assert_allclose(lifted[0].joints, unplaced[0].joints + translation[:, None], atol=1e-9)
    _, no_intrinsics = StreamingLifter(backends["causal"]).step(stamp(0), {1: person(0, 1)}, Camera(640, 480, None))
    assert not no_intrinsics[0].placed.any(), "no intrinsics: root-relative, and flagged so"


def test_tracks_expire_and_options_change_live(backends) -> None:
    lifter = StreamingLifter(backends["causal"], LifterOptions(StreamOptions(track_timeout=0.1)))
    lifter.step(stamp(0), {1: person(0, 1), 2: person(0, 2)}, CAMERA)
    expired = []
    for frame in range(1, 8):
        result, _ = lifter.step(stamp(frame), {1: person(frame, 1)}, CAMERA)
        expired += result.expired
    assert expired == [2] and lifter.track_ids == [1]
    lifter.set_options(LifterOptions(StreamOptions(min_visible_joints=17, track_timeout=0.1)))
    half = person(8, 1)
    half.confidence[:9] = 0.0
    result, lifted = lifter.step(stamp(8), {1: half}, CAMERA)
    assert result.dropped["too_few_visible_joints"] == 1 and lifted == []
    assert lifter.track_ids == [1], "history kept across the change"


def test_one_options_record_reaches_the_pose_and_root_filters_live(backends) -> None:
    """The refiner runs only while pose_refiner is on (else the One Euro settings apply: off = the lifter's pose);
    without the root state no velocity or covariance is given; set_options switches both at once."""
    bias = np.full(51, 0.1, np.float32)
    bias[:3] = 0.0  # the root stays the root: every other joint moves 0.1 m on each axis
    shift = RefinerWeights(np.zeros((HISTORY * 51, 51), np.float32), bias, "tiny", "x")
    off = LifterOptions(temporal=TemporalOptions(pose_refiner=False, root_filter=False))
    raw, lifter = StreamingLifter(backends["causal"], off), StreamingLifter(backends["causal"], refiner=shift)
    outputs = {}
    for frame in range(6):
        if frame == 3:
            lifter.set_options(off)
        _, plain = raw.step(stamp(frame), {1: person(frame, 1)}, CAMERA)
        _, out = lifter.step(stamp(frame), {1: person(frame, 1)}, CAMERA)
        outputs[frame] = (plain[0], out[0])
    for frame, (plain, out) in outputs.items():
        relative = out.joints - out.joints[:, :1]
        expected = plain.joints - plain.joints[:, :1] + (0.1 if frame < 3 else 0.0)
        np.testing.assert_allclose(relative[:, 1:], expected[:, 1:], atol=1e-5)
        assert out.root_velocity.shape == (1, 3) and out.root_covariance.shape == (1, 3, 3)
        assert np.isnan(plain.root_velocity).all() and np.isnan(plain.root_covariance).all()  # root_filter off
        assert frame < 3 or np.isnan(out.root_velocity).all() and np.isnan(out.root_covariance).all()


def test_pose_lead_carries_the_filtered_pose_ahead_and_switches_live(backends) -> None:
    """pose_lead after the pose filter (here a refiner): 0 leaves the outputs bit for bit; switched on live, a track
    leads from its second output on, by lead x its velocity over the last outputs (the previous one, then two back);
    switched off, bit for bit again."""
    shift = RefinerWeights(np.zeros((HISTORY * 51, 51), np.float32), np.full(51, 0.1, np.float32), "tiny", "x")
    relative = StreamOptions(place_in_camera_frame=False)  # the outputs are the root-relative pose itself
    lead = LifterOptions(relative, temporal=TemporalOptions(pose_lead=0.05))
    plain = StreamingLifter(backends["causal"], LifterOptions(relative), refiner=shift)
    lifter = StreamingLifter(backends["causal"], LifterOptions(relative), refiner=shift)
    a, b = [], []
    for frame in range(12):
        if frame in (4, 9):
            lifter.set_options(lead if frame == 4 else LifterOptions(relative))
        a.append(plain.step(stamp(frame), {1: person(frame, 1)}, CAMERA)[1][0].joints)
        b.append(lifter.step(stamp(frame), {1: person(frame, 1)}, CAMERA)[1][0].joints)
    for frame in (*range(5), *range(9, 12)):
        np.testing.assert_array_equal(b[frame], a[frame])
    for frame in range(5, 9):
        back = min(frame - 4, 2)
        velocity = (a[frame] - a[frame - back]) / (back * PERIOD_NS * 1e-9)
        np.testing.assert_allclose(b[frame], a[frame] + 0.05 * velocity, rtol=0, atol=1e-9)
    assert not np.allclose(b[6], a[6])


def test_the_refiner_sees_the_source_frames_2d(backends) -> None:
    """A refiner with one present tap (0.5) and no lifted taps moves the lifter's x-y half-way to what the source
    frame's 2D shows (present_2d of its pixels and mask) and leaves z alone."""
    taps = RefinerWeights(np.zeros((HISTORY * 51, 51), np.float32), np.zeros(51, np.float32), "tiny", "x",
                          np.array([0.5], np.float32))
    off = LifterOptions(temporal=TemporalOptions(pose_refiner=False, root_filter=False))
    raw, lifter = StreamingLifter(backends["causal"], off), StreamingLifter(backends["causal"], refiner=taps)
    for frame in range(3):
        seen = person(frame, 1)
        _, plain = raw.step(stamp(frame), {1: seen}, CAMERA)
        _, out = lifter.step(stamp(frame), {1: seen}, CAMERA)
        pose = plain[0].joints - plain[0].joints[:, :1]  # (1, J, 3)
        refined = out[0].joints - out[0].joints[:, :1]
        present = present_2d(seen.pixels[None], np.zeros((1, 17), bool), pose)[0]  # (1, J, 2)
        assert np.abs(present).max() > 0.01
        np.testing.assert_allclose(refined[..., :2], pose[..., :2] + 0.5 * present, atol=1e-4)
        np.testing.assert_allclose(refined[..., 2], pose[..., 2], atol=1e-6)


def test_the_refiners_gated_joints_are_counted_in_the_batch(backends) -> None:
    """Joints whose 2D disagrees with the lifted pose (the tiny model's pose hardly resembles the blob; a wrist put on
    another person in the far corner) get no present term, and the LiftBatch counts exactly present_2d's gated
    joints of the source frame (refiner.present_gated, the node's masked.* counter)."""
    taps = RefinerWeights(np.zeros((HISTORY * 51, 51), np.float32), np.zeros(51, np.float32), "tiny", "x",
                          np.array([0.5], np.float32))
    off = LifterOptions(temporal=TemporalOptions(pose_refiner=False, root_filter=False))
    raw, lifter = StreamingLifter(backends["causal"], off), StreamingLifter(backends["causal"], refiner=taps)
    counted = []
    for frame in range(4):
        seen = person(frame, 1)
        if frame == 3:
            seen.pixels[16] = [639.0, 479.0]
        plain = raw.lift(raw.push(stamp(frame), {1: seen}, CAMERA).emissions, CAMERA).results[0]
        batch = lifter.lift(lifter.push(stamp(frame), {1: seen}, CAMERA).emissions, CAMERA)
        pose = plain.joints - plain.joints[:, :1]  # (1, J, 3)
        present, gated = present_2d(seen.pixels[None], np.zeros((1, 17), bool), pose)
        assert batch.counts["refiner.present_gated"] == gated.sum()
        counted.append(batch.counts["refiner.present_gated"])
        refined = batch.results[0].joints - batch.results[0].joints[:, :1]
        np.testing.assert_allclose(refined[0, gated[0], :2], pose[0, gated[0], :2], atol=1e-6)
    assert counted[-1] > 0


def test_imports_and_runs_without_ros(tmp_path) -> None:
    """No rclpy, no message packages: the streaming core is a plain library."""
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class NoRos(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("rclpy", "rosidl_runtime_py", "mpm_msgs", "sensor_msgs", "std_msgs",
                                          "visualization_msgs", "diagnostic_msgs", "mpm_ros"):
                    raise ImportError("no ROS here: " + name)
        sys.meta_path.insert(0, NoRos())
        sys.path.insert(0, {str(ROOT / "test")!r})
        from pathlib import Path
        import numpy as np
        from test_streaming_lifter import CAMERA, person, stamp, tiny_backend
        from mpm_model.streaming import StreamingLifter
        lifter = StreamingLifter(tiny_backend(Path({str(tmp_path)!r})))
        outputs = [lifter.step(stamp(f), {{1: person(f, 1)}}, CAMERA)[1] for f in range(3)]
        assert [len(o) for o in outputs] == [1, 1, 1] and np.isfinite(outputs[-1][0].joints).all()
        print("ok", sorted(m for m in sys.modules if m.startswith("rclpy")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok []"


def test_the_ground_plane_scales_2d_fits_about_the_camera() -> None:
    """ground_plane on (demo-rgbd's floor given): each 2D-fit root is its plain fit times the track's size factor (a
    scale about the camera centre, the pose untouched), counted in the batch. The shipped lifter on a mocap person
    4 m in front of demo-rgbd's robot camera."""
    from mpm_model.data import camera as camlib
    from mpm_model.data.mocap import load_mocap
    from mpm_ros.bags import rgbd_scene

    backend = create_backend("onnxruntime", checkpoint="mpm_t27_causal", device="cpu")
    cam = rgbd_scene.rgbd_camera()
    world = load_mocap(ROOT / "mpm_model" / "assets" / "demo_clip.npz")[0].poses3d[:90].astype(np.float64)
    world = world - np.append(world[:, 0, :2].mean(0), 0.0) + [0.3, 4.0, 0.0]  # (F, J, 3) 4 m ahead
    pixels = camlib.project(camlib.world_to_camera(world.reshape(-1, 3), cam), cam).reshape(len(world), 17, 2)
    camera = Camera(cam.width, cam.height, cam.intrinsics)
    no_filter = TemporalOptions(root_filter=False)
    floor = TemporalOptions(root_filter=False, ground_plane=True, ground_camera_height=1.2, ground_camera_pitch=5.0)
    plain = StreamingLifter(backend, LifterOptions(temporal=no_filter))
    ground = StreamingLifter(backend, LifterOptions(temporal=floor))
    counts, scaled = Counter(), 0
    for frame, uv in enumerate(pixels):
        seen = {1: Observation(uv, np.full(17, 0.9, np.float32))}
        _, [a] = plain.step(stamp(frame), seen, camera)
        batch = ground.lift(ground.push(stamp(frame), seen, camera).emissions, camera)
        counts.update(batch.counts)
        b = batch.results[0]
        assert a.placed.all() and b.placed.all()
        np.testing.assert_allclose(b.joints - b.joints[:, :1], a.joints - a.joints[:, :1], atol=1e-9)
        factor = np.linalg.norm(b.joints[0, 0]) / np.linalg.norm(a.joints[0, 0])
        np.testing.assert_allclose(b.joints[0, 0], factor * a.joints[0, 0], rtol=1e-9)
        scaled += abs(factor - 1) > 1e-9
    assert counts["ground.contacts"] > 60, counts
    assert scaled == counts["ground.corrected"] > 0
