"""Issue 27 item 4: one registry of the lifter's drop and mask reasons (mpm_model.streaming.reasons), shared by the
producers, the node's counters and the load-health rules, and docs/NODE.md's counter tables checked against it."""
import re
from pathlib import Path

import pytest

from mpm_model.streaming import camera, depth_history
from mpm_model.streaming.reasons import DROPPED, FRAME_LOSSES, MASKED
from mpm_ros import load_health, tf_output
from mpm_ros.diagnostics import PipelineStats

ROOT = Path(__file__).resolve().parents[1]
# The product modules that count reasons for the lifter (tools such as placement_eval have their own counters)
PRODUCERS = [*sorted((ROOT / "mpm_model/streaming").glob("*.py")),
             *(ROOT / "mpm_ros" / name for name in ("frame_decoder.py", "inputs.py", "layouts.py", "lift_node.py",
                                                    "tf_output.py"))]
LITERAL = re.compile(r'(?:Drop\(|_count\(|stats\.drop\(|stats\.mask\(|LayoutError\(|dropped\[|masked\[|counts\[)'
                     r'"([a-z_.]+)"')


def _doc_table(heading: str) -> set[str]:
    """Reason names in the first column of the NODE.md table after `heading`."""
    text = (ROOT / "docs/NODE.md").read_text()
    table = text[text.index(heading):].split("\n\n")[1]
    cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for cell in cells for name in re.findall(r"`([a-z_.]+)`", cell)}


def test_every_literal_reason_a_producer_counts_is_registered() -> None:
    found = {(path.name, name) for path in PRODUCERS for name in LITERAL.findall(path.read_text())}
    assert len(found) > 20, "the scan finds the producers' reasons"
    assert [(module, name) for module, name in found if name not in DROPPED and name not in MASKED] == []


def test_the_named_constants_and_stamp_refusals_are_registered() -> None:
    for name in (depth_history.FRAME_MISMATCH, depth_history.BEHIND, depth_history.NO_IMAGE,
                 depth_history.ARRIVED_LATE, camera.FRAME_MISMATCH, camera.INTRINSICS_CHANGED, tf_output.TF_MISSING):
        assert name in MASKED, name
    for name in (depth_history.SIZE_MISMATCH, depth_history.INVALID_IMAGE, "duplicate_stamp", "out_of_order_stamp",
                 "stamp_outlier"):
        assert name in DROPPED, name


def test_load_health_judges_the_registrys_frame_losses() -> None:
    assert load_health.FRAME_LOSSES is FRAME_LOSSES
    assert {"stamp_outlier", "inference_queue_full", "malformed_message"} <= FRAME_LOSSES
    assert "too_many_tracks" not in FRAME_LOSSES, "a skeleton drop keeps the frame"


def test_the_lifters_stats_refuse_an_unregistered_reason() -> None:
    stats = PipelineStats(DROPPED, MASKED)
    stats.drop("stamp_outlier")
    stats.mask("depth.behind")
    with pytest.raises(ValueError, match="not registered"):
        stats.drop("a_new_reason")
    with pytest.raises(ValueError, match="not registered"):
        stats.mask("a_new_reason", 0)
    PipelineStats().drop("detector_busy")  # the front-end nodes' counters are not the lifter's


def test_node_md_lists_exactly_the_registered_reasons() -> None:
    assert _doc_table("**`dropped.*`**") == set(DROPPED)
    assert _doc_table("**`masked.*`**") == set(MASKED)
