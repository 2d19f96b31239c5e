"""python -m mpm_model.deploy.bench_models: table rows, the reference rows skipped cleanly without a checkout,
and the reference loaded from a checkout (a stub with the reference's interface here)."""
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mpm_model.deploy import bench_models
from mpm_model.deploy.bench_models import ModelBenchOptions, build_reference, markdown, run

TINY = dict(encoder_hidden=32, d_model=32, ffn_dim=64, heads=4, depth=2)

# The reference's interface (vvirgooo2/MPM model/MPM.py): Model(args) on (B, 2, T, J, 1) -> (B, 3, 1, J, 1), head A.
STUB = '''
import torch
from torch import nn


class Model(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.j = args.n_joints
        self.lin = nn.Linear(2 * args.n_joints * args.frames, 3 * args.n_joints)

    def forward(self, x):
        b = x.shape[0]
        out = self.lin(x[..., 0].permute(0, 2, 3, 1).reshape(b, -1)).view(b, self.j, 3, 1).permute(0, 2, 3, 1)
        return out.unsqueeze(-1), out.unsqueeze(-1)
'''


@pytest.fixture
def stub_reference(tmp_path):
    (tmp_path / "ref" / "model").mkdir(parents=True)
    (tmp_path / "ref" / "model" / "__init__.py").write_text("")
    (tmp_path / "ref" / "model" / "MPM.py").write_text(textwrap.dedent(STUB))
    return tmp_path / "ref"


def _options(**kw):
    return ModelBenchOptions(windows=(9,), batches=(1, 2), threads=1, rounds=1, round_ms=1.0, size=TINY, **kw)


def test_without_reference_rows_are_skipped_cleanly(tmp_path):
    report = run(_options(reference_dir=tmp_path / "missing"))
    assert report["info"]["reference_skipped"].startswith("no model/MPM.py")
    assert [(r["window"], r["batch"]) for r in report["rows"]] == [(9, 1), (9, 2)]
    for row in report["rows"]:
        assert "reference" not in row and "ours_causal_over_reference" not in row
        for kind in ("ours_causal", "ours_centred", "tcn"):
            assert row[kind]["p50_ms"] > 0 and row[kind]["gflops"] > 0
        first = report["rows"][0]["ours_centred"]["gflops"]
        assert row["ours_centred"]["gflops"] == pytest.approx(row["batch"] * first)
        assert row["floor_ms"] > 0
    assert report["info"]["matmul_peak_gflops"] > 0 and "load average" in report["info"]["uptime_before"]
    table = markdown(report)
    assert "reference ms" not in table and "Reference rows skipped" in table
    json.dumps(report)


def test_reference_from_a_checkout(stub_reference):
    report = run(_options(reference_dir=stub_reference))
    assert report["info"]["reference_skipped"] is None
    row = report["rows"][0]
    assert row["reference"]["p50_ms"] > 0 and row["ours_causal_over_reference"] > 0
    assert "| 9 | 1 |" in markdown(report) and "reference ms" in markdown(report)
    import sys
    assert "model" not in sys.modules and "model.MPM" not in sys.modules  # the checkout's modules are forgotten


def test_reference_wrapper_layout(stub_reference):
    from mpm_model.config import ModelConfig

    cfg = ModelConfig(window=9, **TINY)
    wrapper = build_reference(stub_reference, cfg)
    keypoints2d = torch.randn(2, 9, 17, 2)
    seq, target = wrapper(keypoints2d, torch.zeros(2, 9, 17, dtype=torch.bool))
    assert target.shape == (2, 1, 17, 3) and seq is target
    with pytest.raises(FileNotFoundError):
        build_reference(stub_reference / "nowhere", cfg)


@pytest.mark.skipif(not os.environ.get("MPM_REFERENCE_DIR"), reason="set MPM_REFERENCE_DIR to a vvirgooo2/MPM checkout")
def test_real_reference_exports_and_matches_its_torch_output(tmp_path):
    from mpm_model.config import ModelConfig
    from mpm_model.deploy.export import export_onnx

    cfg = ModelConfig(window=27)
    wrapper = build_reference(Path(os.environ["MPM_REFERENCE_DIR"]), cfg)
    keypoints2d = torch.randn(2, 27, 17, 2)
    mask = torch.zeros(2, 27, 17, dtype=torch.bool)
    export_onnx(wrapper, cfg, tmp_path / "ref.onnx", batch_max=4)
    session = bench_models.ort_session(tmp_path / "ref.onnx", 1)
    feed = {i.name: {"keypoints2d": keypoints2d.numpy(), "mask": mask.numpy()}[i.name] for i in session.get_inputs()}
    with torch.no_grad():
        expected = wrapper(keypoints2d, mask)[1].numpy()
    assert np.abs(session.run(None, feed)[0] - expected).max() <= 1e-4
    assert bench_models.forward_flops(wrapper, cfg) > 1e8
