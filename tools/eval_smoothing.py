"""What the One Euro output filter buys and costs, on the captured test slice through StreamingLifter (no ROS).

The test slice's sequences (resampled to 30 fps, longest first) are seen by an H36M-like camera (make_bag's
scene rule), with 2 px detector jitter; the shipped lifter runs frame by frame; the same outputs are scored
without the filter and with each setting. Root-relative joints (placement is scored by the bag report):
MPJPE, velocity error (mm/frame), acceleration (jitter, mm/frame² of the prediction, the truth's beside it),
and on fast motion (the 10 % of frames whose joints move fastest) MPJPE and the lag: the shift in frames that
best aligns the prediction with the truth there.

    .venv/bin/python tools/eval_smoothing.py [--data ../shared/data/mocap_h36m17_test_slice.npz] [--sequences 8]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mpm_model.data.mocap import load_mocap, resample
from mpm_model.data.occlusion import detector_noise
from mpm_model.deploy.backends import create_backend
from mpm_model.streaming import Camera, Observation, StreamingLifter
from mpm_model.streaming.smoothing import JointSmoother, SmoothingOptions
from mpm_ros.bags.make_bag import PersonTrack, frame_scene, observe

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"off": SmoothingOptions(), "min_cutoff 1.0, beta 0.5": SmoothingOptions(True, 1.0, 0.5),
            "min_cutoff 1.0, beta 5": SmoothingOptions(True, 1.0, 5.0),
            "min_cutoff 2.0, beta 5": SmoothingOptions(True, 2.0, 5.0),
            "min_cutoff 2.0, beta 20 (default)": SmoothingOptions(True, 2.0, 20.0),
            "min_cutoff 4.0, beta 20": SmoothingOptions(True, 4.0, 20.0)}
PERIOD_NS = 33_333_333


def lift_sequence(lifter: StreamingLifter, poses: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(F, 17, 3) world poses → truth and prediction (F', 17, 3) root-relative camera frame, frames with output."""
    track = PersonTrack(1, 0, len(poses), poses.astype(np.float64))
    cam = frame_scene([track], rng)
    obs = observe(track, cam, rng, noise_px=2.0, occlusion=0.0, dropout=0.0)
    camera = Camera(cam.width, cam.height, cam.intrinsics)
    truth, pred = [], []
    for f in range(len(poses)):
        stamp = 1_000_000_000 + f * PERIOD_NS
        _, results = lifter.step(stamp, {1: Observation(obs.uv[f], obs.confidence[f])}, camera)
        for lifted in results:
            index = (lifted.stamp_ns - 1_000_000_000) // PERIOD_NS
            pred.append(lifted.joints[0] - lifted.joints[0, :1])
            truth.append(obs.joints_cam[index] - obs.joints_cam[index, :1])
    return np.array(truth), np.array(pred)


def smooth(pred: np.ndarray, options: SmoothingOptions) -> np.ndarray:
    smoother = JointSmoother(options)
    return np.array([smoother.filter(1_000_000_000 + f * PERIOD_NS, (1,), p[None])[0]
                     for f, p in enumerate(pred)])


def scores(truth: list[np.ndarray], pred: list[np.ndarray]) -> dict[str, float]:
    mpjpe, vel, acc, acc_true, fast, lags = [], [], [], [], [], []
    for t, p in zip(truth, pred):
        mpjpe.append(np.linalg.norm(p - t, axis=-1).mean(-1))
        vel.append(np.linalg.norm(np.diff(p, axis=0) - np.diff(t, axis=0), axis=-1).mean(-1))
        acc.append(np.linalg.norm(np.diff(p, 2, axis=0), axis=-1).mean(-1))
        acc_true.append(np.linalg.norm(np.diff(t, 2, axis=0), axis=-1).mean(-1))
        speed = np.linalg.norm(np.diff(t, axis=0), axis=-1).mean(-1)  # (F-1,)
        fast_frames = np.flatnonzero(speed >= np.quantile(speed, 0.9)) + 1
        fast_frames = fast_frames[(fast_frames >= 6)]
        fast.append(np.linalg.norm(p[fast_frames] - t[fast_frames], axis=-1).mean(-1))
        lags.append([np.linalg.norm(p[fast_frames] - t[fast_frames - s], axis=-1).mean() for s in range(6)])
    lag = int(np.argmin(np.mean(lags, axis=0)))
    return {"mpjpe_mm": 1e3 * np.concatenate(mpjpe).mean(), "velocity_error_mm": 1e3 * np.concatenate(vel).mean(),
            "acceleration_mm": 1e3 * np.concatenate(acc).mean(), "true_acceleration_mm":
            1e3 * np.concatenate(acc_true).mean(), "fast_mpjpe_mm": 1e3 * np.concatenate(fast).mean(), "fast_lag": lag}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/mocap_h36m17_test_slice.npz")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--checkpoint", default="mpm_t27_causal")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"eval_smoothing: {args.data} not found (the captured test slice, ../shared/data)")
    sequences = sorted((resample(s, 30.0) for s in load_mocap(args.data)), key=len, reverse=True)[:args.sequences]
    backend = create_backend("onnxruntime", checkpoint=args.checkpoint, device="cpu")
    rng = np.random.default_rng(0)
    truth, pred = [], []
    for seq in sequences:
        lifter = StreamingLifter(backend)
        t, p = lift_sequence(lifter, seq.poses3d[:900], rng)
        truth.append(t)
        pred.append(p)
    print(f"{len(sequences)} test-slice sequences, {sum(len(t) for t in truth)} frames at 30 fps, 2 px jitter, "
          f"{args.checkpoint}")
    print("| filter | MPJPE mm | velocity error mm/frame | acceleration mm/frame² (truth) | fast-motion MPJPE mm "
          "| fast-motion lag frames |\n|---|---:|---:|---:|---:|---:|")
    for name, options in SETTINGS.items():
        s = scores(truth, [smooth(p, options) for p in pred])
        print(f"| {name} | {s['mpjpe_mm']:.1f} | {s['velocity_error_mm']:.2f} | {s['acceleration_mm']:.2f} "
              f"({s['true_acceleration_mm']:.2f}) | {s['fast_mpjpe_mm']:.1f} | {s['fast_lag']} |")


if __name__ == "__main__":
    main()
