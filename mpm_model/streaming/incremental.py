"""Incremental lifting: one new frame per step for B tracks, reusing the per-frame work of the older frames.

What MPMLifter's structure allows (mpm_model/model.py). Only the per-frame stage — joint-mask tokens, the 2D
encoder and the shared block (`PoseEncoder.frame_features`; BatchNorm in eval mode, no temporal mixing) —
depends on one frame alone, so its (d_model,) row for a frame is computed once, when the frame arrives, and
reused while the frame stays in the window. Everything after it is recomputed each step: the encoder's
position embedding is absolute *within the window* (slot p gets pos_embed[p]), so when the window slides
every older frame changes slot, the input of every transformer layer changes, and so do its keys and values
(no key/value cache can be exact); head B's strided layers also carry absolute position embeddings and group
frames by window slot. The reuse is therefore exact (same arithmetic as `model(window)`, up to float
rounding) but saves only the per-frame stage: 18.6 % of the FLOPs at T=27, 16.0 % at T=243. Measured numbers
(accuracy on the test slice, latency per frame): docs/DEPLOYMENT.md, "Model speed".

`IncrementalLifter.step(keypoints2d (B, J, 2), mask (B, J))` returns what `model(window, mask)[1][:, 0]` returns
for the window of the last T frames of each track, where a track's window starts as T fully masked frames (as
`window_buffer` pads a new track). The output describes the window's `target_index` frame, i.e. the frame
`cfg.window - 1 - cfg.target_index` steps back (0 for a causal model without look-ahead).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mpm_model.model import MPMLifter


class IncrementalLifter:
    """Steps an MPMLifter one frame at a time for `tracks` tracks; caches each frame's per-frame features."""

    def __init__(self, model: MPMLifter, tracks: int = 1) -> None:
        if not isinstance(model, MPMLifter):
            raise TypeError(f"IncrementalLifter needs an MPMLifter, got {type(model).__name__}")
        if tracks < 1:
            raise ValueError(f"tracks must be >= 1, got {tracks}")
        self.model = model.eval()
        self.cfg = model.cfg
        param = next(model.parameters())
        self._device, self._dtype = param.device, param.dtype
        j = self.cfg.num_joints
        with torch.inference_mode():  # the features of a fully masked frame: a new track's padding
            self._padding = model.encoder.frame_features(
                torch.zeros(1, 1, j, 2, device=self._device, dtype=self._dtype),
                torch.ones(1, 1, j, dtype=torch.bool, device=self._device))  # (1, 1, d)
        self.features = self._padding.expand(tracks, self.cfg.window, -1).clone()  # (B, T, d), oldest first

    @property
    def tracks(self) -> int:
        return int(self.features.shape[0])

    @property
    def delay_frames(self) -> int:
        """Steps between the newest input frame and the frame an output describes."""
        return self.cfg.window - 1 - self.cfg.target_index

    @torch.inference_mode()
    def reset(self, tracks: Sequence[int] | None = None) -> None:
        """Forget the history of the given track slots (all when None): their windows restart fully masked."""
        index = slice(None) if tracks is None else torch.as_tensor(list(tracks), dtype=torch.long)
        self.features[index] = self._padding

    def _inputs(self, keypoints2d, mask) -> tuple[torch.Tensor, torch.Tensor]:
        b, j = self.tracks, self.cfg.num_joints
        points = torch.as_tensor(keypoints2d).to(self._device, self._dtype)
        if points.shape != (b, j, 2):
            raise ValueError(f"keypoints2d must have shape ({b}, {j}, 2), got {tuple(points.shape)}")
        masked = torch.zeros(b, j, dtype=torch.bool, device=self._device) if mask is None \
            else torch.as_tensor(mask).to(self._device)
        if masked.shape != (b, j) or masked.dtype != torch.bool:
            raise ValueError(f"mask must be a bool array of shape ({b}, {j}), got {masked.dtype} {tuple(masked.shape)}")
        bad = ~(torch.isfinite(points).all(dim=-1) | masked)
        if bool(bad.any()):
            raise ValueError(f"keypoints2d has {int(bad.sum())} non-finite unmasked joints (mask them instead)")
        return points, masked

    @torch.inference_mode()
    def step(self, keypoints2d, mask=None):
        """Push one frame for every track -> (B, J, 3) root-relative target pose per track (numpy in, numpy out).

        keypoints2d (B, J, 2) normalised screen coordinates, mask (B, J) True = masked (None: all visible).
        """
        as_numpy = isinstance(keypoints2d, np.ndarray)
        points, masked = self._inputs(keypoints2d, mask)
        encoder = self.model.encoder
        new = encoder.frame_features(points.unsqueeze(1), masked.unsqueeze(1))  # (B, 1, d): the only per-frame work
        self.features = torch.cat([self.features[:, 1:], new], dim=1)
        target = self.model.target_from_tokens(encoder.temporal(self.features))[:, 0]  # (B, J, 3)
        return target.float().cpu().numpy() if as_numpy else target


class _StepGraph(torch.nn.Module):
    """One IncrementalLifter step as a pure function, for export: (frame, mask, features) -> (pose3d, features')."""

    def __init__(self, model: MPMLifter) -> None:
        super().__init__()
        self.model = model

    def forward(self, keypoints2d: torch.Tensor, mask: torch.Tensor,
                features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new = self.model.encoder.frame_features(keypoints2d, mask)  # (B, 1, d)
        features = torch.cat([features[:, 1:], new], dim=1)  # (B, T, d)
        return self.model.target_from_tokens(self.model.encoder.temporal(features)), features


def export_step_onnx(model: MPMLifter, onnx_path, batch_max: int = 64, opset: int = 18) -> None:
    """ONNX graph of one step: inputs keypoints2d (B, 1, J, 2), mask (B, 1, J) bool, features (B, T, d_model)
    -> pose3d (B, 1, J, 3), features_next (B, T, d_model). Start `features` as `IncrementalLifter(model).features`
    (fully masked frames) and feed features_next back. Same exporter settings as `export_onnx`."""
    cfg = model.cfg
    example = (torch.zeros(2, 1, cfg.num_joints, 2), torch.zeros(2, 1, cfg.num_joints, dtype=torch.bool),
               torch.zeros(2, cfg.window, cfg.d_model))
    batch = torch.export.Dim("batch", min=1, max=batch_max)
    torch.onnx.export(_StepGraph(model).eval(), example, str(onnx_path), dynamo=True, opset_version=opset,
                      verbose=False, input_names=["keypoints2d", "mask", "features"],
                      output_names=["pose3d", "features_next"], external_data=False, optimize=True,
                      dynamic_shapes={"keypoints2d": {0: batch}, "mask": {0: batch}, "features": {0: batch}})


# ------------------------------------------------------------------ evaluation: incremental vs full recompute

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
            onnx_dir=None) -> dict[str, float]:
    """Median ms per new frame for `tracks` tracks, interleaved: torch full window vs IncrementalLifter.step, and
    with onnx_dir also ONNX Runtime (export_onnx graph vs export_step_onnx graph; spinning off, `threads`)."""
    import time
    from pathlib import Path

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
            from mpm_model.deploy.export import export_onnx

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


def main(argv: list[str] | None = None) -> dict:
    import argparse
    import json
    import tempfile

    from mpm_model.checkpoint import load_checkpoint
    from mpm_model.data.mocap import load_mocap
    from mpm_model.deploy.bench_models import _uptime

    parser = argparse.ArgumentParser(prog="python -m mpm_model.streaming.incremental",
                                     description="IncrementalLifter vs full recompute: accuracy on mocap streams "
                                                 "and latency per new frame.")
    parser.add_argument("--checkpoint", default="mpm_t27_causal")
    parser.add_argument("--data", default=None, help="mocap npz (e.g. the shared test slice); accuracy skipped without")
    parser.add_argument("--tracks", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-ort", action="store_true", help="time torch only")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, cfg, _ = load_checkpoint(args.checkpoint, kind="lifter")
    report: dict = {"checkpoint": args.checkpoint, "threads": args.threads, "uptime_before": _uptime()}
    if args.data:
        report["accuracy"] = compare(model, mocap_streams(load_mocap(args.data), cfg.fps))
        print(json.dumps(report["accuracy"]))
    with tempfile.TemporaryDirectory() as tmp:
        for tracks in args.tracks:
            report[f"latency_tracks{tracks}"] = row = latency(model, tracks, threads=args.threads,
                                                              onnx_dir=None if args.no_ort else tmp)
            print(f"tracks={tracks}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))
    report["uptime_after"] = _uptime()
    print(f"uptime before: {report['uptime_before']}\nuptime after: {report['uptime_after']}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
