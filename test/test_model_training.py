"""End-to-end CLIs on synthetic mocap: pretrain -> finetune (with and without pretraining) -> evaluate,
plus --resume, --max-minutes, --help, the old `python -m mpm_model.<cli>` paths and the typed options."""
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from mpm_model.checkpoint import load_checkpoint
from mpm_model.config import ModelConfig
from mpm_model.masking import PretrainObjective
from mpm_model.deploy import model_stats
from mpm_model.training import evaluate, finetune, pretrain
from mpm_model.training.finetune import FinetuneOptions
from mpm_model.training.pretrain import PretrainOptions
from mpm_model.data.mocap import write_mocap
from mpm_model.data.synthetic import synthetic_sequences

TINY = ["--d-model", "32", "--depth", "1", "--heads", "4", "--ffn-dim", "64", "--encoder-hidden", "64",
        "--decoder-depth", "1", "--cameras", "1", "--stride", "4", "--batch-size", "16", "--lr", "3e-3",
        "--val-fraction", "0.25"]


@pytest.fixture(scope="module")
def mocap(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("mocap") / "synthetic.npz"
    write_mocap(path, synthetic_sequences(4, 200, seed=0))
    return path


@pytest.fixture(scope="module")
def pretrained(mocap, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain")
    history = pretrain.main(["--data", str(mocap), "--out", str(out), "--epochs", "4", *TINY])
    return out, history


def test_pretrain_lowers_loss_and_checkpoints(pretrained):
    out, history = pretrained
    assert len(history) == 4
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[-1]["val_loss"] < 0.7 * history[0]["val_loss"]
    model, cfg, meta = load_checkpoint(out / "last.pt", kind="pretrain")
    assert cfg.d_model == 32 and meta["epoch"] == 3 and len(meta["data_hash"]) == 16
    assert meta["train_args"]["rate_range"] == [20.0, 60.0] and meta["train_args"]["fixed_masks"] is False
    assert meta["train_args"]["objective"] == dataclasses.asdict(PretrainObjective())
    assert meta["train_args"]["dropout"] == 0.1 and "model" not in meta["train_args"]  # the config says it
    assert (out / "best.pt").is_file() and len(json.loads((out / "history.json").read_text())) == 4


def test_finetune_from_pretrained_and_ablation(mocap, pretrained, tmp_path):
    pre_out, _ = pretrained
    with_pre = finetune.main(["--data", str(mocap), "--out", str(tmp_path / "ft"), "--epochs", "3",
                              "--pretrained", str(pre_out / "best.pt"), *TINY])
    assert with_pre[-1]["train_loss"] < 0.7 * with_pre[0]["train_loss"]
    _, _, meta = load_checkpoint(tmp_path / "ft" / "last.pt", kind="lifter")
    assert meta["extra"]["pretrained"].endswith("best.pt") and len(meta["extra"]["transfer"]["copied"]) > 10
    scratch = finetune.main(["--data", str(mocap), "--out", str(tmp_path / "scratch"), "--epochs", "1", *TINY])
    assert len(scratch) == 1
    _, _, meta = load_checkpoint(tmp_path / "scratch" / "last.pt")
    assert meta["extra"]["pretrained"] is None
    with pytest.raises(SystemExit, match="different encoder shape"):
        finetune.main(["--data", str(mocap), "--out", str(tmp_path / "bad"), "--epochs", "1",
                       "--pretrained", str(pre_out / "best.pt"), *TINY, "--d-model", "64"])

    for task in ("lift", "lift_occluded"):
        report = evaluate.main(["--checkpoint", str(tmp_path / "ft" / "best.pt"), "--data", str(mocap),
                                "--task", task, "--stride", "8",
                                "--json-out", str(tmp_path / f"{task}.json")])
        saved = json.loads((tmp_path / f"{task}.json").read_text())
        assert saved == report and set(saved["metrics"]) == {
            "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "velocity_error_mm", "pck150", "auc", "frames"}
        assert set(saved["per_source"]) == {"synthetic-procedural"}
        assert 0 < saved["metrics"]["p_mpjpe_mm"] <= saved["metrics"]["mpjpe_mm"] + 1e-6
    with pytest.raises(SystemExit, match="causal"):
        evaluate.main(["--checkpoint", str(tmp_path / "ft" / "best.pt"), "--data", str(mocap), "--causal"])


def test_complete_task_and_kind_check(mocap, pretrained):
    pre_out, _ = pretrained
    report = evaluate.main(["--checkpoint", str(pre_out / "best.pt"), "--data", str(mocap), "--task", "complete",
                            "--stride", "8", "--split", "val", "--occlusion", "0.3"])
    metrics = report["metrics"]
    assert metrics["mpjpe_mm"] > 0 and metrics["masked_mpjpe_mm"] > 0 and report["split"] == "val"
    with pytest.raises(SystemExit, match="expected 'lifter'"):
        evaluate.main(["--checkpoint", str(pre_out / "best.pt"), "--data", str(mocap), "--task", "lift"])


def test_resume_and_time_budget(mocap, tmp_path):
    out = tmp_path / "causal"
    args = ["--data", str(mocap), "--out", str(out), *TINY, "--causal", "--lookahead", "1", "--max-batches", "2"]
    first = finetune.main([*args, "--epochs", "3", "--max-minutes", "0"])
    assert len(first) == 1  # budget spent after the first epoch
    resumed = finetune.main([*args, "--epochs", "2", "--resume", str(out / "last.pt")])
    assert [h["epoch"] for h in resumed] == [0, 1]
    _, cfg, meta = load_checkpoint(out / "last.pt")
    assert cfg.causal and cfg.lookahead == 1 and meta["epoch"] == 1
    with pytest.raises(ValueError, match="config mismatch"):
        finetune.main([*args, "--epochs", "3", "--resume", str(out / "last.pt"), "--window", "81"])


def test_help_and_model_stats(capsys):
    for module in (pretrain, finetune, evaluate):
        with pytest.raises(SystemExit) as exc:
            module.main(["--help"])
        assert exc.value.code == 0
    rows = model_stats.main(["--windows", "27"])
    assert {r["model"] for r in rows} == {"lifter", "pretrain"} and all(r["gflops"] > 0 for r in rows)
    assert "GFLOPs" in capsys.readouterr().out


@pytest.mark.parametrize("module", ["mpm_model.training.finetune", "mpm_model.training.pretrain",
                                    "mpm_model.training.evaluate"])
def test_module_entry_points(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--data" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("cls,module", [(FinetuneOptions, finetune), (PretrainOptions, pretrain)])
def test_cli_defaults_are_the_options_defaults(cls, module):
    """Each default is written once, on the options dataclass; the parser only repeats it."""
    def parse(*extra: str):
        return cls.from_args(module.build_parser().parse_args(["--data", "d.npz", "--out", "o", *extra]))

    assert parse() == cls(data="d.npz", out="o")
    assert parse().model == ModelConfig() and parse().view().detector is not None
    window81 = parse("--window", "81", "--causal", "--lookahead", "3", "--dropout", "0.2")
    assert window81.model == ModelConfig(window=81, causal=True, lookahead=3) and window81.dropout == 0.2
    assert parse("--clean-2d").view().detector is None and parse("--rate-range", "10", "20").rate_range == (10.0, 20.0)


def test_invalid_options_exit_with_the_reason(mocap, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        finetune.main(["--data", str(mocap), "--out", str(tmp_path), "--val-fraction", "1.5"])
    assert stop.value.code == 2 and "val fraction must be in (0, 1)" in capsys.readouterr().err
    for module, flags, reason in [(finetune, ["--lookahead", "2"], "lookahead > 0 only applies to causal"),
                                  (finetune, ["--dropout", "1.0"], "dropout must be in [0, 1)"),
                                  (pretrain, ["--spatial-mask-joints", "17"], "spatial_mask_joints must be in [0, 17)")]:
        with pytest.raises(SystemExit) as stop:
            module.main(["--data", str(mocap), "--out", str(tmp_path), *flags])
        assert stop.value.code == 2 and reason in capsys.readouterr().err
    parser = pretrain.build_parser()
    opts = PretrainOptions.from_args(parser.parse_args(["--data", "d", "--out", "o", "--spatial-mask-joints", "3"]))
    assert opts.objective == PretrainObjective(spatial_mask_joints=3)
