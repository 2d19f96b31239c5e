"""IncrementalLifter against the full-window recompute: accuracy on mocap streams (same outputs?) and latency per
new frame, torch and ONNX Runtime (`python -m mpm_model.deploy.bench_incremental`; docs/DEPLOYMENT.md)."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpm_model.deploy.bench import uptime
from mpm_model.model import MPMLifter
from mpm_model.streaming.incremental import IncrementalLifter


def mocap_streams(sequences: list, fps: float, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """One Human3.6M-like camera per sequence for its whole length (seeded); per frame the normalised 2D
    keypoints (N, J, 2), mask (N, J) (outside the image) and the root-relative camera-frame pose (N, J, 3)."""
    from mpm_model.data.camera import keep_in_front, normalize_screen, project, sample_any_camera, world_to_camera
    from mpm_model.data.mocap import resample
    from mpm_model.skeleton import ROOT_JOINT

    streams = []
    for index, seq in enumerate(sequences):
        seq = resample(seq, fps) if abs(seq.fps - fps) > 1e-9 else seq
        rng = np.random.default_rng([seed, index])
        cam = keep_in_front(sample_any_camera(rng, seq.poses3d[0, ROOT_JOINT], "h36m"), seq.poses3d)
        cam_poses = world_to_camera(seq.poses3d, cam)
        uv = project(cam_poses, cam)
        mask = (uv[..., 0] < 0) | (uv[..., 0] >= cam.width) | (uv[..., 1] < 0) | (uv[..., 1] >= cam.height)
        keypoints = normalize_screen(uv, cam.width, cam.height).astype(np.float32)
        keypoints[mask] = 0.0
        streams.append({"keypoints2d": keypoints, "mask": mask,
                        "pose3d": (cam_poses - cam_poses[:, ROOT_JOINT:ROOT_JOINT + 1]).astype(np.float32)})
    return streams


@torch.inference_mode()
def full_recompute(model: MPMLifter, keypoints2d: np.ndarray, mask: np.ndarray, batch: int = 256) -> np.ndarray:
    """(N, J, 3): model(window)[1] for the window ending at each frame, T fully masked frames before frame 0."""
    t = model.cfg.window
    points = np.concatenate([np.zeros((t - 1, *keypoints2d.shape[1:]), np.float32), keypoints2d])
    masked = np.concatenate([np.ones((t - 1, mask.shape[1]), bool), mask])
    windows = np.lib.stride_tricks.sliding_window_view(points, t, axis=0).transpose(0, 3, 1, 2)  # (N, T, J, 2)
    window_masks = np.lib.stride_tricks.sliding_window_view(masked, t, axis=0).transpose(0, 2, 1)
    out = [model(torch.from_numpy(np.ascontiguousarray(windows[i:i + batch])),
                 torch.from_numpy(np.ascontiguousarray(window_masks[i:i + batch])))[1][:, 0]
           for i in range(0, len(windows), batch)]
    return torch.cat(out).numpy()


def compare(model: MPMLifter, streams: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """MPJPE (mm) of full recompute and of IncrementalLifter over every stream, and their max |difference| (m).
    A frame's output is scored against the pose of the frame it describes (delay frames back); frames whose
    window reaches before the stream's start are left out of the MPJPE (they are in the difference)."""
    from mpm_model import metrics

    delay = model.cfg.window - 1 - model.cfg.target_index
    full, incremental, truth, worst = [], [], [], 0.0
    for stream in streams:
        expected = full_recompute(model, stream["keypoints2d"], stream["mask"])
        lifter = IncrementalLifter(model, tracks=1)
        stepped = np.stack([lifter.step(stream["keypoints2d"][i:i + 1], stream["mask"][i:i + 1])[0]
                            for i in range(len(expected))])
        worst = max(worst, float(np.abs(stepped - expected).max()))
        first = model.cfg.window - 1  # step i describes frame i - delay; score steps with a full window
        full.append(expected[first:])
        incremental.append(stepped[first:])
        truth.append(stream["pose3d"][first - delay:len(expected) - delay])
    full, incremental, truth = (np.concatenate(x) for x in (full, incremental, truth))
    return {"frames": int(len(full)), "mpjpe_full_mm": 1000 * metrics.mpjpe(full, truth),
            "mpjpe_incremental_mm": 1000 * metrics.mpjpe(incremental, truth), "max_abs_diff_m": worst}


def latency(model: MPMLifter, tracks: int, rounds: int = 20, calls: int = 10, threads: int = 2,
            onnx_dir: str | Path | None = None) -> dict[str, float]:
    """Median ms per new frame for `tracks` tracks, interleaved: torch full window vs IncrementalLifter.step, and
    with onnx_dir also ONNX Runtime (export_onnx graph vs export_step_onnx graph; spinning off, `threads`)."""
    cfg = model.cfg
    rng = np.random.default_rng(0)
    window = rng.uniform(-1, 1, (tracks, cfg.window, cfg.num_joints, 2)).astype(np.float32)
    window_mask = np.zeros(window.shape[:3], bool)
    lifter = IncrementalLifter(model, tracks)
    with torch.inference_mode():
        points, masked = torch.from_numpy(window), torch.from_numpy(window_mask)
        runs = {"torch_full": lambda: model(points, masked),
                "torch_incremental": lambda: lifter.step(points[:, -1], masked[:, -1])}
        if onnx_dir is not None:
            from mpm_model.deploy.bench_models import ort_session
            from mpm_model.deploy.export import export_onnx, export_step_onnx

            full_path, step_path = Path(onnx_dir) / "full.onnx", Path(onnx_dir) / "step.onnx"
            export_onnx(model, cfg, full_path, batch_max=max(2, tracks))
            export_step_onnx(model, step_path, batch_max=max(2, tracks))
            full, step = ort_session(full_path, threads), ort_session(step_path, threads)
            feed_step = {"keypoints2d": window[:, -1:], "mask": window_mask[:, -1:],
                         "features": lifter.features.numpy()}
            runs["ort_full"] = lambda: full.run(None, {"keypoints2d": window, "mask": window_mask})
            runs["ort_incremental"] = lambda: step.run(None, feed_step)
        times = {name: [] for name in runs}
        for name, run in runs.items():
            run()
        for r in range(rounds):
            for name, run in list(runs.items())[:: 1 if r % 2 == 0 else -1]:
                for _ in range(calls):
                    started = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - started)
    return {f"{name}_ms": float(np.median(t) * 1e3) for name, t in times.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from mpm_model.checkpoint import load_checkpoint
    from mpm_model.data.mocap import load_mocap

    parser = argparse.ArgumentParser(prog="python -m mpm_model.deploy.bench_incremental",
                                     description="IncrementalLifter vs full recompute: accuracy on mocap streams "
                                                 "and latency per new frame.")
    parser.add_argument("--checkpoint", default="mpm_t27_causal")
    parser.add_argument("--data", default=None, help="mocap npz (e.g. the shared test slice); accuracy skipped without")
    parser.add_argument("--tracks", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds of 10 calls per variant")
    parser.add_argument("--no-ort", action="store_true", help="time torch only")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, cfg, _ = load_checkpoint(args.checkpoint, kind="lifter")
    report: dict[str, Any] = {"checkpoint": args.checkpoint, "threads": args.threads, "uptime_before": uptime()}
    if args.data:
        report["accuracy"] = compare(model, mocap_streams(load_mocap(args.data), cfg.fps))
        print(json.dumps(report["accuracy"]))
    with tempfile.TemporaryDirectory() as tmp:
        for tracks in args.tracks:
            report[f"latency_tracks{tracks}"] = row = latency(model, tracks, rounds=args.rounds, threads=args.threads,
                                                              onnx_dir=None if args.no_ort else tmp)
            print(f"tracks={tracks}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))
    report["uptime_after"] = uptime()
    print(f"uptime before: {report['uptime_before']}\nuptime after: {report['uptime_after']}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
