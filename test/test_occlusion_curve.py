"""tools/occlusion_curve.py (the model card's figure) runs end to end on a tiny checkpoint and synthetic data."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mpm_model.checkpoint import save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.model import MPMLifter

ROOT = Path(__file__).resolve().parents[1]


def test_occlusion_curve_writes_png_and_json(tmp_path: Path) -> None:
    cfg = ModelConfig(d_model=32, depth=1, heads=4, ffn_dim=64, encoder_hidden=64, decoder_depth=1)
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", MPMLifter(cfg), cfg, "lifter", {}, "none")
    data = tmp_path / "clip.npz"
    write_mocap(data, synthetic_sequences(2, 120, fps=50.0, seed=3))
    out = tmp_path / "curve.png"
    subprocess.run([sys.executable, str(ROOT / "tools/occlusion_curve.py"), "--data", str(data), "--out", str(out),
                    "--checkpoint", f"tiny={checkpoint}", "--ratios", "0,0.3", "--stride", "20"],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = json.loads(out.with_suffix(".json").read_text())["curves"]
    points = curves["tiny"]
    assert [p["occlusion"] for p in points] == [0.0, 0.3]
    assert all(np.isfinite(p["mpjpe_mm"]) and p["mpjpe_mm"] > 0 for p in points)
