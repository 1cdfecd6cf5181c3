"""The MORPH model: embedding -> positional table -> axial encoder -> decoder; and the FNO and
U-Net baselines behind the same contract (`morph.model.baselines`, registered as "fno" and "unet")."""

from morph.model.baselines import BASELINES, FNO, FNOConfig, UNet, UNetConfig
from morph.model.morph import MORPH

__all__ = ["BASELINES", "FNO", "FNOConfig", "MORPH", "UNet", "UNetConfig"]
