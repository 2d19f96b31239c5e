"""Draw what the pipeline believes onto the camera image: per track, the 2D keypoints the lifter received
(filled, hollow where masked) and the 3D skeleton reprojected through the intrinsics (thin darker bones, squares).
Where the two agree the lifting fits the picture. Colours are chosen by the caller (the node passes the RViz
marker colour of the track, so the image and RViz match)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mpm_model.skeleton import H36M_BONES

MIN_DEPTH_M = 0.1


@dataclass(frozen=True)
class OverlayTrack:
    """One track in H36M-17: (17, 2) pixels + (17,) bool masked; optional (17, 3) camera-frame metres."""

    track_id: int
    color: tuple[int, int, int]  # RGB 0-255
    pixels: np.ndarray
    masked: np.ndarray
    joints3d: np.ndarray | None = None


def reproject(joints3d: np.ndarray, intrinsics: np.ndarray) -> np.ndarray | None:
    """(J, 3) camera-frame metres → (J, 2) pixels; None when a joint is not in front of the camera (for example
    a root-relative skeleton the lifter could not place)."""
    joints3d = np.asarray(joints3d, np.float64)
    if not np.isfinite(joints3d).all() or (joints3d[:, 2] < MIN_DEPTH_M).any():
        return None
    k = np.asarray(intrinsics, np.float64)
    return joints3d[:, :2] / joints3d[:, 2:3] * [k[0, 0], k[1, 1]] + [k[0, 2], k[1, 2]]


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _finite(p: np.ndarray) -> bool:
    return bool(np.isfinite(p).all()) and abs(float(p[0])) < 1e6 and abs(float(p[1])) < 1e6


def draw_overlay(rgb: np.ndarray, tracks: list[OverlayTrack], intrinsics: np.ndarray | None) -> np.ndarray:
    """A copy of `rgb` (H, W, 3) uint8 with every track drawn; 3D is drawn only with intrinsics."""
    image = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    radius = max(2, int(round(min(image.shape[:2]) / 160)))
    for track in tracks:
        color = tuple(int(c) for c in track.color)
        dark = tuple(int(c * 0.55) for c in color)
        pixels = np.asarray(track.pixels, np.float64)
        for a, b in H36M_BONES:
            if not (track.masked[a] or track.masked[b]) and _finite(pixels[a]) and _finite(pixels[b]):
                cv2.line(image, _pt(pixels[a]), _pt(pixels[b]), color, 2, cv2.LINE_AA)
        for j, p in enumerate(pixels):
            if _finite(p):
                cv2.circle(image, _pt(p), radius, color, 1 if track.masked[j] else -1, cv2.LINE_AA)
        projected = None
        if track.joints3d is not None and intrinsics is not None:
            projected = reproject(track.joints3d, intrinsics)
        if projected is not None:
            for a, b in H36M_BONES:
                cv2.line(image, _pt(projected[a]), _pt(projected[b]), dark, 1, cv2.LINE_AA)
            for p in projected:
                c = _pt(p)
                cv2.rectangle(image, (c[0] - radius, c[1] - radius), (c[0] + radius, c[1] + radius), dark, 1)
        visible = pixels[~np.asarray(track.masked, bool)]
        visible = visible[np.isfinite(visible).all(axis=1)]
        if len(visible):
            label = f"#{track.track_id}" + ("" if projected is not None else " (2D only)")
            anchor = _pt(visible.min(axis=0) - [0, 2 * radius])
            cv2.putText(image, label, anchor, cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return image
