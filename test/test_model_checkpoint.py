"""Checkpoints: round trip, config/kind mismatch, corrupt files, one resolver for paths and shipped names."""
import pytest
import torch

from mpm_model import checkpoint
from mpm_model.checkpoint import (CheckpointError, build_model, list_pretrained, load_checkpoint, load_lifter,
                                  read_config, resolve, save_checkpoint)
from mpm_model.config import ModelConfig
from mpm_model.model import MPMLifter, MPMPretrainModel
from mpm_model.shipping import MAX_DEVIATION_MM, reference_deviation_mm, ship_checkpoint

torch.set_num_threads(1)
CFG = ModelConfig(d_model=32, depth=1, heads=4, ffn_dim=64, encoder_hidden=64, decoder_depth=1, causal=True)


def test_round_trip_reproduces_outputs(tmp_path):
    lifter = MPMLifter(CFG).eval()
    optimizer = torch.optim.AdamW(lifter.parameters())
    path = save_checkpoint(tmp_path / "a" / "l.pt", lifter, CFG, "lifter", {"lr": 1e-3}, "abc123", optimizer, 4)
    model, cfg, meta = load_checkpoint(path, expected_config=CFG, kind="lifter")
    assert isinstance(model, MPMLifter) and cfg == CFG and not model.training
    assert meta["data_hash"] == "abc123" and meta["epoch"] == 4 and meta["train_args"] == {"lr": 1e-3}
    assert meta["optimizer"] is not None
    kp = torch.randn(2, 27, 17, 2)
    mask = torch.zeros(2, 27, 17, dtype=torch.bool)
    assert torch.equal(model(kp, mask)[1], lifter(kp, mask)[1])
    assert not list((tmp_path / "a").glob("*.tmp"))  # no temporary file left beside it


@pytest.mark.parametrize("kind,arch", [("lifter", "mpm"), ("lifter", "tcn"), ("pretrain", "mpm")])
def test_dropout_is_a_build_argument_not_saved(tmp_path, kind, arch):
    """Training builds with its dropout; the checkpoint keeps the architecture only, so a loaded model has none."""
    cfg = CFG.replace(arch=arch)
    model = build_model(kind, cfg, dropout=0.3)
    rates = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert rates == {0.3}
    path = save_checkpoint(tmp_path / "d.pt", model, cfg, kind, {"dropout": 0.3}, "h")
    loaded, _, meta = load_checkpoint(path)
    assert {m.p for m in loaded.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
    assert "dropout" not in torch.load(path, weights_only=True)["config"] and meta["train_args"]["dropout"] == 0.3


@pytest.mark.parametrize("kind", ["lifter", "pretrain"])
def test_ship_stores_half_loads_float32_and_checks_itself(tmp_path, kind):
    torch.manual_seed(0)
    cfg = CFG.replace(encoder_hidden=256)  # its 256x256 layers are large enough to be stored in half precision
    model = (MPMLifter if kind == "lifter" else MPMPretrainModel)(cfg).eval()
    optimizer = torch.optim.AdamW(model.parameters())
    source = save_checkpoint(tmp_path / "best.pt", model, cfg, kind, {"lr": 1e-3}, "h", optimizer, 3)
    shipped = ship_checkpoint(source, "tiny", weights_dir=tmp_path / "weights")
    raw = torch.load(shipped, weights_only=True)
    assert raw["storage"] == "float16" and raw["optimizer"] is None
    assert {v.dtype for v in raw["state_dict"].values() if v.numel() > 40000} == {torch.float16}
    loaded, _, meta = load_checkpoint(shipped, kind=kind, expected_config=cfg)
    assert {p.dtype for p in loaded.parameters()} == {torch.float32} and meta["train_args"] == {"lr": 1e-3}
    assert "CC BY-NC" in meta["licence"] and shipped.stat().st_size < source.stat().st_size
    assert 0.0 < reference_deviation_mm(shipped) <= MAX_DEVIATION_MM
    with pytest.raises(CheckpointError, match="ship from the float32"):
        ship_checkpoint(shipped, "again", weights_dir=tmp_path / "weights")
    raw["reference"]["outputs"][0, 0, 5, 0] += 0.002  # a stored output off by 2 mm is caught
    torch.save(raw, tmp_path / "tampered.pt")
    assert reference_deviation_mm(tmp_path / "tampered.pt") > 1.9


def test_ship_refuses_weights_half_precision_cannot_hold(tmp_path):
    """Outputs hundreds of metres large lose far more than 0.5 mm to float16 rounding: nothing is written."""
    cfg = CFG.replace(encoder_hidden=256)
    model = MPMLifter(cfg).eval()
    with torch.no_grad():
        model.head_target.weight.mul_(3e4)  # amplifies the rounding of the half-stored 256x256 layers
    source = save_checkpoint(tmp_path / "big.pt", model, cfg, "lifter", {}, "h")
    with pytest.raises(CheckpointError, match=r"float16 storage moves a joint by .* mm .*not shipped"):
        ship_checkpoint(source, "big", weights_dir=tmp_path / "weights")
    assert not (tmp_path / "weights" / "big.pt").exists() and not list((tmp_path / "weights").glob("*.tmp"))


def test_config_and_kind_mismatch(tmp_path):
    path = save_checkpoint(tmp_path / "p.pt", MPMPretrainModel(CFG), CFG, "pretrain", {}, "h")
    with pytest.raises(CheckpointError, match=r"config mismatch \(causal: checkpoint True vs expected False"):
        load_checkpoint(path, expected_config=CFG.replace(causal=False))
    with pytest.raises(CheckpointError, match="is a 'pretrain' checkpoint, expected 'lifter'"):
        load_checkpoint(path, kind="lifter")
    with pytest.raises(ValueError, match="kind"):
        save_checkpoint(tmp_path / "x.pt", MPMLifter(CFG), CFG, "pretrain", {}, "h")
    with pytest.raises(ValueError, match="kind must be"):
        save_checkpoint(tmp_path / "x.pt", MPMLifter(CFG), CFG, "engine", {}, "h")


def test_corrupt_foreign_and_tampered_files(tmp_path):
    good = save_checkpoint(tmp_path / "g.pt", MPMLifter(CFG), CFG, "lifter", {}, "h")
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "f.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an mpm_model.checkpoint"):
        load_checkpoint(foreign)
    payload = torch.load(good, weights_only=True)
    payload["config"].update(window=81, stride_schedule=[3, 3, 3, 3])  # weights no longer fit the config
    tampered = tmp_path / "w.pt"
    torch.save(payload, tampered)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tampered)
    payload["config"]["surprise"] = 1
    torch.save(payload, tampered)
    with pytest.raises(CheckpointError, match="invalid config"):
        load_checkpoint(tampered)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_resolve_takes_a_path_or_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path / "weights")
    assert list_pretrained() == []
    shipped = save_checkpoint(tmp_path / "weights" / "mpm_tiny.pt", MPMLifter(CFG), CFG, "lifter", {}, "h")
    elsewhere = save_checkpoint(tmp_path / "run" / "best.pt", MPMPretrainModel(CFG), CFG, "pretrain", {}, "h")
    assert list_pretrained() == ["mpm_tiny"]
    assert list_pretrained("lifter") == ["mpm_tiny"] and list_pretrained("pretrain") == []
    assert resolve("mpm_tiny") == shipped and resolve(elsewhere) == elsewhere and resolve(str(shipped)) == shipped
    for missing in ("nope", tmp_path / "nowhere" / "x.pt", "mpm_tiny.pt"):
        with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .* \(shipped: \['mpm_tiny'\]\)"):
            resolve(missing)
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="shipped: none"):
        load_checkpoint("mpm_tiny")


def test_every_loader_resolves_names(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path)
    save_checkpoint(tmp_path / "mpm_tiny.pt", MPMLifter(CFG), CFG, "lifter", {}, "h")
    model, cfg = load_lifter("mpm_tiny")
    assert isinstance(model, MPMLifter) and not model.training and cfg == CFG
    assert load_checkpoint("mpm_tiny", kind="lifter")[1] == CFG and read_config("mpm_tiny") == CFG
    assert checkpoint.read_checkpoint("mpm_tiny")["kind"] == "lifter"
    with pytest.raises(CheckpointError, match=r"config mismatch \(window: checkpoint 27 vs expected 81"):
        load_checkpoint("mpm_tiny", expected_config=CFG.replace(window=81))
    with pytest.raises(CheckpointError, match="expected 'pretrain'"):
        read_config("mpm_tiny", kind="pretrain")


def test_read_config_builds_no_model(tmp_path):
    """Weights that fit no model still give their config: read_config never builds or loads one."""
    payload = torch.load(save_checkpoint(tmp_path / "g.pt", MPMLifter(CFG), CFG, "lifter", {}, "h"), weights_only=True)
    payload["state_dict"] = {"not_a_weight": torch.zeros(1)}
    torch.save(payload, tmp_path / "odd.pt")
    assert read_config(tmp_path / "odd.pt", kind="lifter") == CFG
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_lifter(tmp_path / "odd.pt")
