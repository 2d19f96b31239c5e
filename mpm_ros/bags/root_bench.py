"""The 2D-fit root over many people, offline (no ROS, no bag files): every sequence of a mocap file is one person,
seen by make_bag's H36M-like camera and by the robot RGB-D camera of `make demo-rgbd` (walking 1.2-7 m away), with
make_bag's detector model (2 px jitter, 10 % occluded joints, 2 % dropped frames). Each frame's window is built by
the streaming WindowBuffer exactly as the node builds it; the lifter's pose is placed by `placement.place` (the 2D
fit), then filtered by `temporal.RootFilter` with default options, as StreamingLifter does.

Why: the 2D fit takes the person's distance from the lifted pose's size, so every lifter change moves each person's
root; three people (make demo, the slice clip, demo-rgbd) cannot tell a trend from luck. The same 2D inputs (one
seed per person and camera) go to every lifter, so lifters compare person by person.

    python -m mpm_ros.bags.root_bench --lifter mpm_t27_causal --lifter /tmp/old_t27.pt [--max-frames 300]
        [--fit confidence torso uniform size-hold refined] [--set root_reacquire 0] [--json-out out/root_bench.json]
        [--set ground_plane true --known-floor]   # the ground plane's size factor against each camera's floor

Printed per lifter, fit variant and camera: root error median / p90 (mm) of the raw fit and after the RootFilter,
the spread of the per-person medians (p10 / p50 / p90), and the bias (mean of signed distance error / distance, %).
Use only the test slice (the default) for numbers you report; never the train file.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mpm_model.data.mocap import load_mocap, resample
from mpm_model.skeleton import H36M_BONES, H36M_JOINTS
from mpm_model.streaming.ground import GroundPlane
from mpm_model.streaming.placement import REPROJECTION, place
from mpm_model.streaming.refiner import PoseRefiner, load_refiner, refiner_name
from mpm_model.streaming.temporal import RootFilter, TemporalOptions
from mpm_model.streaming.window_buffer import BufferConfig, Observation, WindowBuffer
from mpm_ros.bags import rgbd_scene
from mpm_ros.bags.make_bag import START_TIME_NS, PersonTrack, frame_scene, observe

ROOT = Path(__file__).resolve().parents[2]
TEST_SLICE = ROOT.parent / "shared" / "data" / "mocap_h36m17_test_slice.npz"
FPS = 30.0
PERIOD_NS = round(1e9 / FPS)
CAMERAS = ("h36m", "robot")
HOLD_WARM_UP = 30  # refined-held: outputs before a track's size is held
AGE_BINS = ((0, 10), (10, 32), (32, 64), (64, 10 ** 9))  # an output's index in its track (by_age)
TORSO = tuple(H36M_JOINTS.index(name) for name in ("pelvis", "right_hip", "left_hip", "spine", "thorax", "neck", "head",
                                                    "left_shoulder", "right_shoulder"))


@dataclass(frozen=True)
class Person:
    """One sequence seen by one camera: the windows the node would infer and the truth of their target frames."""

    name: str
    camera: str
    keypoints: np.ndarray  # (N, T, J, 2) normalised screen coordinates, 0 where masked
    mask: np.ndarray  # (N, T, J) bool, True = masked
    pixels: np.ndarray  # (N, J, 2) target frame's pixels
    confidence: np.ndarray  # (N, J) target frame's confidence, 0 where masked
    stamps: np.ndarray  # (N,) int64 ns, the target frames' stamps
    intrinsics: np.ndarray  # (3, 3)
    true_root: np.ndarray  # (N, 3) camera frame metres
    camera_height: float  # the camera's height above the floor (m) and ...
    camera_pitch: float  # ... its pitch below the horizon (deg): what a robot knows from its URDF


def _view(poses: np.ndarray, camera: str, rng: np.random.Generator) -> tuple[PersonTrack, Any]:
    """(F, J, 3) world poses → the person's track and the camera that sees them (make_bag's or demo-rgbd's)."""
    track = PersonTrack(1, 0, len(poses), poses.astype(np.float64))
    if camera == "robot":
        path = rgbd_scene.walk_paths(1, len(poses), FPS, rng)
        track.world = rgbd_scene.place_on_paths([track.world], path)[0]
        return track, rgbd_scene.rgbd_camera()
    return track, frame_scene([track], rng)


def observe_person(name: str, poses: np.ndarray, camera: str, window: int, target_index: int,
                   rng: np.random.Generator) -> Person | None:
    """One person through make_bag's detector model and the streaming WindowBuffer (None: no window emitted)."""
    track, cam = _view(poses, camera, rng)
    obs = observe(track, cam, rng, noise_px=2.0, occlusion=0.1, dropout=0.02)
    buffer = WindowBuffer(BufferConfig(window=window, target_index=target_index))
    emissions, frame_of = [], {}
    for f in range(len(poses)):
        stamp = START_TIME_NS + f * PERIOD_NS
        frame_of[stamp] = f
        seen = {1: Observation(obs.uv[f], obs.confidence[f])} if obs.present[f] else {}
        emissions += buffer.push(stamp, seen, cam.width, cam.height).emissions
    if not emissions:
        return None
    stamps = np.array([e.stamp_ns for e in emissions], np.int64)
    return Person(name, camera, np.concatenate([e.keypoints for e in emissions]),
                  np.concatenate([e.mask for e in emissions]), np.concatenate([e.target_pixels for e in emissions]),
                  np.concatenate([e.target_confidence for e in emissions]), stamps, cam.intrinsics,
                  obs.joints_cam[[frame_of[s] for s in stamps], 0], float((-cam.rotation.T @ cam.translation)[2]),
                  float(np.degrees(np.arctan2(-cam.rotation[2, 2], -cam.rotation[1, 2]))))  # world down, camera frame


def people(mocap: Path, window: int, target_index: int, max_frames: int, seed: int) -> list[Person]:
    """Every sequence of `mocap` (at 30 fps, its first `max_frames` frames) seen by every camera of CAMERAS."""
    out = []
    for s, seq in enumerate(resample(q, FPS) for q in load_mocap(mocap)):
        for c, camera in enumerate(CAMERAS):
            person = observe_person(seq.name, seq.poses3d[:max_frames], camera, window, target_index,
                                    np.random.default_rng([seed, s, c]))
            if person is not None:
                out.append(person)
    return out


def bone_sum(pose: np.ndarray) -> np.ndarray:
    """(N, J, 3) → (N,) the sum of the skeleton's bone lengths (its size)."""
    return sum(np.linalg.norm(pose[:, child] - pose[:, parent], axis=-1) for parent, child in H36M_BONES)


def size_hold(pose: np.ndarray, warm_up: int = 0) -> np.ndarray:
    """(N, J, 3) → each frame's pose scaled to the track's running median size so far (a per-track scale hold:
    the 2D fit's distance scales with the pose's size), from output `warm_up` on; before it, unchanged."""
    size = bone_sum(pose)  # (N,)
    held = np.array([np.median(size[:i + 1]) if i >= warm_up else size[i] for i in range(len(size))])
    return pose * (held / size)[:, None, None]


def at_size(shape: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(N, J, 3) poses + (N,) sizes → each pose scaled to that size (bone_sum)."""
    return shape * (size / bone_sum(shape))[:, None, None]


def refined(person: Person, pose: np.ndarray) -> np.ndarray:
    """(N, J, 3) → the default lifter's pose refiner's output with each frame's 2D present, as the node filters
    the pose (meaningful only for the lifter it was trained for, mpm_t27_causal)."""
    refiner = PoseRefiner(load_refiner(refiner_name("mpm_t27_causal")))
    return np.concatenate([refiner.filter(int(stamp), (1,), pose[i:i + 1], person.pixels[i:i + 1],
                                          person.confidence[i:i + 1] <= 0) for i, stamp in enumerate(person.stamps)])


Fit = Callable[[Person, np.ndarray], tuple[np.ndarray, np.ndarray]]
FITS: dict[str, Fit] = {  # (person, (N, J, 3) lifted pose) → (N, J) weights of the 2D fit, (N, J, 3) pose it fits
    "confidence": lambda p, pose: (p.confidence, pose),  # the product's fit (StreamingLifter.lift)
    "torso": lambda p, pose: (p.confidence * np.isin(np.arange(p.confidence.shape[1]), TORSO), pose),
    "uniform": lambda p, pose: ((p.confidence > 0).astype(np.float64), pose),
    "size-hold": lambda p, pose: (p.confidence, size_hold(pose)),
    "refined": lambda p, pose: (p.confidence, refined(p, pose)),
    # the refined shape at the lifter's size: each frame's own, or held after HOLD_WARM_UP outputs
    "refined-size": lambda p, pose: (p.confidence, at_size(refined(p, pose), bone_sum(pose))),
    "refined-held": lambda p, pose: (p.confidence, size_hold(at_size(refined(p, pose), bone_sum(pose)), HOLD_WARM_UP)),
}


def lift_all(backend: Any, persons: list[Person], batch: int = 512) -> list[np.ndarray]:
    """Every person's windows through the lifter → (N, J, 3) root-relative poses per person."""
    keypoints = np.concatenate([p.keypoints for p in persons])  # (ΣN, T, J, 2)
    mask = np.concatenate([p.mask for p in persons])
    pose = np.concatenate([np.asarray(backend.infer(keypoints[i:i + batch], mask[i:i + batch]))[:, 0]
                           for i in range(0, len(keypoints), batch)]).astype(np.float64)  # (ΣN, J, 3)
    return np.split(pose, np.cumsum([len(p.stamps) for p in persons])[:-1])


def roots(person: Person, pose: np.ndarray, fit: Fit, options: TemporalOptions = TemporalOptions(),
          known_floor: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, J, 3) poses → the raw 2D fits (after the ground plane's size factor when `ground_plane`) and the
    RootFilter's roots, (N, 3) each, NaN where not placed, and (N,) the fitted pose's size against the lifted
    pose's (bone_sum ratio). `known_floor`: the ground plane's floor given by the person's camera's height and pitch."""
    weights, fitted = fit(person, pose)
    placement = place(fitted, person.pixels, weights, person.intrinsics)
    if known_floor:
        options = dataclasses.replace(options, ground_camera_height=person.camera_height,
                                      ground_camera_pitch=person.camera_pitch)
    ground, k = GroundPlane(), person.intrinsics[None]
    fits = np.concatenate([ground.correct(int(stamp), (1,), fitted[i:i + 1], placement.translation[i:i + 1],
                                          placement.method[i:i + 1], k, person.confidence[i:i + 1] > 0, Counter(),
                                          options)
                           for i, stamp in enumerate(person.stamps)])  # (N, 3)
    raw = np.where((placement.method == REPROJECTION)[:, None], fits, np.nan)  # (N, 3)
    state, filtered = RootFilter(options), np.full_like(raw, np.nan)
    for i, stamp in enumerate(person.stamps):
        root = state.update(int(stamp), (1,), fits[i:i + 1], placement.method[i:i + 1], k, Counter(),
                            placement.quality[i:i + 1])
        if root.placement[0] > 0:
            filtered[i] = root.translation[0]
    return raw, filtered, bone_sum(fitted) / bone_sum(pose)


def summary(errors: list[np.ndarray], bias: list[np.ndarray]) -> dict[str, Any]:
    """Per-person (N,) root errors (m) and signed distance errors / distance → median / p90 (mm) over every frame,
    the spread of the per-person medians (mm) and the mean bias (%) with its per-person spread."""
    every = np.concatenate(errors)
    medians = np.array([np.median(e) for e in errors if len(e)])
    biases = np.array([np.mean(b) for b in bias if len(b)])
    return {"frames": int(len(every)), "people": int(len(medians)), "median_mm": 1e3 * float(np.median(every)),
            "p90_mm": 1e3 * float(np.percentile(every, 90)),
            "person_median_mm": {f"p{q}": 1e3 * float(np.percentile(medians, q)) for q in (10, 50, 90)},
            "bias_pct": 100 * float(np.mean(np.concatenate(bias))),
            "person_bias_pct": {"p10": 100 * float(np.percentile(biases, 10)),
                                "p90": 100 * float(np.percentile(biases, 90))},
            "per_person_median_mm": [1e3 * float(m) for m in medians]}


def _age(low: int, high: int) -> str:
    return f"{low}-{high}" if high < AGE_BINS[-1][1] else f"{low}+"


def by_age(persons: list[Person], estimates: list[np.ndarray], size_ratios: list[np.ndarray]) -> dict[str, Any]:
    """(N, 3) roots and (N,) fitted/lifted sizes per person → per AGE_BINS (the output's index in its track: the
    pose refiner's history fills over its first 32): outputs, root error median / p90 mm, mean size ratio."""
    age = np.concatenate([np.arange(len(p.stamps)) for p in persons])
    error = np.concatenate([np.linalg.norm(e - p.true_root, axis=-1) for p, e in zip(persons, estimates)])
    ratio = np.concatenate(size_ratios)
    out = {}
    for low, high in AGE_BINS:
        chosen = (age >= low) & (age < high) & np.isfinite(error)
        out[_age(low, high)] = {"outputs": int(chosen.sum()), "median_mm": None, "p90_mm": None, "size_ratio": None}
        if chosen.any():
            out[_age(low, high)] |= {"median_mm": 1e3 * float(np.median(error[chosen])),
                                     "p90_mm": 1e3 * float(np.percentile(error[chosen], 90)),
                                     "size_ratio": float(np.mean(ratio[chosen]))}
    return out


def score(persons: list[Person], estimates: list[np.ndarray]) -> dict[str, Any]:
    """(N, 3) roots per person (NaN = none) → summary() per camera and overall."""
    out = {}
    for camera in (*CAMERAS, "all"):
        chosen = [(p, e) for p, e in zip(persons, estimates) if camera in (p.camera, "all")]
        errors, bias = [], []
        for p, e in chosen:
            ok = np.isfinite(e).all(-1)
            errors.append(np.linalg.norm(e[ok] - p.true_root[ok], axis=-1))
            distance = np.linalg.norm(p.true_root[ok], axis=-1)
            bias.append((np.linalg.norm(e[ok], axis=-1) - distance) / distance)
        out[camera] = summary(errors, bias)
    return out


def run(lifters: list[str], fits: list[str], mocap: Path, max_frames: int, seed: int,
        backend_name: str = "onnxruntime", options: TemporalOptions = TemporalOptions(),
        known_floor: bool = False) -> dict[str, Any]:
    """Every lifter x fit variant, raw fit and + RootFilter → {lifter: {fit: {"raw"|"filter": score(), "by_age":
    by_age() of the RootFilter's roots}}}."""
    from mpm_model.deploy.backends import create_backend

    results: dict[str, Any] = {}
    cache: dict[tuple[int, int], list[Person]] = {}
    for lifter in lifters:
        backend = create_backend(backend_name, checkpoint=lifter, device="cpu")
        shape = (backend.config.window, backend.config.target_index)
        if shape not in cache:
            cache[shape] = people(mocap, *shape, max_frames, seed)
        persons = cache[shape]
        poses = lift_all(backend, persons)
        results[lifter] = {}
        for fit in fits:
            triples = [roots(p, pose, FITS[fit], options, known_floor) for p, pose in zip(persons, poses)]
            filtered, ratios = [f for _, f, _ in triples], [r for _, _, r in triples]
            results[lifter][fit] = {"raw": score(persons, [r for r, _, _ in triples]),
                                    "filter": score(persons, filtered), "by_age": by_age(persons, filtered, ratios)}
    return results


def table(results: dict[str, Any]) -> str:
    """Markdown table of run()'s results."""
    lines = ["| lifter | fit | root | camera | people | median / p90 mm | person medians p10 / p50 / p90 mm | "
             "bias % (person p10 / p90) |", "|---|---|---|---|---:|---:|---:|---:|"]
    for lifter, by_fit in results.items():
        for fit, by_stage in by_fit.items():
            for stage in ("raw", "filter"):
                for camera, s in by_stage[stage].items():
                    m = s["person_median_mm"]
                    lines.append(f"| {Path(lifter).stem} | {fit} | {stage} | {camera} | {s['people']} | "
                                 f"{s['median_mm']:.0f} / {s['p90_mm']:.0f} | {m['p10']:.0f} / {m['p50']:.0f} / "
                                 f"{m['p90']:.0f} | {s['bias_pct']:+.1f} ({s['person_bias_pct']['p10']:+.1f} / "
                                 f"{s['person_bias_pct']['p90']:+.1f}) |")
    return "\n".join(lines)


def age_table(results: dict[str, Any]) -> str:
    """Markdown table of run()'s RootFilter errors by the output's index in its track (by_age)."""
    lines = ["| lifter | fit | outputs | " + " | ".join(f"{_age(*b)}: median / p90 mm (size %)" for b in AGE_BINS)
             + " |"]
    lines.append("|---|---|---:|" + "---:|" * len(AGE_BINS))
    for lifter, by_fit in results.items():
        for fit, by_stage in by_fit.items():
            ages = by_stage["by_age"]
            cells = [f"{a['median_mm']:.0f} / {a['p90_mm']:.0f} ({100 * a['size_ratio']:.1f})" if a["outputs"] else "-"
                     for a in ages.values()]
            lines.append(f"| {Path(lifter).stem} | {fit} | {sum(a['outputs'] for a in ages.values())} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(results: dict[str, Any], fit: str = "confidence") -> str:
    """Person by person, each lifter against the first, raw fit and RootFilter: how many people's median root
    error it lowers, and the median of the per-person differences."""
    lifters = list(results)
    lines = []
    for other in lifters[1:]:
        for stage in ("raw", "filter"):
            for camera in (*CAMERAS, "all"):
                a = np.array(results[lifters[0]][fit][stage][camera]["per_person_median_mm"])
                b = np.array(results[other][fit][stage][camera]["per_person_median_mm"])
                lines.append(f"{Path(other).stem} vs {Path(lifters[0]).stem}, {fit}, {stage}, {camera}: lower for "
                             f"{int((b < a).sum())} of {len(a)} people, median difference {np.median(b - a):+.0f} mm")
    return "\n".join(lines)


def temporal_options(pairs: list[tuple[str, str]]) -> TemporalOptions:
    """`--set NAME VALUE` pairs → TemporalOptions with those fields changed (ValueError: not a field, or invalid)."""
    fields = {f.name: f.type for f in dataclasses.fields(TemporalOptions)}
    if unknown := [name for name, _ in pairs if name not in fields]:
        raise ValueError(f"not a TemporalOptions field: {unknown}")
    return TemporalOptions(**{name: {"int": int, "float": float, "bool": _flag}[fields[name]](value)
                              for name, value in pairs})


def _flag(text: str) -> bool:
    """"true" / "false" (as ROS writes them); anything else is refused, never read as false."""
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text == "true"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mpm_ros.bags.root_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifter", action="append", help="shipped name or checkpoint path (repeat; first = A)")
    parser.add_argument("--fit", nargs="+", choices=sorted(FITS), default=["confidence"])
    parser.add_argument("--mocap", type=Path, default=TEST_SLICE, help="the test slice (never the train file)")
    parser.add_argument("--max-frames", type=int, default=300, help="first frames of each sequence at 30 fps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a RootFilter option (TemporalOptions field), e.g. --set root_reacquire 0")
    parser.add_argument("--known-floor", action="store_true", help="ground_camera_height / _pitch = each person's "
                        "camera's (as a robot knows them; with --set ground_plane true, which without a floor "
                        "corrects nothing)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    try:
        options = temporal_options(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    results = run(args.lifter or ["mpm_t27_causal"], args.fit, args.mocap, args.max_frames, args.seed,
                  options=options, known_floor=args.known_floor)
    print(table(results))
    print(age_table(results))
    print(paired(results))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
