"""The one registry of training plans: what each run of `python -m mpm_model.training.campaign` trains, where it
starts, its share of the budget, and which run ships under which weights name (`make train` and the GPU campaign
both read `PLANS`; `campaign --ship` copies the `ship_as` runs into mpm_model/weights/)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mpm_model.config import ModelConfig
from mpm_model.training.lag import LagLoss

KINDS = ("lifter", "pretrain")
# Keys of a run spec written before it held a ModelConfig (campaign.json and checkpoints' train_args
# "campaign_run" up to commit e2c7d8c, the shipped weights among them): read back into `model`.
_FLAT_MODEL_KEYS = ("arch", "window", "causal", "lookahead", "d_model")


@dataclass(frozen=True)
class RunSpec:
    """One run: its architecture (`model`), where it starts, its share of the budget, whether its weights are kept
    in OUT and under which shipped name `campaign --ship` installs them.

    init: "scratch", "pretrain:RUN" (the encoder of that run of the campaign), "shipped:NAME" (continue those
    weights with their own config) or "from:SOURCE" (a lifter of another window, `warm.widen_lifter` with `embed`
    for the position embeddings; SOURCE: a run of this campaign, else a shipped name or a path).
    `equal_steps_to`: stop at the steps that run reached (the ablation). `dropout` and `lag_weight` (the lag term
    of a lifter's loss, `lag.LagLoss`) are training settings: the model gets dropout as a build argument, the
    checkpoint's config carries neither (its train_args' "campaign_run" does)."""

    name: str
    kind: str = "lifter"
    model: ModelConfig = ModelConfig(causal=True)
    dropout: float = 0.1
    init: str = "scratch"
    share: float = 1.0
    keep: bool = True
    equal_steps_to: str | None = None
    batch_divisor: int = 1
    embed: str = "interpolate"
    ship_as: str | None = None
    lag_weight: float = LagLoss().lag_weight

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        try:
            LagLoss(lag_weight=self.lag_weight)
        except ValueError as exc:  # a negative or non-finite weight
            raise ValueError(f"{self.name}: {exc}") from exc
        if self.lag_weight and self.kind != "lifter":
            raise ValueError(f"{self.name}: lag_weight is a lifter's loss term, not a {self.kind}'s")
        if self.ship_as is not None and not self.keep:
            raise ValueError(f"{self.name}: a run that ships ({self.ship_as}) must keep its weights")

    def record(self) -> dict[str, Any]:
        """Plain JSON types (campaign.json, a checkpoint's train_args["campaign_run"]); `model` as its to_dict()."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**values, "model": self.model.to_dict()}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "RunSpec":
        """Inverse of record(); also reads a spec written before it held a ModelConfig (flat arch, window,
        causal, lookahead, d_model on the defaults of ModelConfig; no ship_as), so older state folders resume."""
        values = dict(data)
        if "model" in values:
            values["model"] = ModelConfig.from_dict(values["model"])
        else:
            flat = {k: values.pop(k) for k in _FLAT_MODEL_KEYS if k in values}
            if flat.get("d_model") is None:
                flat.pop("d_model", None)
            values["model"] = ModelConfig().replace(**flat)
        return cls(**values)


# Every plan's architectures are replacements of the default lifter's (T=27 causal, ModelConfig's widths).
T27_CAUSAL = ModelConfig(causal=True)
T81_CAUSAL_LA3 = T27_CAUSAL.replace(window=81, lookahead=3)
T27_CAUSAL_LA1 = T27_CAUSAL.replace(lookahead=1)
T243 = T27_CAUSAL.replace(window=243, causal=False)
TCN_T27_CAUSAL = T27_CAUSAL.replace(arch="tcn", d_model=512)
TCN_T81_CAUSAL_LA3 = TCN_T27_CAUSAL.replace(window=81, lookahead=3)

PLANS: dict[str, list[RunSpec]] = {
    # Every model from the start: the GPU campaign, and `make train` on whatever device it finds. The scratch
    # twin's weights stay out of OUT (the output limit: 7 checkpoints in half precision would pass 64 MiB); its
    # validation history is in campaign.json. For the same limit `mpm_t27_causal_la1` is not in it: the warm
    # plan's run makes it from this plan's T=27 (`--plan warm --runs t27_causal_la1 --init-from OUT/t27_causal.pt`).
    "full": [
        RunSpec("pretrain_t27_causal", kind="pretrain", share=2.0, ship_as="mpm_pretrain_t27_causal"),
        # The default is trained with the lag term since round 7 (shift 0 at its stamp; MODEL_CARD rounds 6-7): so is
        # its GPU successor, and the scratch twin, so that the ablation still differs in the pretraining alone.
        RunSpec("t27_causal", init="pretrain:pretrain_t27_causal", share=2.0, lag_weight=0.005,
                ship_as="mpm_t27_causal"),
        RunSpec("t81_causal_la3", model=T81_CAUSAL_LA3, init="from:t27_causal", share=1.5,  # warm.py
                ship_as="mpm_t81_causal_la3"),
        # Shipped by hand only once the model card shows it beats T=27 (issue 26: no longer window worse than the
        # default is shipped): `python -m mpm_model.shipping ship STATE/t243.pt mpm_t243`.
        RunSpec("t243", model=T243, init="from:t81_causal_la3", share=1.5, batch_divisor=2),
        RunSpec("t27_causal_scratch", share=2.0, keep=False, equal_steps_to="t27_causal", lag_weight=0.005),
        RunSpec("tcn_t27_causal", model=TCN_T27_CAUSAL, dropout=0.25, share=0.5),
        RunSpec("tcn_t81_causal_la3", model=TCN_T81_CAUSAL_LA3, dropout=0.25, share=0.5),
    ],
    # No GPU: the shipped models continued on the new recipe, the default first (what made today's weights).
    # T=243 is not shipped (it has not beaten T=27 on the CPU, MODEL_CARD): it starts from the shipped T=81
    # ("extend" measured better at step 0) and ships only by hand, after the model card says it wins.
    "warm": [
        # The default continued without the lag term (round 6's control); since round 7 the default ships from
        # `t27_causal_lag` below, so this run ships nothing.
        RunSpec("t27_causal", init="shipped:mpm_t27_causal", share=3.0),
        RunSpec("t81_causal_la3", model=T81_CAUSAL_LA3, init="shipped:mpm_t81_causal_la3", share=1.5,
                ship_as="mpm_t81_causal_la3"),
        RunSpec("t243", model=T243, init="from:mpm_t81_causal_la3", share=1.0, batch_divisor=2, embed="extend"),
        RunSpec("pretrain_t27_causal", kind="pretrain", init="shipped:mpm_pretrain_t27_causal", share=1.0,
                ship_as="mpm_pretrain_t27_causal"),
        # Issue 26's lag: the default's window with its target one frame earlier (stamped 33 ms late, answers for
        # the frame it is stamped with). Same shapes, so every weight of the shipped T=27 carries over (warm.py).
        RunSpec("t27_causal_la1", model=T27_CAUSAL_LA1, init="from:mpm_t27_causal", ship_as="mpm_t27_causal_la1"),
        # Issue 26's lag at its source, the loss (MODEL_CARD rounds 6 and 7): round 2's default with lag_weight · δ̂²
        # added. At 0.005 after 1,923 + 5,390 CPU steps it is at shift 0 offline, better in all 12 card conditions and
        # no worse through the library (4 bags, its refiner): round 7 shipped it as the default; round 9 continued it
        # 9,367 steps (52.8 mm, better in all 12 conditions) and shipped that, round 10 5,889 more (52.7 mm). Its
        # refiner is refitted by hand after a ship (docs/TEMPORAL.md "Pose refiner").
        RunSpec("t27_causal_lag", init="from:mpm_t27_causal", lag_weight=0.005, ship_as="mpm_t27_causal"),
    ],
}
