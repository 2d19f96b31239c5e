"""tools/model_card.py (every number of the model card) runs end to end on tiny checkpoints and synthetic data."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mpm_model.checkpoint import save_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.model import MPMLifter, MPMPretrainModel
from mpm_model.tcn import TCNLifter

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(d_model=32, depth=1, heads=4, ffn_dim=64, encoder_hidden=64, decoder_depth=1, window=9,
            stride_schedule=(3, 3), causal=True)


def test_model_card_writes_tables_json_and_figure(tmp_path: Path) -> None:
    cfg = ModelConfig(**TINY)
    tcn = ModelConfig(**{**TINY, "arch": "tcn"})
    mpm = save_checkpoint(tmp_path / "mpm.pt", MPMLifter(cfg), cfg, "lifter", {}, "none")
    base = save_checkpoint(tmp_path / "tcn.pt", TCNLifter(tcn), tcn, "lifter", {}, "none")
    pre = save_checkpoint(tmp_path / "pre.pt", MPMPretrainModel(cfg), cfg, "pretrain", {}, "none")
    seqs = synthetic_sequences(4, 90, fps=30.0, seed=3)
    for i, seq in enumerate(seqs):
        seq.source, seq.subject = ("a", "b")[i % 2], f"s{i}"
    data = tmp_path / "clip.npz"
    write_mocap(data, seqs)
    out = tmp_path / "card"
    cmd = [sys.executable, str(ROOT / "tools/model_card.py"), "--test", str(data), "--train", str(data),
           "--lifter", f"tiny MPM={mpm}", "--lifter", f"tiny TCN={base}", "--pretrain", str(pre),
           "--out", str(out), "--bench-runs", "3", "--cache", str(tmp_path / "cache")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(out.with_suffix(".json").read_text())
    labels = [r["label"] for r in report["lifters"]]
    assert labels == ["tiny MPM", "tiny TCN"]
    for r in report["lifters"]:
        for entry in r["test"].values():
            assert np.isfinite(entry["metrics"]["mpjpe_mm"]) and set(entry["per_source"]) == {"a", "b"}
        assert r["val"] and r["latency_ms"]["b1"] > 0
    assert set(report["completion"]) == {"0.1", "0.3", "0.5", "0.7"}
    table = out.with_suffix(".md").read_text()
    assert "| tiny TCN |" in table and "3D completion" in table
    first = out.with_suffix(".json").read_text()
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3  # two lifters + completion
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)  # every model from the cache
    def measured(text: str) -> list:  # latency is re-measured on every run, side by side
        return [{k: v for k, v in r.items() if k != "latency_ms"} for r in json.loads(text)["lifters"]]
    assert measured(out.with_suffix(".json").read_text()) == measured(first)


def plain_and(tmp_path: Path, flag: list[str]) -> tuple[dict, dict, str, str]:
    """A tiny lifter's card plain and with `flag` (one cache folder): both lifter results and both tables."""
    cfg = ModelConfig(**TINY)
    mpm = save_checkpoint(tmp_path / "mpm.pt", MPMLifter(cfg), cfg, "lifter", {}, "none")
    data = tmp_path / "clip.npz"
    write_mocap(data, synthetic_sequences(2, 90, fps=30.0, seed=4))
    cmd = [sys.executable, str(ROOT / "tools/model_card.py"), "--test", str(data), "--lifter", f"tiny={mpm}",
           "--bench-runs", "2", "--cache", str(tmp_path / "cache")]
    for name, extra in (("plain", []), ("other", flag)):
        done = subprocess.run(cmd + ["--out", str(tmp_path / name)] + extra, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2, "cached apart"
    results = [json.loads((tmp_path / f"{n}.json").read_text())["lifters"][0] for n in ("plain", "other")]
    return (*results, *((tmp_path / f"{n}.md").read_text() for n in ("plain", "other")))


def test_mirror_measures_the_mirrored_mean_in_its_own_cache(tmp_path: Path) -> None:
    """`--mirror` (the node's mirror_max_tracks): another result than plain, cached apart, said in the title."""
    plain, mirrored, plain_md, mirrored_md = plain_and(tmp_path, ["--mirror"])
    assert not plain["mirror"] and mirrored["mirror"]
    assert plain["test"]["h36m"]["metrics"]["mpjpe_mm"] != mirrored["test"]["h36m"]["metrics"]["mpjpe_mm"]
    assert "mirrored" in mirrored_md and "mirrored" not in plain_md


def test_gap_fill_bridges_the_masked_conditions_only_in_its_own_cache(tmp_path: Path) -> None:
    """`--gap-fill 8` (the node's gap_fill_frames): the occluded conditions change, the clean one not; cached apart."""
    plain, bridged, plain_md, bridged_md = plain_and(tmp_path, ["--gap-fill", "8"])
    assert plain["gap_fill"] == 0 and bridged["gap_fill"] == 8
    mpjpe = {n: [r["test"][c]["metrics"]["mpjpe_mm"] for c in ("h36m", "h36m_occ30")] for n, r in
             (("plain", plain), ("bridged", bridged))}
    assert mpjpe["plain"][0] == mpjpe["bridged"][0] and mpjpe["plain"][1] != mpjpe["bridged"][1]
    assert "bridged first" in bridged_md and "bridged first" not in plain_md
