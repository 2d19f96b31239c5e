"""Train and evaluate the causal pose refiner (mpm_model/streaming/refiner.py) on the shipped lifter's own outputs.

`data`: sequences of a mocap file (resampled to 30 fps) seen by make_bag's H36M-like camera (frame_scene) or the
robot camera of make demo-rgbd, with make_bag's detector model (2 px jitter, 5 % occluded joints, rare outliers);
the lifter runs on every frame's causal window as the node lifts it (masked padding at the start, masked joints
zeroed, gaps bridged: `--gap-fill`, the node's gap_fill_frames; `--mirror`: also mirrored, its mirror_max_tracks);
its outputs, the newest frame's 2D (screen, mask2d) and the truth are cached (.npz). `fit`: least squares (`solve`)
from the last K lifted frames and the last M frames' 2D present (refiner.present_2d; `--present`) to the truth
`--lead` frames after the newest (a residual on the newest frame), written to mpm_model/weights (JSON) with a
sidecar naming the lifter file and its sha256. `eval`: raw lifter, One Euro settings and the refiner on a cache
(MPJPE, acceleration error, lag; all frames and the fast-motion sequences). `retrain`: the `data` runs and the `fit`
below in one command. Train on the train file only. `data --mix` draws make_bag-like noise per chunk (noise_mix;
TEMPORAL round 4: it did not win); `fit --validate --compare NAME` also scores a weights file as it is on the
held-out fifth, per cache with the lag δ̂. `fit --zero-lag` holds the fit's lag δ̂ at `--lag-target`,
`--depth-taps` gives z a kernel of its own (mpm_model/training/refiner_fit.py, round 7).

After shipping new lifter weights (same name mpm_t27_causal, or --checkpoint NAME), ONE command retrains the
refiner with the shipped recipe (round 7, docs/TEMPORAL.md; RECIPE below): ~77,000 frames of the train file through
the lifter (30,000 + 20,000 seen by make_bag's camera, 15,000 + 10,000 by the robot camera; the second of each with
make_bag's 10 % occluded joints and 2 % dropped frames; windows bridged as the node's gap_fill_frames), then `fit
--depth-taps --present 16 --smooth 5 --zero-lag --lag-target -0.2` (δ̂ held at -0.2 frames over all of them: lag 0
through the bags, TEMPORAL round 12; 0.5 and smooth 8 before), writing mpm_model/weights/pose_refiner_t27_causal.weights.json
and its sidecar pose_refiner_t27_causal.json (the lifter's sha256: the node uses the refiner only with that lifter
file; for --checkpoint mpm_t81_causal_la3, pose_refiner_t81_causal_la3: refiner.refiner_name; the lag target was
chosen for mpm_t27_causal: check another lifter's through the bags, tools/lag_probe.py). ~10 min wall on 2 loaded
cores, ~4 GB RAM for the fit:

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_refiner.py retrain   # [--checkpoint NAME]

which runs `data --mocap $T --out out/refiner/<cache>.npz <args>` for each RECIPE cache, then `fit --data <the four>
FIT_RECIPE` (T = the train file). Check it with `fit ... --validate` (a held-out fifth of the train chunks, per cache),
`data --mocap <the test slice> --out out/refiner/test.npz` + `eval --data out/refiner/test.npz`, and the bags.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mpm_model.checkpoint import resolve
from mpm_model.data.mocap import load_mocap, resample
from mpm_model.files import file_sha256
from mpm_model.streaming.lifting import infer_windows
from mpm_model.streaming.options import StreamOptions, confident
from mpm_model.streaming.refiner import (HISTORY, WEIGHTS_DIR, add_present, load_refiner, present_2d, refine,
                                         refiner_name, weight_files)
from mpm_model.streaming.smoothing import JointSmoother, SmoothingOptions
from mpm_model.training.refiner_fit import lag_term, solve
from mpm_ros.bags import rgbd_scene
from mpm_ros.bags.make_bag import PersonTrack, frame_scene, observe

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FILE = ROOT.parent / "shared" / "data" / "mocap_h36m17_train.npz"
FPS, PERIOD_NS, CHUNK = 30.0, 33_333_333, 240  # frames per sequence chunk (8 s): many people, many views
MIN_FRAMES = 11  # shorter sequences are left out of the data
MIN_VISIBLE = StreamOptions().min_visible_joints  # a frame with fewer visible joints gives no output (WindowBuffer)
HIDDEN_FRAMES = 45  # `--mix`: a person hidden this long (1.5 s, the evaluator's probe) restarts every state
FAST = ("indian", "salsa", "kick", "jog", "hop", "throw", "run", "dash", "punch", "martial")
BAG_NOISE = ["--occlusion", "0.1", "--dropout", "0.02"]  # make_bag's defaults
RECIPE = {"train": ["--frames", "30000"], "train_robot": ["--frames", "15000", "--scene", "robot", "--seed", "1"],
          "train_bag": ["--frames", "20000", "--seed", "4", *BAG_NOISE],
          "train_robot_bag": ["--frames", "10000", "--scene", "robot", "--seed", "5", *BAG_NOISE]}  # retrain's caches
FIT_RECIPE = ["--depth-taps", "--present", "16", "--smooth", "5", "--zero-lag", "--lag-target", "-0.2"]  # the shipped fit (docs/TEMPORAL.md)
SETTINGS = {"One Euro 2.0/20 (today's smoothing:=true)": SmoothingOptions(True, 2.0, 20.0),
            "One Euro 1.0/5": SmoothingOptions(True, 1.0, 5.0), "One Euro 4.0/20": SmoothingOptions(True, 4.0, 20.0)}


def windows(uv: np.ndarray, confidence: np.ndarray, width: int, height: int, window: int) -> tuple[np.ndarray, ...]:
    """(F, J, 2) pixels + (F, J) confidence → every frame's causal window as WindowBuffer builds it:
    (F, T, J, 2) normalised keypoints and (F, T, J) mask, frames before the first masked."""
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (uv[..., 1] < height)
    mask = ~(np.isfinite(uv).all(-1) & inside & confident(confidence, 0.3))  # (F, J)
    screen = np.where(mask[..., None], 0.0, uv / width * 2.0 - [1.0, height / width]).astype(np.float32)
    padded_kp = np.concatenate([np.zeros((window - 1, *screen.shape[1:]), np.float32), screen])
    padded_mask = np.concatenate([np.ones((window - 1, mask.shape[1]), bool), mask])
    index = np.arange(len(uv))[:, None] + np.arange(window)[None]  # (F, T)
    return padded_kp[index], padded_mask[index]


def lift(backend, poses: np.ndarray, rng: np.random.Generator, scene: str, occlusion: float = 0.05,
         dropout: float = 0.0, mirrored: bool = False, max_gap: int = StreamOptions().gap_fill_frames,
         batch: int = 256) -> tuple[np.ndarray, ...]:
    """(F, J, 3) world poses → truth and lifted root-relative camera-frame joints, (F', J, 3) each, the target
    frame's 2D as the lifter saw it: (F', J, 2) normalised keypoints and (F', J) mask, and (F',) observed; F' = F
    minus the lifter's look-ahead (its last frames have no window that answers for them, as in the stream). `scene`:
    "h36m" (make_bag's camera in front of the person) or "robot" (make demo-rgbd's robot camera, 1.2 m high, the
    person walking to and fro 1.2-7 m away). A frame make_bag's `dropout` drops (or with fewer than MIN_VISIBLE
    joints) is a fully masked step of the later windows and gives no output, as in the node: it is not observed, its
    lifted pose is the last observed one (the refiner holds it over a gap) and its 2D is masked (present 0).
    `mirrored`, `max_gap`: lifted as the node's `mirror_max_tracks` and `gap_fill_frames` (streaming.lifting)."""
    if scene == "robot":
        path = rgbd_scene.walk_paths(1, len(poses), FPS, rng)
        track = PersonTrack(1, 0, len(poses), rgbd_scene.place_on_paths([poses.astype(np.float64)], path)[0])
        cam = rgbd_scene.rgbd_camera()
    else:
        track = PersonTrack(1, 0, len(poses), poses.astype(np.float64))
        cam = frame_scene([track], rng)
    obs = observe(track, cam, rng, noise_px=2.0, occlusion=occlusion, dropout=dropout)
    confidence = np.where(obs.present[:, None], obs.confidence, 0.0)  # (F, J): a dropped frame is all masked
    keypoints, mask = windows(obs.uv, confidence, cam.width, cam.height, backend.config.window)
    target = backend.config.target_index  # the window's frame the lifter answers for (look-ahead: before the end)
    ahead = backend.config.window - 1 - target  # so the window ending at frame f answers for frame f - ahead
    keypoints, mask = keypoints[ahead:], mask[ahead:]  # (F', T, J, 2), (F', T, J)
    out = np.concatenate([infer_windows(backend, keypoints[i:i + batch], mask[i:i + batch], max_gap, mirrored)[:, 0]
                          for i in range(0, len(keypoints), batch)]).astype(np.float64)  # (F', J, 3)
    observed = (~mask[:, -1]).sum(-1) >= MIN_VISIBLE  # (F',) the newest frame seen: the window buffer emits
    if observed.any():  # hold the last observed output over unobserved frames (the first one before it)
        last = np.maximum.accumulate(np.where(observed, np.arange(len(out)), -1))
        out = out[np.where(last >= 0, last, np.flatnonzero(observed)[0])]
    screen, mask2d = keypoints[:, target], mask[:, target] | ~observed[:, None]
    truth = obs.joints_cam[:len(obs.joints_cam) - ahead]
    return truth - truth[:, :1], out - out[:, :1], screen, mask2d, observed


def noise_mix(args: argparse.Namespace, rng: np.random.Generator, frames: int) -> tuple[float, float, int]:
    """(occlusion, dropout, hidden start) of one chunk: `--mix` draws make_bag-like detector noise per chunk (occluded
    joints 0-15 %, dropped frames 0-4 % in 1-3 frame bursts, and with probability 0.3 the person hidden for
    HIDDEN_FRAMES (1.5 s: the refiner and the windows restart)); else the fixed `--occlusion` / `--dropout`
    (defaults 5 % occluded joints, no drops). hidden start 0 = never hidden."""
    if not args.mix:
        return args.occlusion, args.dropout, 0
    occlusion, dropout = float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.0, 0.04))
    hide = frames > 2 * HIDDEN_FRAMES and rng.random() < 0.3
    return occlusion, dropout, int(rng.integers(MIN_FRAMES, frames - HIDDEN_FRAMES - MIN_FRAMES)) if hide else 0


def make_data(args: argparse.Namespace) -> None:
    from mpm_model.deploy.backends import create_backend

    backend = create_backend("onnxruntime", checkpoint=args.checkpoint, device="cpu")
    rng = np.random.default_rng(args.seed)
    sequences = [resample(s, FPS) for s in load_mocap(args.mocap)]
    order = rng.permutation(len(sequences)) if args.frames else np.arange(len(sequences))
    truth, lifted, screen, mask, observed, sequence, names, total = [], [], [], [], [], [], [], 0
    for i in order:
        seq = sequences[i]
        start = int(rng.integers(0, max(1, len(seq) - CHUNK))) if args.frames else 0
        poses = seq.poses3d[start:start + CHUNK] if args.frames else seq.poses3d
        if len(poses) < MIN_FRAMES:
            continue
        occlusion, dropout, hidden = noise_mix(args, rng, len(poses))
        parts = [poses[:hidden], poses[hidden + HIDDEN_FRAMES:]] if hidden else [poses]  # each part: a fresh start
        for part in parts:
            t, p, k, m, o = lift(backend, part, rng, args.scene, occlusion, dropout, args.mirrored, args.gap_fill)
            truth.append(t), lifted.append(p), screen.append(k), mask.append(m), observed.append(o)
            sequence.append(np.full(len(t), len(names))), names.append(seq.name)
            total += int(o.sum())
        print(f"{len(names)} sequences, {total} frames", flush=True)
        if args.frames and total >= args.frames:
            break
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, truth=np.concatenate(truth), lifted=np.concatenate(lifted),
                        screen=np.concatenate(screen), mask2d=np.concatenate(mask), observed=np.concatenate(observed),
                        sequence=np.concatenate(sequence), names=np.array(names), checkpoint=args.checkpoint,
                        mirrored=args.mirrored, gap_fill=args.gap_fill)


def histories(lifted: np.ndarray, sequence: np.ndarray, size: int) -> np.ndarray:
    """(N, J, 3) + (N,) sequence ids → (N, K = size, J, 3) each frame's last K frames of its sequence (oldest
    first; the first frame repeated before the start, as the streaming refiner does)."""
    starts = np.searchsorted(sequence, sequence, side="left") if np.all(np.diff(sequence) >= 0) else None
    assert starts is not None, "frames must be grouped by sequence"
    index = np.maximum(np.arange(len(lifted))[:, None] - np.arange(size - 1, -1, -1)[None], starts[:, None])
    return lifted[index]


def present_histories(present: np.ndarray, sequence: np.ndarray, size: int) -> np.ndarray:
    """(N, J, 2) present_2d + (N,) sequence ids → (N, M = size, J, 2) each frame's last M, newest first, zero
    before its sequence's start (as the streaming refiner holds them)."""
    starts = np.searchsorted(sequence, sequence, side="left")
    index = np.arange(len(present))[:, None] - np.arange(size)[None]  # (N, M)
    return np.where((index >= starts[:, None])[..., None, None], present[np.maximum(index, 0)], 0.0)


def load_caches(paths: list[Path]) -> dict[str, np.ndarray]:
    """Several `data` caches as one (sequence ids kept apart); `present` = present_2d of each frame when every
    cache holds the 2D (caches from before 2026-12-06 round 3 do not); `observed` = the frames with an output (all
    of them in caches from before round 4)."""
    caches = [np.load(path) for path in paths]
    if len({str(c["checkpoint"]) for c in caches}) != 1:
        raise SystemExit("the caches come from different lifters")
    if len({bool(c.get("mirrored", False)) for c in caches}) != 1:
        raise SystemExit("some caches were lifted mirrored, some not (data --mirror)")
    if len({int(c.get("gap_fill", 0)) for c in caches}) != 1:
        raise SystemExit("the caches were lifted with different --gap-fill")
    offsets = np.cumsum([0] + [len(c["names"]) for c in caches])
    lifted = np.concatenate([c["lifted"] for c in caches])
    present = present_2d(np.concatenate([c["screen"] for c in caches]).astype(np.float64),
                         np.concatenate([c["mask2d"] for c in caches]), lifted)[0] \
        if all("screen" in c for c in caches) else None
    observed = np.concatenate([c["observed"] if "observed" in c else np.ones(len(c["lifted"]), bool) for c in caches])
    return {"present": present, "truth": np.concatenate([c["truth"] for c in caches]),
            "cache": np.repeat(np.arange(len(caches)), [len(c["lifted"]) for c in caches]),
            "lifted": lifted, "observed": observed,
            "sequence": np.concatenate([c["sequence"] + o for c, o in zip(caches, offsets)]),
            "names": np.concatenate([c["names"] for c in caches]), "checkpoint": str(caches[0]["checkpoint"]),
            "mirrored": bool(caches[0].get("mirrored", False)), "gap_fill": int(caches[0].get("gap_fill", 0))}


def fit(args: argparse.Namespace) -> None:
    """Fit (solve) on the caches and write the weights + sidecar; `--validate`: fit on 4/5 of the sequences and
    print the scores of the other fifth (lifter alone beside it), write nothing. `--present M`: the shared filter
    also gets M taps on the newest frames' present_2d (x, y; the z inputs are 0), fitted jointly."""
    data = load_caches(args.data)
    if args.present and (data["present"] is None or not args.shared):
        raise SystemExit("--present needs caches with the 2D (`data` since 2026-12-06 round 3) and the shared filter")
    sequence, lifted, truth = data["sequence"], data["lifted"], data["truth"]
    ends = np.searchsorted(sequence, sequence, side="right") - 1  # (N,) each frame's sequence's last frame
    target = truth[np.minimum(np.arange(len(truth)) + args.lead, ends)]  # the truth `lead` frames later: (N, J, 3)
    x = histories(lifted, sequence, args.history)  # (N, K, J, 3)
    if args.present:  # (N, K + M, J, 3): the M present_2d frames, newest first, z = 0
        x = np.concatenate([x, np.pad(present_histories(data["present"], sequence, args.present),
                                      ((0, 0), (0, 0), (0, 0), (0, 1)))], axis=1)
    n, coords, size = len(x), lifted[0].size, args.history * lifted[0].size

    def refined(select: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        out = refine(x[select, :args.history], {"weights": weights[:size], "bias": bias})
        return add_present(out, x[select, args.history:, :, :2], weights[size::coords, 0])

    observed = data["observed"]  # frames without an output (dropped) are neither fitted nor scored
    groups = data["cache"] if args.lag_groups == "cache" else np.zeros(len(truth), int)
    lag = lag_term(truth, sequence, groups, args.lag_target) if args.zero_lag else None
    if args.validate:
        held, train = (sequence % 5 == 0) & observed, (sequence % 5 != 0) & observed
        weights, bias = solve(x[train], lifted[train], target[train], sequence[train], args.smooth, args.ridge,
                              args.shared, lag and lag.select(train), args.depth_taps)
        outputs = {"lifter alone": lifted[held], f"refiner (history {args.history}, present {args.present}, smooth "
                   f"{args.smooth}, lead {args.lead}, shared {args.shared}, lag held at "
                   f"{args.lag_target if args.zero_lag else None})": refined(held, weights, bias)}
        if args.compare:  # a weights file as it is, on the same held-out frames
            other = load_refiner(args.compare)
            outputs[f"{args.compare} (as it is)"] = add_present(
                refine(histories(lifted, sequence, other.history)[held], other),
                present_histories(data["present"], sequence, len(other.present))[held], other.present)
        validation_table(outputs, truth[held], sequence[held], data["cache"][held], args.data)
        return
    weights, bias = solve(x[observed], lifted[observed], target[observed], sequence[observed], args.smooth,
                          args.ridge, args.shared, lag and lag.select(observed), args.depth_taps)
    checkpoint = resolve(str(data["checkpoint"]))
    out, sidecar = weight_files(args.name or refiner_name(Path(checkpoint).stem), args.out_dir)
    rounded = np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[float])  # float32 precision, plain JSON
    taps = rounded(weights[::coords, 0]).tolist()
    depth = {"taps_z": rounded(weights[2:size:coords, 2]).tolist()} if args.depth_taps else {}  # z's own kernel
    out.write_text(json.dumps({"taps": taps[:args.history], "joints": coords // 3} | depth
                              | ({"present": taps[args.history:]} if args.present else {}) if args.shared
                              else {"weights": rounded(weights).tolist(), "bias": rounded(bias).tolist()}))
    sidecar.write_text(json.dumps({
        "lifter": Path(checkpoint).stem, "lifter_sha256": file_sha256(checkpoint), "lifter_mirrored": data["mirrored"],
        "lifter_gap_fill": data["gap_fill"],
        "history": args.history, "present": args.present, "lead": args.lead, "ridge": args.ridge, "smooth": args.smooth,
        "shared": args.shared, "depth_taps": args.depth_taps, "lag_held_at": args.lag_target if args.zero_lag else None,
        "lag_groups": args.lag_groups if args.zero_lag else None, "frames": n, "sequences": int(len(data["names"])),
        "caches": [_shown(p) for p in args.data],
        "trained_with": "python tools/train_refiner.py data/fit (docs/TEMPORAL.md)"}, indent=2) + "\n")
    print(f"wrote {out} and its sidecar: {n} frames, ridge {args.ridge}, smooth {args.smooth}, present "
          f"{args.present}, lead {args.lead}, shared {args.shared}, lag held at "
          f"{f'{args.lag_target} ({args.lag_groups})' if args.zero_lag else None}")


def validation_table(outputs: dict[str, np.ndarray], truth: np.ndarray, sequence: np.ndarray, cache: np.ndarray,
                     paths: list[Path]) -> None:
    """The held-out scores of each output, all frames and per cache (a condition group): MPJPE, acceleration error,
    lag (the best integer shift) and δ̂ (lag.batch_lag: the least-squares lag along the motion, frames)."""
    import torch

    from mpm_model.training.lag import batch_lag

    motion = lag_term(truth, sequence, cache).motion  # (N, J, 3)
    groups = [("all", np.ones(len(truth), bool))] + [(p.name, cache == i) for i, p in enumerate(paths)]
    print("| output | " + " | ".join(f"{g}: MPJPE / accel. / lag / δ̂" for g, _ in groups) + " |\n|---|"
          + "---|" * len(groups))
    for name, pred in outputs.items():
        cells = []
        for _, keep in groups:
            s = scores(truth[keep], pred[keep], sequence[keep])
            pose3d = torch.from_numpy(np.stack([truth[keep] - motion[keep], truth[keep]], 1))  # (n, 2, J, 3)
            delta = float(batch_lag(torch.from_numpy(pred[keep]), pose3d, 1))
            cells.append(f"{s['mpjpe']:.1f} / {s['accel']:.2f} / {s['lag']} / {delta:+.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def _shown(path: Path) -> str:
    """A path as the sidecar records it: relative to the repository when inside it (no machine's layout)."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def scores(truth: np.ndarray, pred: np.ndarray, sequence: np.ndarray) -> dict[str, float]:
    """MPJPE (mm), acceleration error (mean over joints of |a_pred - a_gt|, mm/frame²) and lag (the shift in
    frames, -2..4, of the prediction against the truth that minimises MPJPE), over the given sequences."""
    err, acc, shifted = [], [], np.zeros(7)
    for s in np.unique(sequence):
        t, p = truth[sequence == s], pred[sequence == s]
        err.append(np.linalg.norm(p - t, axis=-1).mean(-1))
        acc.append(np.linalg.norm(np.diff(p, 2, axis=0) - np.diff(t, 2, axis=0), axis=-1).mean(-1))
        for i, shift in enumerate(range(-2, 5)):
            a, b = (p[shift:], t[:len(t) - shift]) if shift >= 0 else (p[:shift], t[-shift:])
            shifted[i] += np.linalg.norm(a[4:-4] - b[4:-4], axis=-1).mean(-1).sum()
    return {"mpjpe": 1e3 * np.concatenate(err).mean(), "accel": 1e3 * np.concatenate(acc).mean(),
            "lag": int(np.argmin(shifted)) - 2}


def evaluate(args: argparse.Namespace) -> None:
    data = load_caches([args.data])
    truth, lifted, sequence, observed = data["truth"], data["lifted"], data["sequence"], data["observed"]
    fast = np.isin(sequence, [i for i, n in enumerate(data["names"]) if any(k in str(n) for k in FAST)])
    outputs = {"lifter alone (today's default)": lifted}
    for name, options in SETTINGS.items():
        smoother = JointSmoother(options, reset_after_s=1e6)
        outputs[name] = np.concatenate([np.array([smoother.filter(int(1e12 * s) + f * PERIOD_NS, (1,), p[None])[0]
                                                  for f, p in enumerate(lifted[sequence == s])])
                                        for s in np.unique(sequence)])
    name = args.name or refiner_name(Path(resolve(str(data["checkpoint"]))).stem)
    refiner = load_refiner(name)
    if len(refiner.present) and data["present"] is None:
        raise SystemExit(f"{name} reads the 2D present: make the cache again with `data` (it keeps the 2D now)")
    present = np.zeros((len(lifted), 0, 17, 2)) if data["present"] is None else \
        present_histories(data["present"], sequence, len(refiner.present))
    outputs["learned refiner"] = add_present(refine(histories(lifted, sequence, refiner.history), refiner), present,
                                             refiner.present)
    print(f"{len(np.unique(sequence))} sequences, {len(truth)} frames ({fast.sum()} fast-motion) at 30 fps, 2 px "
          f"jitter, {data['checkpoint']}\n| output | MPJPE mm | accel. error mm/frame² | lag frames | fast: MPJPE | "
          "fast: accel. error | fast: lag |\n|---|---:|---:|---:|---:|---:|---:|")
    fast &= observed  # frames without an output (dropped) are not scored
    for name, pred in outputs.items():
        a, f = scores(truth[observed], pred[observed], sequence[observed]), scores(truth[fast], pred[fast],
                                                                                   sequence[fast])
        print(f"| {name} | {a['mpjpe']:.1f} | {a['accel']:.2f} | {a['lag']} | {f['mpjpe']:.1f} | {f['accel']:.2f} | "
              f"{f['lag']} |")


def retrain(args: argparse.Namespace) -> None:
    """The docstring's data runs (RECIPE) + fit (FIT_RECIPE)."""
    caches = [args.out_dir / f"{name}.npz" for name in RECIPE]
    for cache, extra in zip(caches, RECIPE.values()):
        main(["data", "--mocap", str(args.mocap), "--checkpoint", args.checkpoint, "--out", str(cache), *extra])
    main(["fit", "--data", *map(str, caches), *FIT_RECIPE])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="lift a mocap file's sequences, cache truth and outputs")
    data.add_argument("--mocap", type=Path, required=True)
    data.add_argument("--out", type=Path, required=True)
    data.add_argument("--frames", type=int, default=0, help="stop after this many frames of random 8 s chunks "
                      "(0 = every whole sequence, in order: for evaluation)")
    data.add_argument("--checkpoint", default="mpm_t27_causal")
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--scene", choices=("h36m", "robot"), default="h36m")
    data.add_argument("--mirror", dest="mirrored", action="store_true", help="lift as mirror_max_tracks (TEMPORAL.md)")
    data.add_argument("--gap-fill", type=int, default=StreamOptions().gap_fill_frames, help="bridge hidden "
                      "joints' gaps of at most this many frames, as the node's gap_fill_frames (default: its default)")
    data.add_argument("--mix", action="store_true", help="make_bag-like noise drawn per chunk: 0-15 %% occluded "
                      "joints, 0-4 %% dropped frames, 30 %% of the chunks with the person hidden 1.5 s (noise_mix)")
    data.add_argument("--occlusion", type=float, default=0.05, help="fraction of occluded joints without --mix "
                      "(make_bag's default: 0.1)")
    data.add_argument("--dropout", type=float, default=0.0, help="per-frame chance the person is missed (bursts of "
                      "1-3 frames) without --mix (make_bag's default: 0.02)")
    fitting = commands.add_parser("fit", help="ridge regression → mpm_model/weights/<refiner>.npz + sidecar")
    fitting.add_argument("--data", type=Path, nargs="+", required=True)
    fitting.add_argument("--ridge", type=float, default=1e-3)
    fitting.add_argument("--smooth", type=float, default=8.0, help="weight of the acceleration error")
    fitting.add_argument("--history", type=int, default=HISTORY, help="K: lifted frames each output looks at")
    fitting.add_argument("--lead", type=int, default=1, help="fit to the truth this many frames after the newest "
                         "lifted frame (the lifter is ~1 frame late; the sequence's last frame at its end)")
    fitting.add_argument("--present", type=int, default=8, help="M: frames of the 2D present (present_2d) each "
                         "output looks at (0: none; the shared filter only: --full needs --present 0)")
    fitting.add_argument("--full", dest="shared", action="store_false", help="a full linear map of the history "
                         "instead of one causal filter shared by every coordinate")
    fitting.add_argument("--zero-lag", action="store_true", help="hold the lag δ̂ (mpm_model/training/lag.py) at "
                         "--lag-target exactly (refiner_fit; shared filter only)")
    fitting.add_argument("--lag-target", type=float, default=0.0, help="with --zero-lag: the lag held, frames")
    fitting.add_argument("--lag-groups", choices=("all", "cache"), default="all", help="with --zero-lag: one "
                         "constraint for all frames, or one per cache (condition; costly: docs/TEMPORAL.md round 7)")
    fitting.add_argument("--depth-taps", action="store_true", help="the shared filter's K lifted taps for x-y, "
                         "another K for z (z never sees the 2D present)")
    fitting.add_argument("--validate", action="store_true", help="score on a held-out fifth, write nothing")
    fitting.add_argument("--compare", help="with --validate: also score this weights name (as it is) on that fifth")
    fitting.add_argument("--name", default=None, help="weights name in mpm_model/weights (default: the cache's "
                         "lifter's, refiner.refiner_name: pose_refiner_t27_causal for mpm_t27_causal)")
    fitting.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR, help="where the weights go (a candidate "
                         "elsewhere than mpm_model/weights is never handed to a lifter: lag_probe.py --refiner)")
    evaluation = commands.add_parser("eval", help="table: lifter, One Euro, refiner")
    evaluation.add_argument("--data", type=Path, required=True)
    evaluation.add_argument("--name", default=None, help="weights name in mpm_model/weights (default: the cache's "
                            "lifter's)")
    again = commands.add_parser("retrain", help="data (both cameras) + fit: after new lifter weights")
    again.add_argument("--mocap", type=Path, default=TRAIN_FILE)
    again.add_argument("--checkpoint", default="mpm_t27_causal")
    again.add_argument("--out-dir", type=Path, default=ROOT / "out" / "refiner", help="where the caches go")
    args = parser.parse_args(argv)
    {"data": make_data, "fit": fit, "eval": evaluate, "retrain": retrain}[args.command](args)


if __name__ == "__main__":
    main()
