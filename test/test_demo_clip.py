"""tools/make_demo_clip.py: cuts the bundled clip from a test slice in the shared format (keeping credits), or
falls back to labelled synthetic motion when the slice is absent."""
import subprocess
import sys
from pathlib import Path

import numpy as np

from mpm_model.data.mocap import MocapSequence, load_mocap, write_mocap
from mpm_model.data.synthetic import synthetic_sequences

ROOT = Path(__file__).resolve().parents[1]


def _make_clip(out: Path, test_slice: Path) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "tools/make_demo_clip.py"), "--out", str(out),
                             "--test-slice", str(test_slice)], check=True, capture_output=True, text=True, cwd=ROOT)
    return result.stdout


def test_clip_is_cut_from_a_test_slice_with_credits(tmp_path: Path) -> None:
    sources = ["bandai-namco-research-motion", "cmu-mocap", "bandai-namco-research-motion", "cmu-mocap",
               "cmu-mocap"]
    captured = [MocapSequence(s.name, s.subject, 50.0, s.poses3d, source)
                for s, source in zip(synthetic_sequences(5, 800, fps=50.0, seed=7), sources)]
    write_mocap(tmp_path / "slice.npz", captured)
    _make_clip(tmp_path / "clip.npz", tmp_path / "slice.npz")
    clip = load_mocap(tmp_path / "clip.npz")
    assert len(clip) == 4 and all(seq.fps == 30.0 and len(seq) == 360 for seq in clip)
    assert {seq.source for seq in clip} == {"Bandai Namco Research Motion dataset (CC BY-NC 4.0)",
                                            "CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu)"}
    # 30 fps resampling of the 50 Hz original: frame k of the clip is frame k * 50 / 30 of the source.
    original = {s.name: s.poses3d for s in captured}
    for seq in clip:
        np.testing.assert_allclose(seq.poses3d[3], original[seq.name][5], atol=1e-5)


def test_clip_falls_back_to_labelled_synthetic_motion(tmp_path: Path) -> None:
    _make_clip(tmp_path / "clip.npz", tmp_path / "missing.npz")
    clip = load_mocap(tmp_path / "clip.npz")
    assert all(seq.source.startswith("synthetic-procedural") for seq in clip)
    assert (tmp_path / "clip.npz").stat().st_size < 1_000_000


def test_sequences_filter_keeps_whole_matching_sequences(tmp_path: Path) -> None:
    """--sequences: every sequence whose name has one of the words, whole, at 30 fps (the fast-motion condition of
    docs/TEMPORAL.md); no match is an error, not an empty clip."""
    names = ["cmu/salsa_01", "cmu/walk", "x/dash"]
    captured = [MocapSequence(name, s.subject, 60.0, s.poses3d, "cmu-mocap")
                for s, name in zip(synthetic_sequences(3, 600, fps=60.0, seed=3), names)]
    write_mocap(tmp_path / "slice.npz", captured)
    subprocess.run([sys.executable, str(ROOT / "tools/make_demo_clip.py"), "--out", str(tmp_path / "fast.npz"),
                    "--test-slice", str(tmp_path / "slice.npz"), "--sequences", "salsa,dash"], check=True, cwd=ROOT,
                   capture_output=True)
    clip = load_mocap(tmp_path / "fast.npz")
    assert [seq.name for seq in clip] == ["cmu/salsa_01", "x/dash"] and all(len(s) == 300 for s in clip)
    failed = subprocess.run([sys.executable, str(ROOT / "tools/make_demo_clip.py"), "--out", str(tmp_path / "no.npz"),
                             "--test-slice", str(tmp_path / "slice.npz"), "--sequences", "kick"], cwd=ROOT,
                            capture_output=True, text=True)
    assert failed.returncode != 0 and "no sequence" in failed.stderr and not (tmp_path / "no.npz").exists()
