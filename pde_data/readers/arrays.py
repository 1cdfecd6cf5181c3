"""Plain arrays: `.npy`, `.npz`, zarr arrays and groups (not the canonical store),
described by a `layout=` string (for users: docs/formats.md).

Layout letters (one per axis, case-insensitive, spaces optional): `N`
trajectory, `T` time (required), `F` field, `C` component, and space as
`X Y Z` or `D H W` (1 to 3 of them). Examples: `"N T F C D H W"` (MORPH's
padded layout), `"N T X Y"`, `"N T X Y C"`, `"T X"` (N = 1). Space is
returned in x, y, z order (or D, H, W order), whatever the stored order.

Fields (`fields=`):
- with `C` only (or `F` only): `{"velocity": 2, "pressure": 1}` takes
  consecutive channels; a list of names takes one channel each; default one
  field `u` with all of C (F only: one scalar `field_k` per entry).
- with `F` and `C`: one field per F entry; `{"velocity": 2, "pressure": 1}`
  keeps the leading components of each (padding dropped), a list of names
  keeps all C; default `field_k`.
- with neither: one scalar field, `u` unless named.
An `.npz` file or zarr group with several arrays gives one field per array
(named by its key, `fields=[...]` selects and orders them, `layout` may be a
dict key -> layout); `key=` picks one array and treats it as above.

Reads are lazy: `.npy` is memory-mapped, uncompressed `.npz` members too
(compressed ones are read whole on first access), zarr reads chunks.
`dt=`, `spacing=`, `boundary_conditions=`, `name=` fill the spec, which the
arrays cannot tell.
"""

from __future__ import annotations

import functools
import logging
import os
import struct
import zipfile
from typing import Any, Mapping, Optional

import numpy as np

from pde_data.dataset import LazyField, PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.readers.registry import Reader, register
from pde_data.readers._common import AxisView, check_first_frame, field_groups
from pde_data.readers.xarray_zarr import zarr_layout
from pde_data.spec import DatasetSpec, FieldSpec

__all__ = ["open_arrays", "parse_layout", "sniff"]

logger = logging.getLogger(__name__)

_KNOWN = "NTFCXYZDHW"
STORE_ATTRIBUTE = "morph_pde_spec"  # the canonical store's group attribute (handled by pde_data.store)


def _is_zarr(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, m))
                                       for m in ("zarr.json", ".zarray", ".zgroup"))


def sniff(path: str) -> bool:
    if path.lower().endswith((".npy", ".npz")) and os.path.isfile(path):
        return True
    if not _is_zarr(path):
        return False
    try:
        import zarr

        node = zarr.open(path, mode="r")
    except Exception:  # noqa: BLE001 - a sniff never raises; open() reports the error
        return False
    return STORE_ATTRIBUTE not in node.attrs


def parse_layout(layout: str, ndim: int, where: str) -> list[str]:
    """`"N T X Y"` -> `["N", "T", "X", "Y"]`, checked against an array of `ndim` dims."""
    if not isinstance(layout, str) or not layout.strip():
        raise DataError(f"{where}: layout= is required for plain arrays, a string of axis letters "
                        f"such as 'N T X Y', 'N T X Y C' or 'N T F C D H W' (the letters: {FORMATS_PAGE})")
    letters = layout.upper().split() if " " in layout.strip() else list(layout.upper().strip())
    bad = [a for a in letters if len(a) != 1 or a not in _KNOWN]
    if bad:
        raise DataError(f"{where}: layout {layout!r} has unknown letters {bad}; use N T F C and "
                        f"space as X Y Z or D H W ({FORMATS_PAGE})")
    if len(set(letters)) != len(letters):
        raise DataError(f"{where}: layout {layout!r} repeats a letter")
    if len(letters) != ndim:
        raise DataError(f"{where}: layout {layout!r} names {len(letters)} axes but the array has {ndim}; "
                        "give one letter per axis")
    space = [a for a in letters if a in "XYZDHW"]
    if "T" not in letters:
        raise DataError(f"{where}: layout {layout!r} has no T axis; plain arrays must hold trajectories "
                        "in time (use 'T ...' for a single trajectory)")
    if not 1 <= len(space) <= 3:
        raise DataError(f"{where}: layout {layout!r} has {len(space)} spatial axes; 1 to 3 are supported "
                        "(too many dims: merge or drop the extra axes)")
    if set(space) & set("XYZ") and set(space) & set("DHW"):
        raise DataError(f"{where}: layout {layout!r} mixes X Y Z with D H W; use one naming")
    return letters


def _lazy_letters(letters: list[str]) -> tuple[str, tuple[str, ...]]:
    """Layout letters -> LazyField letters (space as x, y, z in canonical order) and axis names."""
    space = [a for a in ("XYZ" if set(letters) & set("XYZ") else "DHW") if a in letters]
    to_lazy = {"N": "n", "T": "t", "C": "c", **{a: "xyz"[k] for k, a in enumerate(space)}}
    return " ".join(to_lazy.get(a, a) for a in letters), tuple(a.lower() for a in space)


def _fields_of(arr: Any, letters: list[str], fields: Any, where: str, default: str = "u") -> dict[str, Any]:
    """`{name: (N, T, C, *space) lazy view}` for one array with checked `letters`."""
    lazy, _ = _lazy_letters(letters)
    out: dict[str, Any] = {}
    if "F" in letters and "C" in letters:
        f_ax, n_f, n_c = letters.index("F"), arr.shape[letters.index("F")], arr.shape[letters.index("C")]
        rest = [a for a in lazy.split() if a != "F"]
        c_ax = rest.index("c")
        names = [f"field_{k}" for k in range(n_f)] if fields is None else fields
        groups = list(names.items()) if isinstance(names, Mapping) else [(k, n_c) for k in names]
        if len(groups) != n_f or any(not 1 <= int(c) <= n_c for _, c in groups):
            raise DataError(f"{where}: fields={fields!r} must name {n_f} fields (the F axis) with "
                            f"1 to {n_c} components each (the C axis)")
        for k, (name, comps) in enumerate(groups):
            src = AxisView(AxisView(arr, f_ax, k), c_ax, slice(0, int(comps)))  # (…, comps, …)
            out[str(name)] = LazyField([src], " ".join(rest), n=1, t=1)
        return out
    channel = "C" if "C" in letters else "F" if "F" in letters else None
    if channel is None:
        groups = field_groups(fields if fields is not None else [default], 1, f"{where} fields=")
        return {groups[0][0]: LazyField([arr], lazy, n=1, t=1)}
    ax, size = letters.index(channel), arr.shape[letters.index(channel)]
    if fields is None:
        fields = {default: size} if channel == "C" else [f"field_{k}" for k in range(size)]
    letters_c = lazy.replace("F", "c").split()
    c0 = 0
    for name, comps in field_groups(fields, size, f"{where} fields="):
        src = arr if comps == size else AxisView(arr, ax, slice(c0, c0 + comps))
        out[name] = LazyField([src], " ".join(letters_c), n=1, t=1)
        c0 += comps
    return out


def _direct(field: LazyField, arr: Any) -> Any:
    """Use the array itself when it is already `(N, T, C, *space)` in x, y, z order."""
    if len(field.sources) == 1 and field.sources[0] is arr and field.letters == ["n", "t", "c", *field.space]:
        return arr
    return field


def open_arrays(path: str, layout: Any = None, fields: Any = None, key: Optional[str] = None,
                dt: Optional[float] = None, spacing: Any = None, boundary_conditions: Any = None,
                name: Optional[str] = None, check_finite: bool = True) -> PDEDataset:
    """Open `.npy` / `.npz` / zarr arrays lazily with a `layout=` string; see the module docstring."""
    path = os.fspath(path)
    if layout is None and _is_zarr(path):
        found = zarr_layout(path)
        if found is not None and found.kind in ("plain", "array", "empty"):
            raise DataError(found.problem())
    arrays = _load(path)
    if key is not None:
        if key not in arrays:
            raise DataError(f"{path}: no array {key!r}; arrays are {sorted(arrays)}")
        arrays = {key: arrays[key]}
    if not arrays:
        raise DataError(f"{path}: holds no arrays")
    out: dict[str, Any] = {}
    letters = []
    if len(arrays) == 1:
        k, arr = next(iter(arrays.items()))
        lay = layout.get(k) if isinstance(layout, Mapping) else layout
        letters = parse_layout(lay, arr.ndim, f"{path} array {k!r} shape {tuple(arr.shape)}")
        out = {n: _direct(f, arr) for n, f in _fields_of(arr, letters, fields, f"{path}").items()}
    else:
        wanted = list(arrays) if fields is None else fields
        if not isinstance(wanted, (list, tuple)):
            raise DataError(f"{path}: holds arrays {sorted(arrays)}: fields= selects them by a list "
                            "of keys; to split one array's channels pass key=... too")
        for k in wanted:
            if k not in arrays:
                raise DataError(f"{path}: no array {k!r} (fields=); arrays are {sorted(arrays)}")
            arr = arrays[k]
            lay = layout.get(k) if isinstance(layout, Mapping) else layout
            letters = parse_layout(lay, arr.ndim, f"{path} array {k!r} shape {tuple(arr.shape)}")
            if "F" in letters:
                raise DataError(f"{path}: array {k!r} has an F axis; open it alone with key={k!r}")
            (field,) = _fields_of(arr, letters, None, f"{path} array {k!r}").values()
            out[str(k)] = _direct(field, arr)
    first = next(iter(out.values()))
    n, t, _, *grid = first.shape
    _, axis_names = _lazy_letters(letters)
    spec = DatasetSpec(
        name=name or os.path.splitext(os.path.basename(path.rstrip("/")))[0], grid_shape=tuple(grid),
        fields=tuple(FieldSpec(k, int(a.shape[2])) for k, a in out.items()), n_trajectories=n,
        n_steps=t, dt=dt, spacing=spacing, axis_names=axis_names, source=path, format="arrays")
    if boundary_conditions is not None:
        spec.set_boundaries(boundary_conditions)
    reopen = functools.partial(open_arrays, path, layout=layout, fields=fields, key=key, dt=dt,
                               spacing=spacing, boundary_conditions=boundary_conditions, name=name,
                               check_finite=check_finite)
    ds = PDEDataset(spec, out, reopen=reopen)
    return check_first_frame(ds) if check_finite else ds


def _load(path: str) -> dict[str, Any]:
    """`{key: array-like}` without reading the values."""
    low = path.lower()
    try:
        if low.endswith(".npy"):
            return {os.path.splitext(os.path.basename(path))[0]: np.load(path, mmap_mode="r")}
        if low.endswith(".npz"):
            return _npz(path)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: cannot be read as a numpy file ({err}); re-save it with np.save / "
                        "np.savez (no pickled objects)") from err
    if _is_zarr(path):
        import zarr

        try:
            node = zarr.open(path, mode="r")
        except Exception as err:  # noqa: BLE001 - zarr raises many types; all become one message
            raise DataError(f"{path}: cannot be opened as zarr ({type(err).__name__}: {err})") from err
        if isinstance(node, zarr.Array):
            return {os.path.basename(path.rstrip("/")): node}
        if STORE_ATTRIBUTE in node.attrs:
            raise DataError(f"{path}: is a canonical morph-pde store; open it with format='store'")
        return {k: node[k] for k in node.array_keys()}
    raise DataError(f"{path}: not a .npy, .npz or zarr array/group; pass format=... for another reader "
                    f"(the formats read: {FORMATS_PAGE})")


def _npz(path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            if info.compress_type == zipfile.ZIP_STORED:
                fh.seek(info.header_offset + 26)
                n_name, n_extra = struct.unpack("<HH", fh.read(4))
                fh.seek(info.header_offset + 30 + n_name + n_extra)
                shape, fortran, dtype = _header(fh)
                out[key] = np.memmap(path, dtype=dtype, mode="r", offset=fh.tell(), shape=shape,
                                     order="F" if fortran else "C")
            else:
                with zf.open(info) as member:
                    shape, _, dtype = _header(member)
                out[key] = _Deferred(path, key, shape, dtype)
    return out


def _header(fh: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fh)
    if dtype.hasobject:
        raise ValueError("object arrays are not supported")
    return shape, fortran, dtype


class _Deferred:
    """A compressed `.npz` member: shape known up front, values read whole on first access."""

    def __init__(self, path: str, key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.key, self.shape, self.dtype = path, key, tuple(shape), dtype
        self.ndim = len(self.shape)
        self._values: Optional[np.ndarray] = None

    def __getitem__(self, index: Any) -> np.ndarray:
        if self._values is None:
            logger.warning("%s: member %r is compressed and is read whole; save with np.savez "
                           "(uncompressed) or convert to a store for lazy reads", self.path, self.key)
            with np.load(self.path) as z:
                self._values = z[self.key]
        return self._values[index]


register(Reader("arrays", "plain arrays: .npy, .npz, zarr arrays/groups, with a layout= string",
                sniff, open_arrays))
