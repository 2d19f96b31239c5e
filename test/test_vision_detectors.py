"""Real detectors on rendered pictures: MediaPipe BlazePose (the offline .task built by make setup) finds the
drawn person where the mocap says it is; the YOLO-pose ONNX path decodes, suppresses and un-letterboxes."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from mpm_model.skeleton import coco17_to_h36m17
from mpm_model.vision.detectors import MediaPipePoseDetector, OnnxYoloPoseDetector, create_detector
from mpm_model.vision.pose_task import default_task_path
from mpm_model.vision.render import render_clip

from camera_support import slice_clip

LIMBS = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]


def test_mediapipe_finds_the_rendered_person() -> None:
    clip = render_clip(slice_clip("wave-both-hands", 30), 30.0)
    detector = MediaPipePoseDetector(default_task_path())
    try:
        found, errors = 0, []
        for t, frame in enumerate(clip.frames):
            people = detector.detect(frame, int(t * 1000 / 30))
            if people:
                found += 1
                pixels, _ = coco17_to_h36m17(people[0].keypoints, people[0].confidence)
                errors.append(np.linalg.norm(pixels[LIMBS] - clip.pixels[t, LIMBS], axis=1))
        detector.reset()  # timestamps may start again after a reset
        assert len(detector.detect(clip.frames[0], 0)) <= 1
    finally:
        detector.close()
    assert found >= 27, f"person found in {found}/30 frames"
    assert np.median(np.concatenate(errors)) < 25.0


def test_missing_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="pose_task"):
        MediaPipePoseDetector(tmp_path / "none.task")
    with pytest.raises(ValueError, match="needs model_path"):
        create_detector("yolo_onnx", "", 1, 0.5)


def yolo_like_model(path, rows: np.ndarray, size: int = 320) -> str:
    """A stand-in for a user's YOLO-pose export: input (1, 3, size, size), constant output (1, 56, N)."""
    out = helper.make_tensor("out", TensorProto.FLOAT, rows.T[None].shape, rows.T[None].ravel().tolist())
    graph = helper.make_graph([helper.make_node("Constant", [], ["output0"], value=out)], "yolo_like",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, rows.T[None].shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_yolo_onnx_decodes_nms_and_unletterboxes(tmp_path) -> None:
    def row(cx: float, score: float) -> np.ndarray:
        points = np.stack([np.full(17, cx), np.linspace(100, 220, 17), np.full(17, 0.8)], axis=1)
        return np.concatenate([[cx, 160, 40, 130, score], points.ravel()])

    # Two boxes on one person (NMS keeps the better), one other person, one below the threshold.
    rows = np.stack([row(100, 0.9), row(102, 0.7), row(250, 0.8), row(200, 0.2)]).astype(np.float32)
    detector = OnnxYoloPoseDetector(yolo_like_model(tmp_path / "yolo.onnx", rows), max_people=5)
    # A 640x480 image letterboxes into 320x320 at scale 0.5 with 40 px bars top and bottom.
    people = detector.detect(np.zeros((480, 640, 3), np.uint8), 0)
    assert [round(p.score, 1) for p in people] == [0.9, 0.8]
    np.testing.assert_allclose(people[0].keypoints[0], [200, (100 - 40) / 0.5])
    np.testing.assert_allclose(people[0].confidence, 0.8)


def test_the_built_task_carries_the_input_normalisation() -> None:
    """make setup's .task: both BlazePose models with the metadata the Tasks API reads (detector input in
    [-1, 1], landmark model in [0, 1]), stored uncompressed."""
    import zipfile

    from mediapipe.tasks.metadata import metadata_schema_py_generated as md
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    from mpm_model.vision.pose_task import MODELS

    with zipfile.ZipFile(default_task_path()) as bundle:
        assert sorted(bundle.namelist()) == sorted(MODELS)
        for info in bundle.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            model = tfl.Model.GetRootAsModel(bytearray(bundle.read(info)), 0)
            entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer()
                       for i in range(model.MetadataLength())}
            data = model.Buffers(entries["TFLITE_METADATA"]).DataAsNumpy().tobytes()
            metadata = md.ModelMetadataT.InitFromObj(md.ModelMetadata.GetRootAsModelMetadata(bytearray(data), 0))
            options = metadata.subgraphMetadata[0].inputTensorMetadata[0].processUnits[0].options
            mean, std = MODELS[info.filename][2]
            assert (list(options.mean), list(options.std)) == ([mean], [std])
