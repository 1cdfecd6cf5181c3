"""An out-of-corpus stress set for rollout stability, and the score of a model on it.

`STRESS_CASES` are runs of the built-in simulators (`pde_data.generate`) at settings no
pretraining uses (`pde_data.simulators.corpus` plans every corpus store at one boundary kind on
every axis, the default resolution or half of it, the default frame_dt and the default or
`CORPUS_RANGES` parameters): grids that are not a multiple of the patch size (4 or 8), other
resolutions, a different wall kind per axis, parameters outside the ranges pretraining draws
from (inside the range the solver keeps stable), another frame spacing, and the four held-out
families of the leave-family-out table (benchmarks/transfer.py; with wave_2d, left out with
wave_3d), themselves at settings off the corpus, so that every case is new to the shipped
starter as well.

`score_stress_set(model)` generates `n_traj` fresh, seeded trajectories per case, rolls the
model out for `horizon` steps from the first `history` frames of each (`rollouts.evaluate`,
diverged rollouts flagged, not raised) beside persistence, and returns a `StressReport`: per
case the mean nRMSE (fields averaged) over the horizon, the error at steps 1, 10 and the
horizon, the growth of the error (step k over step 1) of the model and of persistence, the
rollouts that diverged (went non-finite, or past `max_growth` times their history's RMS: on
their way to it), and the verdict of issue 32: a case is *stable* when the
model's error at the last step is below persistence's or grows no faster than persistence's
(last step over step 1), and no rollout is non-finite (`is_stable`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
from torch import nn

from pde_data import DataError, PDEDataset, generate
from pde_data.simulators import SIMULATORS
from morph.config import DataFitError
from rollouts.evaluate import evaluate, evaluation_setup

__all__ = ["STRESS_CASES", "CaseScore", "StressCase", "StressReport", "growth", "is_stable", "score_stress_set",
           "stress_cases"]

logger = logging.getLogger(__name__)

#: The first seed of the stress set's trajectories (case i uses STRESS_SEED + i): far from the
#: corpus stores' seeds (below 100_003 per corpus seed) and from the transfer table's (10_000_000).
STRESS_SEED = 20_000_000
#: Steps at which the table reports the error, besides the horizon.
REPORTED_STEPS = (1, 10)
HELD_OUT = "held-out family"


@dataclass(frozen=True)
class StressCase:
    """One out-of-corpus setting: `pde_data.generate(simulator, resolution=..., **options)`.

    name: the row label. why: what makes it out of corpus, one phrase per reason.
    options: generate keywords: `resolution` (None: the simulator's default), `boundary` (one
    kind or one per axis) and physical parameters (a number or a `(low, high)` range).
    held_out: a simulator the leave-family-out base never saw (benchmarks/transfer.py's families
    and the relatives left out with them).
    """

    name: str
    simulator: str
    why: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    held_out: bool = False

    def __post_init__(self) -> None:
        assert self.simulator in SIMULATORS and self.why, self

    @property
    def dims(self) -> int:
        return SIMULATORS[self.simulator].n_spatial_dims

    @property
    def reasons(self) -> str:
        return "; ".join(((HELD_OUT,) if self.held_out else ()) + self.why)

    def generate(self, n_traj: int, steps: int, seed: int) -> PDEDataset:
        """`n_traj` trajectories of `steps` frames of this case, drawn with `seed`."""
        return generate(self.simulator, n_traj=n_traj, steps=steps, seed=seed, **self.options)


# fmt: off
#: The stress set: simulator settings no corpus scale uses, and the leave-family-out families.
STRESS_CASES: tuple[StressCase, ...] = (
    # 1D
    StressCase("burgers_1d low viscosity", "burgers_1d", ("viscosity 0.005-0.008 (corpus 0.01-0.05)",),
               {"viscosity": (0.005, 0.008)}),
    StressCase("heat_1d neumann 90", "heat_1d", ("neumann walls (corpus: dirichlet)", "grid 90"),
               {"boundary": "neumann", "resolution": 90}),
    StressCase("advection_1d fast, dt / 2", "advection_1d",
               ("speed 1.2-1.8 (corpus -1 to 1)", "frame_dt 0.01 (corpus 0.02)"),
               {"speed": (1.2, 1.8), "frame_dt": 0.01}),
    StressCase("euler_1d periodic", "euler_1d", ("periodic (corpus: open, reflective)",), {"boundary": "periodic"}),
    StressCase("kdv_1d 90", "kdv_1d", ("grid 90 (corpus 64, 128)",), {"resolution": 90}, held_out=True),
    # 2D
    StressCase("wave_2d periodic x dirichlet", "wave_2d", ("periodic on H, dirichlet on W (corpus: dirichlet)",),
               {"boundary": ("periodic", "dirichlet")}, held_out=True),
    StressCase("euler_2d reflective x periodic 42", "euler_2d",
               ("reflective on H, periodic on W (corpus: open, reflective)", "grid 42²"),
               {"boundary": ("reflective", "periodic"), "resolution": 42}),
    StressCase("navier_stokes_2d viscous", "navier_stokes_2d", ("viscosity 0.008-0.015 (corpus 0.0015-0.005)",),
               {"viscosity": (0.008, 0.015)}),
    StressCase("gray_scott_2d dt x2", "gray_scott_2d", ("frame_dt 50 (corpus 25)",), {"frame_dt": 50.0}),
    StressCase("shallow_water_2d reflective 50", "shallow_water_2d", ("grid 50² (corpus 32², 64²)",),
               {"boundary": "reflective", "resolution": 50}, held_out=True),
    StressCase("fitzhugh_nagumo_2d periodic", "fitzhugh_nagumo_2d", ("periodic (corpus: neumann)",),
               {"boundary": "periodic"}, held_out=True),
    # 3D
    StressCase("heat_3d mixed walls 18", "heat_3d", ("dirichlet on D, neumann on H, periodic on W", "grid 18³"),
               {"boundary": ("dirichlet", "neumann", "periodic"), "resolution": 18}),
    StressCase("advection_diffusion_3d low diffusivity 22", "advection_diffusion_3d",
               ("diffusivity 0.021-0.028 (corpus 0.03-0.2)", "grid 22³"),
               {"diffusivity": (0.021, 0.028), "resolution": 22}),
    StressCase("navier_stokes_3d 22", "navier_stokes_3d", ("grid 22³ (corpus 16³)",), {"resolution": 22}),
    StressCase("wave_3d neumann 18", "wave_3d", ("neumann walls (corpus: dirichlet)", "grid 18³"),
               {"boundary": "neumann", "resolution": 18}, held_out=True),
)
# fmt: on


def stress_cases(names: Optional[Sequence[str]] = None) -> list[StressCase]:
    """The cases of `STRESS_CASES` named in `names` (a case name or a simulator; None: all), in order."""
    if names is None:
        return list(STRESS_CASES)
    known = {c.name for c in STRESS_CASES} | {c.simulator for c in STRESS_CASES}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise DataError(f"stress cases {list(names)!r}: unknown {unknown or '(none given)'}; give case names or "
                        f"simulators of rollouts.STRESS_CASES: {', '.join(c.name for c in STRESS_CASES)}")
    return [c for c in STRESS_CASES if c.name in names or c.simulator in names]


def growth(curve: Sequence[float]) -> np.ndarray:
    """The error of each step over the error of step 1: `(K,) -> (K,)`; inf where step 1 is 0
    and a later step is not, NaN where both are 0 or a step is NaN."""
    values = np.asarray(curve, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return values / values[0]


def is_stable(model: Sequence[float], persistence: Sequence[float], non_finite: int = 0) -> bool:
    """Issue 32's verdict on one case from its nRMSE curves `(K,)` (step 1 .. K, windows averaged):
    the model's error at step K is below persistence's, or grows no faster (step K over step 1 of
    the model <= that of persistence); and no rollout went non-finite (`non_finite` rollouts
    flagged, or a non-finite value in the model's curve)."""
    model, persistence = np.asarray(model, np.float64), np.asarray(persistence, np.float64)
    if model.shape != persistence.shape or model.ndim != 1 or model.size == 0:
        raise ValueError(f"is_stable: model and persistence must be curves (K,) of the same length, got shapes "
                         f"{model.shape} and {persistence.shape}")
    if non_finite or not np.isfinite(model).all():
        return False
    below = model[-1] < persistence[-1]
    slower = growth(model)[-1] <= growth(persistence)[-1]  # NaN compares False
    return bool(below or slower)


def _json_number(value: float) -> Optional[float]:
    return float(value) if math.isfinite(value) else None


@dataclass
class CaseScore:
    """The score of one case. model, persistence: nRMSE per step `(K,)` (fields and windows
    averaged; inf from the step a rollout diverged). windows: rollouts scored; non_finite: those
    that went non-finite (or past `max_growth`). skipped: why the model could not take the case."""

    case: StressCase
    model: list[float] = field(default_factory=list)
    persistence: list[float] = field(default_factory=list)
    windows: int = 0
    non_finite: int = 0
    skipped: Optional[str] = None

    @property
    def stable(self) -> Optional[bool]:
        return None if self.skipped else is_stable(self.model, self.persistence, self.non_finite)

    def _source(self, curve: list[float]) -> dict[str, Any]:
        k = len(curve)
        steps = sorted({s for s in REPORTED_STEPS if s <= k} | {k})
        return {"mean": _json_number(float(np.mean(curve))),
                "at_step": {str(s): _json_number(curve[s - 1]) for s in steps},
                "per_step": [_json_number(v) for v in curve],
                "growth": [_json_number(v) if not math.isnan(v) else None for v in growth(curve)]}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: non-finite numbers are null."""
        out = {"name": self.case.name, "simulator": self.case.simulator, "dims": self.case.dims,
               "out_of_corpus": self.case.reasons, "held_out_family": self.case.held_out,
               "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.case.options.items()},
               "windows": self.windows, "non_finite": self.non_finite, "stable": self.stable,
               "skipped": self.skipped}
        if not self.skipped:
            out.update(model=self._source(self.model), persistence=self._source(self.persistence))
        return out


@dataclass
class StressReport:
    """The stress set's scores: one `CaseScore` per case, and the setup (horizon, history,
    trajectories, seed)."""

    scores: list[CaseScore]
    setup: dict[str, Any]

    @property
    def n_stable(self) -> int:
        return sum(s.stable is True for s in self.scores)

    @property
    def n_scored(self) -> int:
        return sum(s.skipped is None for s in self.scores)

    def headline(self) -> str:
        """One line: on how many of the scored cases the model is stable, and how many it cannot take."""
        skipped = len(self.scores) - self.n_scored
        return (f"stable on {self.n_stable} of {self.n_scored} cases"
                + (f" ({skipped} the model cannot take)" if skipped else ""))

    def table(self) -> str:
        """Markdown: per case, nRMSE as model / persistence (mean over the horizon, at steps 1, 10
        and K), the growth step K / step 1 of both, the diverged rollouts and the verdict."""
        k = self.setup["horizon"]
        steps = sorted({s for s in REPORTED_STEPS if s <= k} | {k})
        head = " | ".join(f"step {s}" for s in steps)
        lines = [f"| case | dims | out of corpus | mean over {k} steps | {head} | growth step {k} / step 1 "
                 f"| diverged | stable |", "|---|---|---|---|" + "---|" * len(steps) + "---|---|---|"]

        def pair(m: float, p: float) -> str:
            return f"{m:.3g} / {p:.3g}"

        for s in self.scores:
            label = f"| {s.case.name} | {s.case.dims}D | {s.case.reasons} |"
            if s.skipped:
                lines.append(f"{label} skipped: {s.skipped} |" + " |" * (len(steps) + 3))
                continue
            cells = [pair(float(np.mean(s.model)), float(np.mean(s.persistence)))]
            cells += [pair(s.model[i - 1], s.persistence[i - 1]) for i in steps]
            cells.append(pair(growth(s.model)[-1], growth(s.persistence)[-1]))
            cells.append(f"{s.non_finite}/{s.windows}")
            cells.append("yes" if s.stable else "**no**")
            lines.append(f"{label} {' | '.join(cells)} |")
        limit = self.setup.get("max_growth")
        diverged = "non-finite" + (f" or past {limit:g} x the RMS of their history" if limit else "")
        lines.append(f"\nEach cell: model / persistence (nRMSE, fields averaged). diverged: rollouts that went "
                     f"{diverged} (`rollouts.rollout`), which the verdict counts as non-finite. {self.headline()}.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (no NaN or inf: null instead): setup, headline counts and every case."""
        return {"setup": self.setup, "stable": self.n_stable, "scored": self.n_scored, "cases": len(self.scores),
                "scores": [s.to_dict() for s in self.scores]}


def score_stress_set(model: nn.Module, cases: Optional[Sequence[StressCase]] = None, *, horizon: int = 30,
                     history: Optional[int] = None, n_traj: int = 4, seed: int = STRESS_SEED,
                     max_growth: Optional[float] = 1e3, batch_size: int = 4,
                     progress: bool = False) -> StressReport:
    """Score `model` on the stress set: per case, `n_traj` fresh trajectories of `history + horizon`
    frames (case i drawn with `seed + i`, so every model given the same history sees the same
    data), one rollout of `horizon` steps from the first `history` frames of each, beside persistence.

    cases: `STRESS_CASES` or a subset (`stress_cases(names)`). history: frames given; None: the
    history the model was trained with (its run record), else its max_ar. max_growth: a rollout
    past this times the RMS of its history counts as non-finite (`rollouts.rollout`); None:
    only NaN or inf do. A case the model cannot take (more fields, components or patches than it
    was built for) is listed as skipped, with the reason.
    """
    cases = list(STRESS_CASES if cases is None else cases)
    for arg, value in (("horizon", horizon), ("n_traj", n_traj)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"score_stress_set: {arg} must be an int >= 1, got {value!r}")
    history = evaluation_setup(model, n_steps=2**31, history=history)[0]
    scores = []
    for index, case in enumerate(cases):
        index = STRESS_CASES.index(case) if case in STRESS_CASES else len(STRESS_CASES) + index
        dataset = case.generate(n_traj, history + horizon, seed + index)  # non-finite data: DataError
        try:
            result = evaluate(model, dataset, horizon=horizon, history=history, split="all", stride=horizon,
                              batch_size=batch_size, max_growth=max_growth, progress=progress)
        except DataFitError as err:  # more fields, components or patches than the model takes
            logger.info("stress case %s skipped: %s", case.name, err)
            scores.append(CaseScore(case, skipped=str(err).split(";")[0]))
            continue
        curves = {source: result.summary(source)["mean"]["nrmse"]["per_step"] for source in ("model", "persistence")}
        scores.append(CaseScore(case, curves["model"], curves["persistence"], result.n_windows, len(result.diverged)))
        logger.info("stress case %s: nRMSE at step %d %.3g (persistence %.3g)%s", case.name, horizon,
                    curves["model"][-1], curves["persistence"][-1],
                    f", {len(result.diverged)} diverged" if result.diverged else "")
    setup = {"horizon": horizon, "history": history, "n_traj": n_traj, "seed": seed, "max_growth": max_growth,
             "metric": "nRMSE, fields averaged, windows averaged"}
    return StressReport(scores, setup)
