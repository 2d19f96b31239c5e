"""Build MediaPipe's `pose_landmarker_full.task` offline from the Apache-2.0 BlazePose models that the pinned
`mediapipe==0.10.21` wheel bundles (pose_detection.tflite + pose_landmark_full.tflite).

Why: newer mediapipe wheels (Tasks API, numpy 2, no protobuf pin) bundle no pose model and download it at run
time; 0.10.21 bundles it but pins numpy<2/protobuf<5, which clash with onnx. So setup fetches the old wheel
with pip (not installed), checks the two models' sha256, adds the input-normalisation metadata the Tasks API
needs (legacy graph: detector input in [-1, 1], landmark model input in [0, 1]) and zips them as a .task.

    python -m mpm_model.vision.pose_task --out .venv/share/mpm_ros/models/pose_landmarker_full.task
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from mpm_model.files import atomic_path

SOURCE_WHEEL = "mediapipe==0.10.21"
MODELS = {  # name inside the .task → (path inside the wheel, sha256, (norm mean, norm std))
    "pose_detector.tflite": ("mediapipe/modules/pose_detection/pose_detection.tflite",
                             "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", (127.5, 127.5)),
    "pose_landmarks_detector.tflite": ("mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                                       "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
                                       (0.0, 255.0)),
}
ENV_VAR = "MPM_POSE_TASK"


def default_task_path() -> Path:
    """$MPM_POSE_TASK, else <python prefix>/share/mpm_ros/models/pose_landmarker_full.task (where setup puts it)."""
    return Path(os.environ.get(ENV_VAR) or Path(sys.prefix) / "share/mpm_ros/models/pose_landmarker_full.task")


def _with_metadata(model: bytes, mean: float, std: float, name: str) -> bytes:
    """Attach TFLite model metadata (RGB image input + its normalisation) the way the Tasks API reads it.

    Written with the flatbuffers object API of the schemas the mediapipe wheel ships: its own
    MetadataWriter needs a pybind module that the 1.x wheels no longer contain."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    graph = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(bytearray(model), 0))
    image = md.TensorMetadataT()
    image.name = "image"
    image.content = md.ContentT()
    image.content.contentPropertiesType = md.ContentProperties.ImageProperties
    image.content.contentProperties = md.ImagePropertiesT()
    image.content.contentProperties.colorSpace = md.ColorSpaceType.RGB
    unit = md.ProcessUnitT()
    unit.optionsType = md.ProcessUnitOptions.NormalizationOptions
    unit.options = md.NormalizationOptionsT()
    unit.options.mean, unit.options.std = [mean], [std]
    image.processUnits = [unit]
    subgraph = md.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [md.TensorMetadataT() for _ in graph.subgraphs[0].outputs]
    metadata = md.ModelMetadataT()
    metadata.name, metadata.version, metadata.minParserVersion = name, "0.10.21", "1.0.0"
    metadata.description = "BlazePose (Apache-2.0) from the mediapipe 0.10.21 wheel"
    metadata.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder), file_identifier=b"M001")
    buffer = tfl.BufferT()
    buffer.data = bytes(builder.Output())
    graph.buffers.append(buffer)
    entry = tfl.MetadataT()
    entry.name, entry.buffer = "TFLITE_METADATA", len(graph.buffers) - 1
    graph.metadata = (graph.metadata or []) + [entry]
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(graph.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def build_task(wheel: Path, out: Path) -> Path:
    """Extract, verify and annotate the two models from `wheel`; write the .task bundle to `out`."""
    bundle = {}
    with zipfile.ZipFile(wheel) as zf:
        for name, (member, sha256, (mean, std)) in MODELS.items():
            data = zf.read(member)
            digest = hashlib.sha256(data).hexdigest()
            if digest != sha256:
                raise RuntimeError(f"{member} in {wheel.name} has sha256 {digest}, expected {sha256}")
            bundle[name] = _with_metadata(data, mean, std, name)
    with atomic_path(out) as temp, zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED) as zf:  # stored: memory-mapped
        for name, data in bundle.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)  # reproducible bytes
    return out


def download_wheel(directory: Path) -> Path:
    """pip-download the pinned source wheel (no dependencies, nothing installed)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "-d", str(directory),
                    SOURCE_WHEEL], check=True)
    wheels = sorted(directory.glob("mediapipe-0.10.21-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download {SOURCE_WHEEL} produced no wheel in {directory}")
    return wheels[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="output .task (default: %(prog)s's default path)")
    parser.add_argument("--wheel", type=Path, default=None, help="an already downloaded mediapipe 0.10.21 wheel")
    args = parser.parse_args(argv)
    out = args.out or default_task_path()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        print(f"pose_task: wrote {build_task(wheel, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
