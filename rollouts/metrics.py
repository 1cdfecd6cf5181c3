"""Error metrics of a rollout per sample, step, field and component, over real entries only.

For prediction `p` and truth `y` of one component, `e = p - y`, means over the
grid points (N = D * H * W):

    mse    mean(e^2)                  rmse   sqrt(mse)          mae  mean(|e|)
    nrmse  sqrt(mse / mean(y^2))                relative L2, ||e|| / ||y||
    vrmse  sqrt(mse / (var(y) + eps))           The Well's VRMSE: var is the
           unbiased variance over space, eps = 1e-7 (the_well.benchmark.metrics)
    spectral_low / _mid / _high
           energy of e per wavenumber band: sum over Fourier modes in the band
           of |FFT(e)|^2 / N^2 (Parseval: the three bands add up to mse).
           Wavenumbers are in cycles per grid point (numpy's fftfreq) on every
           spatial axis, binned radially by |k|; the bands are thirds of the
           largest |k| on the grid: low |k| < kmax/3 <= mid < 2 kmax/3 <= high.

Per field, the components of a vector are taken together: mse, mae and the
spectral bands are means over its real components (so the bands still add up
to mse), rmse = sqrt(mse), nrmse = ||e|| / ||y|| over all of its components,
and vrmse the mean of its components' vrmse (The Well scores each component
as a channel). Padded components and fields with no real component are NaN.
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import reduce

from morph.predict import nrmse

__all__ = ["BANDS", "METRICS", "compute_metrics", "spectral_bands"]

#: Names of the metrics `compute_metrics` returns, in table order.
METRICS = ("mse", "rmse", "mae", "nrmse", "vrmse", "spectral_low", "spectral_mid", "spectral_high")
#: The wavenumber bands of the spectral metrics (`spectral_low`, ...): thirds of the largest |k|.
BANDS = ("low", "mid", "high")


def spectral_bands(shape: tuple[int, int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """Band of every Fourier mode of a `(D, H, W)` grid: `(3, D, H, W)` bool, low / mid / high.

    |k| is the radial wavenumber in cycles per grid point; the bands are thirds of its maximum.
    """
    freqs = torch.meshgrid(*(torch.fft.fftfreq(n, device=device, dtype=torch.float64) for n in shape),
                           indexing="ij")
    radius = torch.sqrt(sum(f**2 for f in freqs))  # (D, H, W)
    edge = radius.max() / 3
    low = radius < edge
    high = radius >= 2 * edge if edge > 0 else torch.zeros_like(low)
    return torch.stack([low, ~low & ~high, high])


def compute_metrics(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                    per: Literal["field", "component"] = "field", eps: float = 1e-7
                    ) -> dict[str, torch.Tensor]:
    """Every metric of `METRICS` for a rollout, in float64.

    pred, target: `(B, K, F, C, D, H, W)` (or one step `(B, F, C, D, H, W)`).
    mask: `(B, F, C)` or `(F, C)`, True on real components.
    Returns `{name: (B, K, F)}` with per="field", `{name: (B, K, F, C)}` with
    per="component" (without the K axis for one-step input); NaN on padding.
    """
    if per not in ("field", "component"):
        raise ValueError(f"per must be 'field' or 'component', got {per!r}")
    single = pred.ndim == 6
    if single:
        pred, target = pred[:, None], target[:, None]
    if pred.ndim != 7 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be (B, K, F, C, D, H, W), got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    b, _, f, c = pred.shape[:4]
    mask = mask.to(pred.device, torch.bool).expand(b, f, c)
    y = target.double()
    err = pred.double() - y
    mse = reduce(err**2, "b k f c d h w -> b k f c", "mean")
    out = {
        "mse": mse,
        "mae": reduce(err.abs(), "b k f c d h w -> b k f c", "mean"),
        "var": y.flatten(4).var(dim=-1, correction=1),
    }
    spectrum = torch.fft.fftn(err, dim=(-3, -2, -1)).abs() ** 2 / err[0, 0, 0, 0].numel() ** 2
    bands = spectral_bands(tuple(pred.shape[-3:]), pred.device)
    for name, band in zip(BANDS, bands):
        out[f"spectral_{name}"] = (spectrum * band).sum(dim=(-3, -2, -1))
    real = mask[:, None]  # (B, 1, F, C)
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=pred.device)
    if per == "component":
        result = {
            "mse": mse,
            "rmse": mse.sqrt(),
            "mae": out["mae"],
            "nrmse": nrmse(pred.flatten(2, 3)[:, :, :, None], target.flatten(2, 3)[:, :, :, None],
                           real.flatten(2, 3)[..., None]).unflatten(2, (f, c)),
            "vrmse": (mse / (out["var"] + eps)).sqrt(),
            **{f"spectral_{n}": out[f"spectral_{n}"] for n in BANDS},
        }
        result = {k: torch.where(real, v, nan) for k, v in result.items()}
    else:
        n_real = real.sum(-1)  # (B, 1, F)

        def component_mean(v: torch.Tensor) -> torch.Tensor:
            return torch.where(real, v, 0).sum(-1) / n_real.clamp_min(1)

        field_mse = component_mean(mse)
        result = {
            "mse": field_mse,
            "rmse": field_mse.sqrt(),
            "mae": component_mean(out["mae"]),
            "nrmse": nrmse(pred, target, real),
            "vrmse": component_mean((mse / (out["var"] + eps)).sqrt()),
            **{f"spectral_{n}": component_mean(out[f"spectral_{n}"]) for n in BANDS},
        }
        result = {k: torch.where(n_real > 0, v, nan) for k, v in result.items()}
    result = {k: result[k] for k in METRICS}
    return {k: v[:, 0] for k, v in result.items()} if single else result
