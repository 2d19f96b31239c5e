"""Figures for mpm_ros.bags.report (matplotlib; the caller selects the Agg backend)."""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from mpm_model.skeleton import H36M_PARENTS
from mpm_ros.bags.run_data import RunData

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _to_plot(joints: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) → plot axes (x right, depth, up)."""
    return np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1)


def _draw_skeleton(ax: Any, joints: np.ndarray, color: str, label: str | None) -> None:
    points = _to_plot(joints)
    for child, parent in enumerate(H36M_PARENTS):
        if parent >= 0:
            segment = points[[parent, child]]
            ax.plot(segment[:, 0], segment[:, 1], segment[:, 2], color=color, linewidth=2,
                    label=label if child == 1 else None)
    ax.scatter(points[:, 0], points[:, 1], points[:, 2], color=color, s=6)


def plot_snapshot(run: RunData, report: dict[str, Any]) -> Figure:
    """The frame with the most matched people: ground truth beside the prediction placed at the true root."""
    import matplotlib.pyplot as plt

    by_stamp: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = defaultdict(list)
    for p in run.predictions:
        gt = run.ground_truth.get((p.stamp_ns, p.track_id))
        if gt is not None:
            by_stamp[p.stamp_ns].append((p.track_id, p.joints - p.joints[:1] + gt[:1], gt))
    figure = plt.figure(figsize=(10, 5))
    if not by_stamp:
        figure.text(0.5, 0.5, "no prediction matched a ground-truth skeleton", ha="center")
        return figure
    most = max(len(v) for v in by_stamp.values())
    stamps = sorted(s for s, v in by_stamp.items() if len(v) == most)
    stamp = stamps[len(stamps) // 2]
    colors = plt.get_cmap("tab10")
    panels = ("ground truth", "prediction (root placed at ground truth)")
    all_points = np.concatenate([np.concatenate([pred, gt]) for _, pred, gt in by_stamp[stamp]])
    low, high = _to_plot(all_points).min(0), _to_plot(all_points).max(0)
    centre, half = (low + high) / 2, (high - low).max() / 2 + 0.1
    for index, title in enumerate(panels):
        ax = figure.add_subplot(1, 2, index + 1, projection="3d")
        for track, pred, gt in by_stamp[stamp]:
            _draw_skeleton(ax, pred if index else gt, colors(track % 10), f"track {track}")
        ax.set_title(title)
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            setter(c - half, c + half)
        ax.set_xlabel("x (m)")
        ax.set_ylabel("depth (m)")
        ax.set_zlabel("up (m)")
        ax.legend(loc="upper left", fontsize=7)
    start = min(p.stamp_ns for p in run.predictions)
    figure.suptitle(f"t = {(stamp - start) / 1e9:.2f} s; MPJPE over the run {_fmt_mm(report.get('mpjpe_mm'))}")
    return figure


def _fmt_mm(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} mm"


def plot_error_over_time(run: RunData, report: dict[str, Any]) -> Figure:
    """Root-relative MPJPE per frame and track against time since the first prediction."""
    import matplotlib.pyplot as plt

    series: dict[int, list[tuple[float, float]]] = defaultdict(list)
    start = min((p.stamp_ns for p in run.predictions), default=0)
    for p in run.predictions:
        gt = run.ground_truth.get((p.stamp_ns, p.track_id))
        if gt is not None:
            error = np.linalg.norm((p.joints - p.joints[:1]) - (gt - gt[:1]), axis=-1).mean()
            series[p.track_id].append(((p.stamp_ns - start) / 1e9, error * 1e3))
    figure, ax = plt.subplots(figsize=(9, 4))
    for track, points in sorted(series.items()):
        t, e = np.asarray(points).T
        ax.plot(t, e, label=f"track {track}", linewidth=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MPJPE, root-relative (mm)")
    ax.set_title("per-frame error vs ground truth")
    if series:
        ax.legend(fontsize=7)
    figure.tight_layout()
    return figure


def plot_latency_histogram(run: RunData, report: dict[str, Any]) -> Figure:
    """End-to-end latency (receive time - source stamp) per /skeletons3d message."""
    import matplotlib.pyplot as plt

    latency_ms = np.asarray([(r - s) / 1e6 for r, s in run.output_messages])
    figure, ax = plt.subplots(figsize=(7, 4))
    if latency_ms.size:
        ax.hist(latency_ms, bins=min(50, max(5, latency_ms.size // 5)))
        lat = report["latency_ms"]
        for key, style in (("p50", "--"), ("p99", ":")):
            ax.axvline(lat[key], color="k", linestyle=style, label=f"{key} {lat[key]:.1f} ms")
        ax.legend()
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("messages")
    ax.set_title("source stamp → recorded output")
    figure.tight_layout()
    return figure
