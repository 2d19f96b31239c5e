"""The campaign command (mpm_model.training.campaign) end to end on CPU: the same command the GPU machine runs,
with a few steps; a second call continues it; the output folder stays within the travel limits."""
import dataclasses
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from mpm_model.checkpoint import WEIGHTS_DIR, list_pretrained, load_checkpoint, read_checkpoint
from mpm_model.data.draws import TorchDraws, generator
from mpm_model.data.mocap import write_mocap
from mpm_model.data.windows import training_view
from mpm_model.data.synthetic import synthetic_sequences
from mpm_model.shipping import MAX_DEVIATION_MM, reference_deviation_mm
from mpm_model.training import campaign, campaign_runs
from mpm_model.training.plans import PLANS, T81_CAUSAL_LA3, RunSpec

# campaign.json written by the code before run specs held a ModelConfig (commit e2c7d8c, `--plan warm --runs
# t27_causal,t81_causal_la3` on this file's data): flat arch / window / causal / lookahead / d_model per spec.
FLAT_SPEC_STATE = Path(__file__).parent / "data" / "campaign_before_modelconfig_spec.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("mocap") / "mocap.npz"
    seqs = synthetic_sequences(6, 120, seed=0)
    for i, seq in enumerate(seqs):
        seq.subject, seq.source = f"s{i}", ("a", "b")[i % 2]
    write_mocap(path, seqs)
    return path


def _call(data, out, *extra):
    return campaign.main(["--data", str(data), "--out", str(out), "--budget-min", "1", "--device", "cpu",
                          "--batch-size", "4", "--max-steps", "1", "--val-windows", "4", *extra])


def test_dry_run_of_the_gpu_command_and_resume(data, tmp_path):
    state = _call(data, tmp_path)
    runs = state["runs"]
    assert set(runs) == {s.name for s in campaign.PLANS["full"]}
    assert all(r["rounds"] == 1 and r["step"] >= 1 and r["history"] for r in runs.values())
    assert runs["t27_causal_scratch"]["step"] == runs["t27_causal"]["step"]  # the ablation at equal steps
    files = list(tmp_path.iterdir())
    assert len(files) <= campaign.MAX_OUTPUT_FILES
    for name, run in runs.items():  # half precision unless it moved this (barely trained) model's outputs > 0.5 mm
        path = tmp_path / f"{name}.pt"
        assert not run["spec"]["keep"] or path.stat().st_size <= 16 * 2**20 or run["storage"] == "float32"
    model, cfg, meta = load_checkpoint(tmp_path / "t81_causal_la3.pt", kind="lifter")
    assert (cfg.window, cfg.lookahead, cfg.causal) == (81, 3, True) and meta["extra"]["step"] == 1
    assert runs["t27_causal"]["init"]["transfer"]["copied"]  # T=27 starts from the campaign's pretraining,
    assert runs["t81_causal_la3"]["init"]["init"] == "from:t27_causal"  # the longer windows from the shorter ones
    assert runs["t243"]["init"]["init"] == "from:t81_causal_la3" and runs["t243"]["init"]["transfer"]["resized"] == 1
    again = _call(data, tmp_path, "--runs", "t27_causal")  # a second call continues
    assert again["runs"]["t27_causal"]["step"] == 2 and len(again["calls"]) == 2
    assert json.loads((tmp_path / campaign.STATE_FILE).read_text())["runs"]["t27_causal"]["rounds"] == 2


def test_warm_plan_continues_every_shipped_model(data, tmp_path):
    """The no-GPU plan: the three shipped models (two lifters and the pretraining) continue from their weights;
    T=243, not shipped, starts from the shipped T=81; the look-ahead-1 T=27 from the shipped T=27, whose every
    weight fits it as is (same window: only the target frame moves)."""
    bf16 = campaign_runs.cpu_has_native_bf16(campaign_runs._cpuinfo())  # else refused (test_bf16_only_where_native)
    state = _call(data, tmp_path, "--plan", "warm", "--precision", "bf16" if bf16 else "fp32")
    runs = state["runs"]
    assert set(runs) == {"t27_causal", "t81_causal_la3", "t243", "pretrain_t27_causal", "t27_causal_la1",
                         "t27_causal_lag"}
    starts = {"t243": "from:mpm_t81_causal_la3", "t27_causal_la1": "from:mpm_t27_causal",
              "t27_causal_lag": "from:mpm_t27_causal"}
    for name, run in runs.items():
        start = starts.get(name, f"shipped:mpm_{name}")
        assert run["init"]["init"] == start and run["step"] == 1, (name, run["init"])
        model, cfg, _ = load_checkpoint(tmp_path / f"{name}.pt", kind=run["spec"]["kind"])
        assert cfg == RunSpec.from_record(run["spec"]).model and ("bf16" in run["device"]) == bf16
    source = load_checkpoint("mpm_t27_causal")[0].state_dict()
    assert runs["t27_causal_la1"]["init"]["transfer"] == {"copied": len(source), "resized": 0, "new": 0}
    _, cfg, _ = load_checkpoint(tmp_path / "t27_causal_la1.pt", kind="lifter")
    assert (cfg.window, cfg.lookahead, cfg.target_index) == (27, 1, 25)


def test_a_longer_window_starts_from_the_default_and_counts_windows_across_calls(data, tmp_path):
    """--init-from: T=81 from the shipped T=27 lifter; the windows seen add up over calls, in campaign.json and in
    both checkpoints (the compact one in OUT, the full one in --state)."""
    out, args = tmp_path / "out", ["--plan", "warm", "--runs", "t81_causal_la3", "--init-from", "mpm_t27_causal",
                                   "--init-embed", "extend", "--state", str(tmp_path / "state")]
    inherited = int(read_checkpoint("mpm_t27_causal")["extra"].get("windows", 0))  # the source's count comes along
    run = _call(data, out, *args)["runs"]["t81_causal_la3"]
    assert run["init"]["init"] == "from:mpm_t27_causal" and run["init"]["transfer"]["resized"] == 1
    assert run["spec"]["embed"] == "extend" and run["windows"] == inherited + 4
    run = _call(data, out, *args)["runs"]["t81_causal_la3"]
    assert run["step"] == 2 and run["windows"] == inherited + 8 and run["init"]["init"] == "from:mpm_t27_causal"
    for path in (out / "t81_causal_la3.pt", tmp_path / "state" / "t81_causal_la3.pt"):
        _, cfg, meta = load_checkpoint(path, kind="lifter")
        assert cfg.window == 81 and meta["extra"]["windows"] == inherited + 8
    adam = read_checkpoint(tmp_path / "state" / "t81_causal_la3.pt")["optimizer"]["state"][0]
    assert float(adam["step"]) == 2  # the second call continued the optimizer from --state (a fresh one says 1)


def test_bf16_only_where_native():
    """bf16 autocast on a CPU without a bf16 unit is refused (7-15x slower than fp32 there), not silently slow."""
    assert campaign_runs.cpu_has_native_bf16("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert campaign_runs.cpu_has_native_bf16("flags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    assert not campaign_runs.cpu_has_native_bf16("processor\t: 0\nflags\t\t: fpu avx2 fma\n")
    assert campaign_runs.cpu_has_native_bf16(None)  # unknown (no /proc/cpuinfo): the user's call
    if not campaign_runs.cpu_has_native_bf16(campaign_runs._cpuinfo()):
        with pytest.raises(SystemExit, match="fp32"):
            campaign_runs.device_settings("cpu", "bf16", None, None)
    assert campaign_runs.device_settings("cpu", "fp32", None, None).autocast is None


def test_bad_arguments(data, tmp_path):
    for bad in (["--budget-min", "0"], ["--runs", "nope"], ["--plan", "warm", "--init-from", "mpm_t27_causal"],
                ["--ship"]):
        with pytest.raises(SystemExit):
            campaign.main(["--data", str(data), "--out", str(tmp_path), "--device", "cpu", "--budget-min", "1", *bad])
    for missing in (["--data", str(data)], ["--budget-min", "1"]):  # training needs both
        with pytest.raises(SystemExit):
            campaign.main(["--out", str(tmp_path), "--device", "cpu", *missing])
    with pytest.raises(SystemExit, match="nothing ships"):
        campaign.main(["--out", str(tmp_path), "--state", str(tmp_path), "--ship", "--runs", "t27_causal_scratch"])
    assert torch.get_num_threads() >= 1


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "nan"])
def test_an_exact_share_outside_0_1_is_refused(data, tmp_path, bad):
    with pytest.raises(SystemExit):
        _call(data, tmp_path, "--plan", "warm", "--runs", "t27_causal", "--exact-share", bad)
    assert not (tmp_path / campaign.STATE_FILE).exists()  # refused before anything was trained


def test_the_exact_share_reaches_the_windows_and_is_recorded(data, tmp_path):
    """--exact-share (issue 26's lag experiment): the call's views carry it, campaign.json's call and the run's
    checkpoints record it; the default is the recipe's (training_view)."""
    default = campaign.build_parser().parse_args(["--out", str(tmp_path)]).exact_share
    assert default == training_view().detector.exact_share
    state = _call(data, tmp_path / "out", "--plan", "warm", "--runs", "t27_causal", "--exact-share", "0.5",
                  "--state", str(tmp_path / "state"))
    assert state["calls"][-1]["exact_share"] == 0.5
    for path in (tmp_path / "out" / "t27_causal.pt", tmp_path / "state" / "t27_causal.pt"):
        assert read_checkpoint(path)["train_args"]["exact_share"] == 0.5
    settings = campaign_runs.device_settings("cpu", "fp32", 4, None)
    spec = PLANS["warm"][0]
    for share in (1.0, 0.0):  # H36M layout only: exact windows are the camera's projection of their 3D
        trainer = campaign_runs.Trainer(str(data), settings, 0, 4, 1.0, None,
                                        training_view(coco_share=0.0, exact_share=share))
        views = trainer._views(spec, spec.model)
        batch = views(TorchDraws(generator(settings.device, 0, 1), 32))
        cam_poses, cams = views.camera_poses(TorchDraws(generator(settings.device, 0, 1), 32))  # the same draws
        size = cams.size[:, None, None]  # (B, 1, 1, 2)
        width = size[..., :1]
        offset = torch.cat([torch.ones_like(width), size[..., 1:] / width], -1)  # the views' normalisation
        exact = cams.project(cam_poses) / width * 2.0 - offset
        seen = ~batch["mask"]  # (B, T, J)
        error = (batch["keypoints2d"] - exact.float())[seen].abs().max()
        assert (error < 1e-5) == (share == 1.0), (share, float(error))


@pytest.mark.parametrize("bad", [-0.5, math.nan])
def test_an_invalid_lag_weight_is_refused(bad):
    with pytest.raises(ValueError, match="lag_weight"):
        RunSpec("t27_lag", lag_weight=bad)


def test_a_lag_weight_is_refused_for_a_pretraining_run():
    with pytest.raises(ValueError, match="lifter's loss term"):
        RunSpec("pretrain_lag", kind="pretrain", lag_weight=0.1)


def test_the_lag_run_records_its_weight_and_the_history_logs_the_batch_lag(data, tmp_path):
    """The warm plan's t27_causal_lag (issue 26's lag term, mpm_model.training.lag): the run's spec, campaign.json
    and its checkpoints' train_args carry its lag_weight; every checkpoint's history entry logs the mean lag δ̂ of
    the training batches since the one before (a run without the term logs it too)."""
    assert RunSpec("t27").lag_weight == 0.0
    (spec,) = [s for s in PLANS["warm"] if s.lag_weight > 0]
    state = _call(data, tmp_path / "out", "--plan", "warm", "--runs", f"{spec.name},t27_causal",
                  "--state", str(tmp_path / "state"))
    assert state["runs"][spec.name]["spec"]["lag_weight"] == spec.lag_weight
    for path in (tmp_path / "out" / f"{spec.name}.pt", tmp_path / "state" / f"{spec.name}.pt"):
        assert read_checkpoint(path)["train_args"]["campaign_run"]["lag_weight"] == spec.lag_weight
    for name in (spec.name, "t27_causal"):
        (entry,) = state["runs"][name]["history"]
        assert isinstance(entry["train_lag_frames"], float) and math.isfinite(entry["train_lag_frames"])


def test_run_specs_hold_a_model_config_and_read_the_flat_records_of_older_state():
    for plan in PLANS.values():
        for spec in plan:
            assert RunSpec.from_record(json.loads(json.dumps(spec.record()))) == spec
    flat = json.loads(FLAT_SPEC_STATE.read_text())["runs"]["t81_causal_la3"]["spec"]
    assert "window" in flat and "model" not in flat  # the fixture is of the old form
    assert RunSpec.from_record(flat) == dataclasses.replace(PLANS["warm"][1], ship_as=None)
    assert RunSpec.from_record(flat).model == T81_CAUSAL_LA3
    warm = {spec.ship_as: spec for spec in PLANS["warm"] if spec.ship_as}
    assert set(warm) == {"mpm_t27_causal", "mpm_t27_causal_la1", "mpm_t81_causal_la3",
                         "mpm_pretrain_t27_causal"}  # T=243 withdrawn
    for name, planned in warm.items():
        shipped = read_checkpoint(name)  # the shipped weights carry the flat record in their train_args
        spec = RunSpec.from_record(shipped["train_args"]["campaign_run"])
        if name in ("mpm_t81_causal_la3", "mpm_t27_causal"):  # T=81 started from T=27, the default (round 7's
            spec = dataclasses.replace(spec, init=planned.init)  # lag run) from round 6's A2 state (--init-from)
        assert dataclasses.replace(spec, ship_as=name) == planned, name
        assert spec.model.to_dict() == shipped["config"]
    with pytest.raises(ValueError, match="window"):
        RunSpec.from_record({**flat, "window": 80})


def test_a_campaign_json_of_flat_specs_continues(data, tmp_path):
    """An OUT folder written before specs held a ModelConfig: the next call reads it, continues it (round 2) and
    writes every spec in today's form."""
    (tmp_path / campaign.STATE_FILE).write_text(FLAT_SPEC_STATE.read_text())
    state = _call(data, tmp_path, "--plan", "warm", "--runs", "t27_causal", "--precision", "fp32")
    assert len(state["calls"]) == 2 and state["runs"]["t27_causal"]["rounds"] == 2
    assert state["runs"]["t27_causal"]["spec"] == PLANS["warm"][0].record()  # trained: the spec of this call
    assert state["runs"]["t81_causal_la3"]["rounds"] == 1  # not selected: kept as it was, spec upgraded
    assert state["runs"]["t81_causal_la3"]["spec"] == PLANS["warm"][1].record() | {"ship_as": None}
    saved = json.loads((tmp_path / campaign.STATE_FILE).read_text())
    assert all("model" in run["spec"] and "window" not in run["spec"] for run in saved["runs"].values())
    broken = json.loads(FLAT_SPEC_STATE.read_text())
    broken["runs"]["t27_causal"]["spec"]["window"] = 80  # not a ModelConfig window: refused, the run named
    (tmp_path / campaign.STATE_FILE).write_text(json.dumps(broken))
    with pytest.raises(SystemExit, match="t27_causal"):
        _call(data, tmp_path, "--plan", "warm", "--runs", "t27_causal")


def test_ship_installs_the_plans_shipped_runs_from_their_full_checkpoints(data, tmp_path):
    """`make train`'s second half: the run plans.py names `ship_as` goes from --state into the weights folder (half
    precision, its reference outputs inside); without its full checkpoint nothing ships. In the warm plan the
    default ships from the lag-term run (round 7)."""
    shipped = set(list_pretrained())
    for plan in PLANS.values():
        names = [s.ship_as for s in plan if s.ship_as]
        assert len(names) == len(set(names)) and set(names) <= shipped
    assert {s.ship_as for s in PLANS["warm"]} - {None} == shipped  # the warm plan makes every one (T=243 by hand)
    # the full plan all but the look-ahead-1 T=27 (its OUT would pass 64 MiB; plans.py says how to make it)
    assert shipped - {s.ship_as for s in PLANS["full"]} == {"mpm_t27_causal_la1"}
    out, state, weights = tmp_path / "out", tmp_path / "state", tmp_path / "weights"
    ship = ["--plan", "warm", "--runs", "t27_causal_lag", "--ship", "--out", str(out), "--state", str(state),
            "--weights-dir", str(weights)]
    with pytest.raises(SystemExit, match="no full checkpoint"):
        campaign.main(ship)
    _call(data, out, "--plan", "warm", "--runs", "t27_causal_lag", "--precision", "fp32", "--state", str(state),
          "--lr", "1e-7")  # the shipped weights barely moved: their half-precision check (0.05 mm) is not in doubt
    shutil.copy(WEIGHTS_DIR / "mpm_t81_causal_la3.pt", state / "t81_causal_la3.pt")  # half precision: refused
    with pytest.raises(SystemExit, match="t81_causal_la3 as mpm_t81_causal_la3: .*nothing shipped"):
        campaign.main([*ship[:3], "t27_causal_lag,t81_causal_la3", *ship[4:]])
    assert not any(weights.iterdir()), "all or nothing: T=27 was staged, not installed"
    assert campaign.main(ship) == {"shipped": {"mpm_t27_causal": str(weights / "mpm_t27_causal.pt")}}
    assert sorted(p.name for p in weights.iterdir()) == ["mpm_t27_causal.pt"], "the staging folder is gone"
    model, cfg, meta = load_checkpoint(weights / "mpm_t27_causal.pt", kind="lifter")
    assert cfg == PLANS["warm"][-1].model and meta["storage"] == "float16" and meta["optimizer"] is None
    assert meta["extra"]["shipped_from"] == str(state / "t27_causal_lag.pt") and meta["extra"]["step"] == 1
    assert reference_deviation_mm(weights / "mpm_t27_causal.pt") <= MAX_DEVIATION_MM


def test_a_calls_share_stops_at_its_minutes_or_steps_and_sizes_the_schedule():
    """The campaign's stop rule for the one training loop: the call's minutes, the twin's step cap or --max-steps
    (counted from where the call started); the LR schedule's steps are the cap, else the pace so far."""
    share = campaign_runs.Share(minutes=60.0, steps_cap=None, max_steps=3, step0=10)
    assert not share.done(12) and share.done(13) and share.total_steps(11) == 13
    capped = campaign_runs.Share(minutes=60.0, steps_cap=525, max_steps=None, step0=0)
    assert not capped.done(524) and capped.done(525) and capped.total_steps(7) == 525
    timed = campaign_runs.Share(minutes=60.0, steps_cap=None, max_steps=None, step0=4)
    assert not timed.done(10**6) and timed.total_steps(4) == 10**6  # no pace yet
    timed.started -= 60  # one minute in, 10 steps done: 59 more minutes at that pace
    assert timed.total_steps(14) == pytest.approx(14 + 59 * 10, abs=2)
    assert campaign_runs.Share(minutes=0.0, steps_cap=None, max_steps=None, step0=0).done(0)
