"""The whole pipeline on a short bag, through the same runner as `make demo` and `make bench-node`
(mpm_ros.harness.runner.run_pipeline): make_bag → lift_node (ONNX Runtime, subprocess) ← replay + record
(subprocess)
→ report. Checks stamps, track ids, completeness and the report's JSON/PNGs; accuracy only with shipped weights.
Also: the runner's discovery wait shuts its rclpy context down whatever happens, and says clearly when the
lifter was not discovered."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from mpm_model.checkpoint import list_pretrained  # noqa: E402
from mpm_model.data.mocap import write_mocap  # noqa: E402
from mpm_model.data.synthetic import synthetic_sequences  # noqa: E402
from mpm_ros.harness import process, runner  # noqa: E402
from mpm_ros.bags import bag_io  # noqa: E402
from mpm_ros.bags.make_bag import make_bag  # noqa: E402

FPS = 12.0
SECONDS = 3.0
# Accuracy bound for shipped weights on this synthetic, jittered, occluded clip (root-relative MPJPE).
SHIPPED_MPJPE_MM = 150.0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("e2e")
    write_mocap(base / "clip.npz", synthetic_sequences(2, 120, fps=30.0, seed=4))
    in_bag = base / "in_bag"
    make_bag(base / "clip.npz", in_bag, people=2, fps=FPS, duration=SECONDS, occlusion=0.1, dropout=0.05, seed=6)
    checkpoint = runner.best_checkpoint()  # what `make demo` runs: config/lift.yaml's shipped default
    node = runner.NodeOptions(checkpoint, "onnxruntime", base / "engines", env={"OMP_NUM_THREADS": "1"})
    result = runner.run_pipeline(runner.RunOptions(in_bag, base / "run", node, verbose=False, prefix="e2e",
                                                       replay_timeout_s=120.0))
    return {"base": base / "run", "in_bag": in_bag, "result": result, "report": result.report,
            "shipped": checkpoint in list_pretrained("lifter")}


def test_outputs_carry_source_stamps_and_track_ids(run: dict[str, Any]) -> None:
    result: runner.RunResult = run["result"]
    assert result.node_returncode == 0, "the node must exit cleanly on SIGINT\n" + result.node_log
    assert "replay done" in result.replay_log
    recorded = bag_io.read_topics(result.output_bag, ["/keypoints", "/skeletons3d"])
    inputs = {bag_io.stamp_ns(m.header): sorted(s.track_id for s in m.skeletons) for _, m in recorded["/keypoints"]}
    outputs = {bag_io.stamp_ns(m.header): sorted(s.track_id for s in m.skeletons) for _, m in recorded["/skeletons3d"]}
    assert len(inputs) == int(FPS * SECONDS)
    assert set(outputs) <= set(inputs), "an output stamp is not the stamp of any source frame"
    for stamp, tracks in outputs.items():
        assert set(tracks) <= set(inputs[stamp]), f"output at {stamp} has tracks {tracks}, input {inputs[stamp]}"
    for _, msg in recorded["/skeletons3d"]:
        for skeleton in msg.skeletons:
            assert len(skeleton.joints) == 17 and len(skeleton.masked) == 17


def test_completeness_when_the_node_keeps_up(run: dict[str, Any]) -> None:
    report = run["report"]
    delay = int(report["node"].get("output_delay_frames", 0))
    assert "dropped_total" in report["dropped"], "the node's diagnostics were not recorded"
    # Frames with nobody in view (dropouts) are counted as "empty_message": nothing to lift, nothing lost.
    lost = {k: v for k, v in report["dropped"].items() if k.startswith("dropped.") and k != "dropped.empty_message"}
    assert sum(lost.values()) == 0, report["dropped"]
    assert set(report["tracks"]) == {"1", "2"}
    for track, row in report["tracks"].items():
        assert row["inputs"] > 0
        assert row["inputs"] - delay <= row["outputs"] <= row["inputs"], f"track {track}: {row}"
        assert row["matched"] == row["outputs"], "every output must match a ground-truth skeleton"
    if delay == 0:
        assert report["completeness"] == 1.0 and report["stamps_match_inputs"] == 1.0


def test_report_fields_and_plots(run: dict[str, Any]) -> None:
    report = run["report"]
    for key in ("output_messages", "output_rate_hz", "latency_ms", "mpjpe_mm", "p_mpjpe_mm", "completeness",
                "dropped", "tracks", "node", "stamps_match_inputs"):
        assert key in report, key
    assert report["output_rate_hz"] == pytest.approx(FPS, rel=0.25)
    latency = report["latency_ms"]
    assert latency["count"] == report["output_messages"] > 0
    assert 0.0 < latency["p50"] <= latency["p99"] < 1000.0, latency
    assert report["mpjpe_mm"] > 0 and report["p_mpjpe_mm"] > 0
    assert report["node"]["backend"] == "onnxruntime"
    for name in ("snapshot.png", "error_over_time.png", "latency_hist.png"):
        png = run["base"] / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (run["base"] / "report.json").is_file() and (run["base"] / "node.log").is_file()
    text = run["result"].report_text
    assert "MPJPE" in text and "latency" in text


def test_accuracy_with_shipped_weights(run: dict[str, Any]) -> None:
    if not run["shipped"]:
        pytest.skip("no shipped weights in mpm_model/weights: the node ran a random-init model, so MPJPE "
                    "is not meaningful and is not asserted")
    assert run["report"]["mpjpe_mm"] < SHIPPED_MPJPE_MM, run["result"].report_text


def test_node_gets_only_weights_backend_and_cache() -> None:
    node = runner.NodeOptions("mpm_t27_causal", "onnxruntime", Path("/tmp/engines"))
    command = process.ros_arguments(node.parameters())
    params = sorted(arg.split(":=")[0] for arg in command[command.index("--ros-args") + 1:] if ":=" in arg)
    assert params == ["backend", "checkpoint", "engine_dir"]
    assert "checkpoint:=''" in process.ros_arguments(runner.NodeOptions().parameters()), \
        "empty checkpoint: random init, said explicitly"


class _FakeLifter:
    """Stands in for NodeProcess: never on the graph; alive or already exited."""

    module = "mpm_ros.lift_node"

    def __init__(self, tmp_path: Path, alive: bool) -> None:
        self.alive, self.pid, self.log = alive, 4242, tmp_path / "node.log"
        self.log.write_text("line 1\nlast line of the node log\n")

    def stop(self) -> int:
        return 1

    failure = process.NodeProcess.failure
    log_text = process.NodeProcess.log_text


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every rclpy Context the runner creates."""
    import rclpy

    created = []

    class Recorded(rclpy.Context):
        def __init__(self) -> None:
            super().__init__()
            self.ok_when_destroyed: bool | None = None
            created.append(self)

        def destroy(self) -> None:
            self.ok_when_destroyed = self.ok()
            super().destroy()

    monkeypatch.setattr(rclpy, "Context", Recorded)
    return created


@pytest.mark.parametrize("alive, message", [(False, "exited (status 1) before it was discovered"),
                                            (True, "was NOT DISCOVERED within 1 s")])
def test_discovery_failure_is_explicit_and_leaves_no_context(tmp_path: Path, contexts: list, alive: bool,
                                                             message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A node named like the lifter may be on the graph (an earlier test's, in this process): the fake is not it
    monkeypatch.setattr(runner, "LIFTER_NAME", "mpm_lifter_never_started")
    with pytest.raises(process.HarnessError) as failure:
        runner.wait_discovered(_FakeLifter(tmp_path, alive), timeout_s=1.0)
    assert message in str(failure.value) and "last line of the node log" in str(failure.value)
    assert len(contexts) == 1 and contexts[0].ok_when_destroyed is False, "the context must be shut down, destroyed"
