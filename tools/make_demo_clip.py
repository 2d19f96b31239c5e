"""Produce the small bundled demo clip mpm_model/assets/demo_clip.npz (shared mocap format, < 1 MB).

If the real test slice ../shared/data/mocap_h36m17_test_slice.npz exists, a few seconds of a few of its
sequences are cut from it (credits kept in the `source` key: Bandai Namco Research Motion dataset,
CC BY-NC 4.0; HDM05, CC BY-SA 3.0; CMU Graphics Lab Motion Capture Database). Otherwise the clip is procedural motion
from mpm_model.data.synthetic, labelled "synthetic-procedural (not captured)" in `source`.

    .venv/bin/python tools/make_demo_clip.py [--out mpm_model/assets/demo_clip.npz]

`--sequences WORD,...` writes instead the WHOLE test-slice sequences whose names contain one of the words
(resampled to 30 fps): docs/TEMPORAL.md's fast-motion condition, re-made on demand (never committed):

    .venv/bin/python tools/make_demo_clip.py --sequences dash,run,throw,hop,jog,kick,indian,salsa \
        --out /tmp/fast_clip.npz
"""
from __future__ import annotations

import argparse
from pathlib import Path


from mpm_model.data.mocap import MocapSequence, load_mocap, resample, write_mocap
from mpm_model.data.synthetic import synthetic_sequences

ROOT = Path(__file__).resolve().parents[1]
TEST_SLICE = ROOT.parent / "shared" / "data" / "mocap_h36m17_test_slice.npz"
DEFAULT_OUT = ROOT / "mpm_model" / "assets" / "demo_clip.npz"
CLIP_FPS = 30.0
CLIP_SECONDS = 12.0
NUM_SEQUENCES = 4
MAX_BYTES = 1_000_000
SYNTHETIC_SOURCE = "synthetic-procedural (not captured; mpm_model.data.synthetic)"
CREDITS = {
    "bandai": "Bandai Namco Research Motion dataset (CC BY-NC 4.0)",
    "cmu": "CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu)",
    "hdm05": "HDM05, Universität Bonn (CC BY-SA 3.0)",
}


def _credit(source: str) -> str:
    for key, credit in CREDITS.items():
        if key in source.lower():
            return credit
    return source or "mocap_h36m17_test_slice"


def from_test_slice(path: Path) -> list[MocapSequence]:
    """The first CLIP_SECONDS of the NUM_SEQUENCES longest sequences, resampled to CLIP_FPS."""
    sequences = sorted(load_mocap(path, drop_nonfinite=True), key=len, reverse=True)[:NUM_SEQUENCES]
    clips = []
    for seq in sequences:
        seq = resample(seq, CLIP_FPS)
        clips.append(MocapSequence(seq.name, seq.subject, CLIP_FPS, seq.poses3d[:int(CLIP_SECONDS * CLIP_FPS)],
                                   _credit(seq.source)))
    return clips


def selected(path: Path, words: list[str]) -> list[MocapSequence]:
    """Every sequence whose name contains one of `words`, whole, resampled to CLIP_FPS, in the file's order."""
    clips = [resample(seq, CLIP_FPS) for seq in load_mocap(path, drop_nonfinite=True)
             if any(word in seq.name for word in words)]
    if not clips:
        raise SystemExit(f"no sequence of {path} has one of {words} in its name")
    return [MocapSequence(c.name, c.subject, CLIP_FPS, c.poses3d, _credit(c.source)) for c in clips]


def synthetic() -> list[MocapSequence]:
    return [MocapSequence(s.name, s.subject, s.fps, s.poses3d, SYNTHETIC_SOURCE)
            for s in synthetic_sequences(NUM_SEQUENCES, int(CLIP_SECONDS * CLIP_FPS), CLIP_FPS, seed=2024)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--test-slice", type=Path, default=TEST_SLICE, help="real mocap to cut from, if present")
    parser.add_argument("--sequences", type=lambda text: [w for w in text.split(",") if w],
                        help="comma-separated words: the whole test-slice sequences whose names contain one")
    args = parser.parse_args(argv)
    if args.sequences:
        clips = selected(args.test_slice, args.sequences)
    else:
        clips = from_test_slice(args.test_slice) if args.test_slice.is_file() else synthetic()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_mocap(args.out, clips)
    size = args.out.stat().st_size
    if size >= MAX_BYTES:
        args.out.unlink()
        raise SystemExit(f"demo clip is {size} bytes, over the {MAX_BYTES} byte budget; shorten CLIP_SECONDS")
    frames = sum(len(c) for c in clips)
    print(f"wrote {args.out}: {len(clips)} sequences, {frames} frames at {CLIP_FPS:g} fps, {size} bytes, "
          f"source: {sorted({c.source for c in clips})}")


if __name__ == "__main__":
    main()
