"""Growing a MORPH to more fields and components than it was built for.

Two parts of MORPH carry its limits max_fields (F) and max_components (C):

    embedding.component_proj.weight  (8, C, 1, 1, 1)   one input column per component
    decoder.linear                   F * C * p**3 rows  one block of output rows per (field, component)

The convolution stack, the field cross-attention and the encoder take any number of fields.
`grow(model, max_fields, max_components)` returns a model with larger limits in which every old
weight stays where it was: new component columns are appended after the old ones and new output
rows after all old rows (`morph.model.decoder.output_rows` says which slot reads which row), and
both start at zero. So, at step 0:

- data the model already took gives exactly the outputs it gave (components beyond the old C are
  zero padding there, and each old slot keeps its rows);
- a new slot predicts 0 in normalised units: the history's mean, or, with `predict_delta`, the last
  frame (persistence). A stable start: no exploding outputs, and every new weight gets a gradient.

On data with a new field the old fields' predictions also move a little, as the field
cross-attention now averages over one more field token. `grow_to(model, specs)` grows just enough
for some datasets. With a LoRA level-1 fine-tune only the adapter trains; `train_new_parts`
makes the grown parts (the appended rows and columns) trainable too, without touching the old
weights, and `fold_new_parts` turns them back into plain tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from pde_data import DatasetSpec

from morph.config import MorphConfig

__all__ = ["Growth", "fold_new_parts", "grow", "grow_to", "new_part_values", "new_parts", "set_new_part_values",
           "size_for", "train_new_parts"]

#: The tensors that carry max_fields and max_components, and the axis each grows along.
GROWING: dict[str, int] = {"decoder.linear.weight": 0, "decoder.linear.bias": 0,
                           "embedding.component_proj.weight": 1}


@dataclass(frozen=True)
class Growth:
    """What `grow` changed: (before, after) of max_fields and max_components, and the parameters added."""

    fields: tuple[int, int]
    components: tuple[int, int]
    parameters: int

    def __str__(self) -> str:
        parts = [f"{name} {a} -> {b}" for name, (a, b) in
                 (("max_fields", self.fields), ("max_components", self.components)) if a != b]
        return f"grew {', '.join(parts)}: +{self.parameters:,} parameters"


def size_for(config: MorphConfig, specs: Iterable[DatasetSpec]) -> tuple[int, int]:
    """The (max_fields, max_components) a model of `config` needs to take every dataset of `specs`:
    its own limits, raised where a dataset has more fields or wider fields."""
    fields, components = config.max_fields, config.max_components
    for spec in specs:
        fields, components = max(fields, len(spec.fields)), max(components, max(spec.components))
    return fields, components


def new_parts(config: MorphConfig) -> dict[str, tuple[int, int]]:
    """For a grown `config`: where the parts added by its latest growth start, as
    {tensor name: (axis, first new index)} over `GROWING`; {} for a model never grown."""
    if not config.grown_from:
        return {}
    fields, components = config.grown_from[-1]
    rows = fields * components * config.max_patch_volume
    return {"decoder.linear.weight": (0, rows), "decoder.linear.bias": (0, rows),
            "embedding.component_proj.weight": (1, components)}


def _check_plain(model: nn.Module, what: str) -> None:
    if getattr(model, "peft_config", None) or parametrize.is_parametrized(model.decoder.linear):
        raise ValueError(f"{what}: the model carries an adapter or trainable grown parts; grow the plain model "
                         f"first (adapters.merge folds an adapter in)")


def grow(model: nn.Module, max_fields: int, max_components: int) -> nn.Module:
    """A copy of the MORPH `model` that takes up to `max_fields` fields of up to `max_components`
    components (see the module docstring); `model` itself when it already does.

    The copy records what grew in `.growth` (a `Growth`) and in its config's `grown_from`; its
    metadata and source are the model's. It cannot shrink: a smaller limit than the model's is
    an error.
    """
    config = model.config
    if not isinstance(config, MorphConfig):
        raise ValueError(f"grow: only a MORPH model grows, not a {type(model).__name__}")
    if max_fields < config.max_fields or max_components < config.max_components:
        raise ValueError(f"grow: the model takes {config.max_fields} fields of {config.max_components} components; "
                         f"it cannot shrink to {max_fields} x {max_components}")
    if (max_fields, max_components) == (config.max_fields, config.max_components):
        return model
    _check_plain(model, "grow")
    grown_config = MorphConfig.from_dict({
        **config.to_dict(), "max_fields": max_fields, "max_components": max_components,
        "grown_from": [*config.grown_from, (config.max_fields, config.max_components)]})
    grown = type(model)(grown_config)
    state = grown.state_dict()
    for name, tensor in model.state_dict().items():
        target = state[name]
        if name in GROWING:
            axis = GROWING[name]
            target.zero_()
            target.narrow(axis, 0, tensor.shape[axis]).copy_(tensor)
        else:
            target.copy_(tensor)
    grown.load_state_dict(state)
    before = sum(p.numel() for p in model.parameters())
    grown.growth = Growth(fields=(config.max_fields, max_fields), components=(config.max_components, max_components),
                          parameters=sum(p.numel() for p in grown.parameters()) - before)
    grown.metadata, grown.source = dict(model.metadata), model.source
    return grown.train(model.training)


def grow_to(model: nn.Module, specs: Sequence[DatasetSpec]) -> nn.Module:
    """`grow(model, ...)` just enough to take every dataset of `specs` (`size_for`); `model` itself
    when they fit already, or when it is not a MORPH (a baseline's own check then reports)."""
    if not isinstance(model.config, MorphConfig):
        return model
    return grow(model, *size_for(model.config, specs))


class _TrainedTail(nn.Module):
    """A parametrization: the frozen tensor with its part from `start` on along `axis` replaced by
    the trainable `tail` (what `train_new_parts` puts on a grown tensor)."""

    def __init__(self, tensor: torch.Tensor, axis: int, start: int) -> None:
        super().__init__()
        self.axis, self.start = axis, start
        self.tail = nn.Parameter(tensor.detach().narrow(axis, start, tensor.shape[axis] - start).clone())

    def forward(self, frozen: torch.Tensor) -> torch.Tensor:
        return torch.cat([frozen.narrow(self.axis, 0, self.start), self.tail], dim=self.axis)


def _owner(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    module_name, _, attribute = name.rpartition(".")
    return model.get_submodule(module_name), attribute


def train_new_parts(model: nn.Module) -> int:
    """Make the parts the latest growth added trainable while every old weight stays as it is (it
    may be frozen, as under LoRA): each grown tensor becomes a torch parametrization whose new
    part is a parameter of its own. Returns the number of parameters made trainable."""
    parts = new_parts(model.config)
    if not parts:
        raise ValueError("train_new_parts: the model was never grown (config.grown_from is empty)")
    count = 0
    for name, (axis, start) in parts.items():
        module, attribute = _owner(model, name)
        if parametrize.is_parametrized(module, attribute):
            continue
        frozen = getattr(module, attribute)
        requires_grad = frozen.requires_grad
        parametrize.register_parametrization(module, attribute, _TrainedTail(frozen, axis, start))
        module.parametrizations[attribute].original.requires_grad_(requires_grad)
        count += module.parametrizations[attribute][0].tail.numel()
    return count


def fold_new_parts(model: nn.Module) -> nn.Module:
    """Undo `train_new_parts` in place: the grown tensors become plain parameters again, with
    the trained values. Returns `model`."""
    for name in GROWING:
        module, attribute = _owner(model, name)
        if parametrize.is_parametrized(module, attribute):
            parametrize.remove_parametrizations(module, attribute, leave_parametrized=True)
    return model


def has_trained_parts(model: nn.Module) -> bool:
    """True when `train_new_parts` made grown parts of `model` trainable."""
    return any(".parametrizations." in name and name.endswith(".tail") for name, _ in model.named_parameters())


def new_part_values(model: nn.Module) -> dict[str, torch.Tensor]:
    """The values of the parts the latest growth added, {tensor name: part} (what a LoRA adapter
    saves besides its matrices)."""
    values = {}
    for name, (axis, start) in new_parts(model.config).items():
        module, attribute = _owner(model, name)
        tensor = getattr(module, attribute).detach()
        values[name] = tensor.narrow(axis, start, tensor.shape[axis] - start).to("cpu").contiguous()
    return values


def set_new_part_values(model: nn.Module, values: dict[str, Any], where: Optional[str] = None) -> None:
    """Write `new_part_values` output back into a model of the same grown config, in place."""
    parts = new_parts(model.config)
    if set(values) != set(parts):
        raise ValueError(f"{where or 'grown parts'}: holds {sorted(values)}, the model's growth has {sorted(parts)}")
    with torch.no_grad():
        for name, (axis, start) in parts.items():
            module, attribute = _owner(model, name)
            target = getattr(module, attribute)
            part = target.narrow(axis, start, target.shape[axis] - start)
            if tuple(values[name].shape) != tuple(part.shape):
                raise ValueError(f"{where or 'grown parts'}: {name} has shape {tuple(values[name].shape)}, "
                                 f"the model's new part {tuple(part.shape)}")
            part.copy_(values[name])
