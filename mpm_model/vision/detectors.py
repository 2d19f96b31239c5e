"""The 2D pose detector interface of the camera front end, and the two detectors behind it.

- `MediaPipePoseDetector`: BlazePose through the MediaPipe Tasks API (offline .task built at setup by
  `mpm_model.vision.pose_task`), VIDEO mode (temporal landmark tracking), up to `max_people` people.
- `OnnxYoloPoseDetector`: a user-supplied YOLO-pose ONNX model (Ultralytics export, output (1, 56, N):
  box cx, cy, w, h, person score, then 17 × (x, y, score) COCO keypoints) run with ONNX Runtime. No weights
  ship with this project (the common ones are AGPL-3.0): bring your own.
A detector returns COCO-17 pixels + confidence per person; ids come from `mpm_model.vision.tracker`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from mpm_model.vision.keypoints import blazepose33_to_coco17

LAYOUT = "coco17"


@dataclass(frozen=True)
class Detection:
    """One person: (17, 2) COCO-17 pixels, (17,) confidence in [0, 1], detector score."""

    keypoints: np.ndarray
    confidence: np.ndarray
    score: float


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray, stamp_ms: int) -> list[Detection]:
        """People in one (H, W, 3) uint8 RGB frame; stamp_ms strictly increases between calls (until reset)."""

    def reset(self) -> None:
        """Forget temporal state (after the input stamps jumped back)."""

    def close(self) -> None:
        """Release the runtime."""


class MediaPipePoseDetector:
    """BlazePose (33 landmarks; `visibility` is the confidence) in the MediaPipe Tasks VIDEO mode."""

    name = "mediapipe"

    def __init__(self, model_path: str | Path, max_people: int = 1, min_detection_confidence: float = 0.5,
                 min_presence_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"MediaPipe pose model {model_path} not found: build it with "
                                    "`python -m mpm_model.vision.pose_task` (make setup does)")
        from mediapipe.tasks.python import BaseOptions, vision

        self._options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)), running_mode=vision.RunningMode.VIDEO,
            num_poses=max_people, min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence, min_tracking_confidence=min_tracking_confidence)
        self._factory = vision.PoseLandmarker.create_from_options
        self._landmarker = self._factory(self._options)

    def detect(self, rgb: np.ndarray, stamp_ms: int) -> list[Detection]:
        import mediapipe as mp

        height, width = rgb.shape[:2]
        result = self._landmarker.detect_for_video(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)), int(stamp_ms))
        people = []
        for landmarks in result.pose_landmarks:
            values = np.array([(p.x * width, p.y * height, p.visibility if p.visibility is not None else 0.0)
                               for p in landmarks], np.float32)
            keypoints, confidence = blazepose33_to_coco17(values[:, :2], np.clip(values[:, 2], 0.0, 1.0))
            people.append(Detection(keypoints, confidence, float(confidence.mean())))
        return people

    def reset(self) -> None:
        self.close()
        self._landmarker = self._factory(self._options)

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression over (N, 4) x0, y0, x1, y1 boxes."""
    order, keep = list(np.argsort(-scores)), []
    while order:
        best = order.pop(0)
        keep.append(best)
        x0 = np.maximum(boxes[best, 0], boxes[order, 0])
        y0 = np.maximum(boxes[best, 1], boxes[order, 1])
        x1 = np.minimum(boxes[best, 2], boxes[order, 2])
        y1 = np.minimum(boxes[best, 3], boxes[order, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        iou = inter / np.maximum(_area(boxes[best]) + _area(boxes[order]) - inter, 1e-9)
        order = [o for o, v in zip(order, iou) if v < iou_threshold]
    return keep


class OnnxYoloPoseDetector:
    """A YOLO-pose ONNX model (fixed square input, e.g. 640) with letterboxing, score threshold and NMS."""

    name = "yolo_onnx"

    def __init__(self, model_path: str | Path, max_people: int = 10, min_detection_confidence: float = 0.5,
                 iou_threshold: float = 0.6, providers: tuple[str, ...] = ("CPUExecutionProvider",)) -> None:
        import onnxruntime as ort

        self._session = ort.InferenceSession(str(model_path), providers=list(providers))
        model_input = self._session.get_inputs()[0]
        shape = model_input.shape
        if len(shape) != 4 or not all(isinstance(s, int) for s in shape[2:]):
            raise ValueError(f"{model_path}: expected a fixed (1, 3, H, W) input, got {shape}")
        self._input, self._size = model_input.name, (int(shape[2]), int(shape[3]))
        self.max_people, self.min_score, self.iou_threshold = max_people, min_detection_confidence, iou_threshold

    def _letterbox(self, rgb: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        import cv2

        (h_in, w_in), (h, w) = self._size, rgb.shape[:2]
        scale = min(h_in / h, w_in / w)
        resized = cv2.resize(rgb, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_LINEAR)
        pad = np.array([(w_in - resized.shape[1]) // 2, (h_in - resized.shape[0]) // 2])
        canvas = np.full((h_in, w_in, 3), 114, np.uint8)
        canvas[pad[1]:pad[1] + resized.shape[0], pad[0]:pad[0] + resized.shape[1]] = resized
        return canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0, scale, pad

    def detect(self, rgb: np.ndarray, stamp_ms: int) -> list[Detection]:
        tensor, scale, pad = self._letterbox(rgb)
        output = np.asarray(self._session.run(None, {self._input: tensor})[0])
        if output.ndim != 3 or output.shape[1] != 56:
            raise ValueError(f"YOLO-pose output must be (1, 56, N), got {output.shape}")
        rows = output[0].T  # (N, 56)
        rows = rows[rows[:, 4] >= self.min_score]
        if not len(rows):
            return []
        boxes = np.concatenate([rows[:, :2] - rows[:, 2:4] / 2, rows[:, :2] + rows[:, 2:4] / 2], axis=1)
        keep = _nms(boxes, rows[:, 4], self.iou_threshold)[:self.max_people]
        people = []
        for row in rows[keep]:
            points = row[5:].reshape(17, 3)
            keypoints = (points[:, :2] - pad) / scale
            people.append(Detection(keypoints.astype(np.float32), np.clip(points[:, 2], 0, 1).astype(np.float32),
                                    float(row[4])))
        return people

    def reset(self) -> None:
        """Stateless per frame."""

    def close(self) -> None:
        self._session = None


DETECTORS = ("mediapipe", "yolo_onnx")


def create_detector(name: str, model_path: str | Path, max_people: int,
                    min_detection_confidence: float) -> Detector:
    """The detector called `name` (one of DETECTORS)."""
    if name == "mediapipe":
        return MediaPipePoseDetector(model_path, max_people, min_detection_confidence)
    if name == "yolo_onnx":
        if not str(model_path):
            raise ValueError("detector yolo_onnx needs model_path: a YOLO-pose .onnx you supply (none ships)")
        return OnnxYoloPoseDetector(model_path, max_people, min_detection_confidence)
    raise ValueError(f"unknown detector {name!r}; expected one of {list(DETECTORS)}")
