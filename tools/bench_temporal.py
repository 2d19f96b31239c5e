"""Cost of the per-track temporal state, library only (no ROS): RootFilter.update, PoseRefiner.filter (the shipped
weights, given each frame's 2D as the node gives it), GroundPlane.correct (ground_plane on, a given floor) and the
One Euro filter for 10 tracks per call at 30 Hz, per
track, p50 / p90 over 550 calls. The node's
end-to-end cost is `make bench-node`; this isolates what issue 24 added.

    OMP_NUM_THREADS=1 .venv/bin/python tools/bench_temporal.py [--tracks 10]
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from mpm_model.streaming.ground import GroundPlane
from mpm_model.streaming.refiner import PoseRefiner, load_refiner, refiner_name
from mpm_model.streaming.smoothing import JointSmoother, SmoothingOptions
from mpm_model.streaming.temporal import RootFilter, TemporalOptions

K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=10)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    ids = tuple(range(args.tracks))
    refiner = PoseRefiner(load_refiner(refiner_name("mpm_t27_causal")))  # the default lifter's
    roots, euro, ground = RootFilter(), JointSmoother(SmoothingOptions(True)), GroundPlane()
    floor = TemporalOptions(ground_plane=True, ground_camera_height=1.2, ground_camera_pitch=5.0)
    fits = np.array([[0.2 * i, 0.1, 4.0] for i in ids])  # (B, 3)
    intrinsics = np.broadcast_to(K, (len(ids), 3, 3))
    pose = rng.normal(size=(len(ids), 17, 3)) * 0.3  # (B, J, 3)
    pixels, mask = pose[..., :2] * 300.0 + [320.0, 240.0], np.zeros((len(ids), 17), bool)  # (B, J, 2), (B, J)
    calls: dict[str, list[float]] = {"root filter": [], "pose refiner": [], "ground plane": [], "One Euro": []}
    counts: Counter = Counter()
    for frame in range(600):
        stamp = frame * 33_333_333
        fit = fits + rng.normal(size=fits.shape) * 0.05
        for name, call in (("root filter", lambda: roots.update(stamp, ids, fit, np.ones(len(ids), np.uint8),
                                                                  intrinsics, counts)),
                           ("pose refiner", lambda: refiner.filter(stamp, ids, pose, pixels, mask)),
                           ("ground plane", lambda: ground.correct(stamp, ids, pose, fit, np.ones(len(ids), np.uint8),
                                                                   intrinsics, ~mask, counts, floor)),
                           ("One Euro", lambda: euro.filter(stamp, ids, pose))):
            started = time.perf_counter()
            call()
            calls[name].append(time.perf_counter() - started)
    for name, seconds in calls.items():
        per_track = np.array(seconds[50:]) * 1e3 / len(ids)
        print(f"{name}: per track p50 {np.median(per_track):.3f} ms, p90 {np.quantile(per_track, 0.9):.3f} ms "
              f"({len(ids)} tracks per call)")


if __name__ == "__main__":
    main()
