"""Runtime support for packages made by `mdc export --target torch`.

Every rank of a `torchrun` launch runs the package's generated `main.py`, which calls this
module for everything that is not the model's own arithmetic:

- `Mesh`: the process group and one sub-group per slice of every mesh axis, with ranks
  numbered row-major over the axes as mdc numbers devices (layout/mesh.ts).
- The collectives of mdc's partitioned plans (compiler/ops/collectives.ts), each over the
  ranks of one mesh axis, with mdc's semantics: `all_reduce`, `reduce_scatter`,
  `all_gather`, `all_to_all`, and the local re-slicings `shard_slice` and `partial_mask`;
  `send`/`recv` for pipeline transfers.
- `init_param`: a rank's block of a parameter, bit-identical to mdc's `initValues`
  (runtime/init.ts) of the whole parameter, computed without materialising the whole.
- `load_safetensors` / `save_safetensors`: a small reader and writer of the format,
  compatible with mdc's own (runtime/checkpoint.ts, including its CRC-32 in the metadata).
- Tracing (`MDC_TORCH_TRACE=<dir>`), failure handling (`main`) and fault injection
  (`fault_point`, `MDC_TORCH_KILL=<rank>:<step>`) for tests.

It uses only APIs present from PyTorch 1.13 through 2.x and needs numpy, nothing else.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import select
import signal
import struct
import sys
import threading
import time
import traceback
import zlib
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist

# Seconds past the mesh timeout after which the watchdog ends a rank whose collective has not
# returned: the backend's own timeout should have fired by then (Gloo honours it; NCCL only
# with blocking waits), so this is the backstop that keeps a lost peer from hanging a rank.
WATCHDOG_GRACE_S = 5.0

# Exit codes: a failed collective or any other error, a rank stopped by the launcher, a rank
# ended by the watchdog, and a rank killed by fault injection (128 + SIGKILL, as if killed).
EXIT_FAILED = 1
EXIT_TERMINATED = 143
EXIT_WATCHDOG = 124
EXIT_FAULT = 137


class CollectiveError(RuntimeError):
    """A collective (or point-to-point transfer) that did not complete: a peer died, timed out or refused."""

    def __init__(self, rank: int, op: str, axis: str, reason: str):
        super().__init__(f"mdc_torch: rank {rank}: {op} over {axis} failed: {reason}")
        self.rank, self.op, self.axis, self.reason = rank, op, axis, reason


class _Inflight:
    """What this rank is waiting for, read by the watchdog thread and the SIGTERM path."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.op: Optional[str] = None
        self.axis: str = ""
        self.since = 0.0
        self.deadline_s = math.inf


# One process is one rank: the process-wide state is this rank's (the active mesh and what it
# is waiting for), which the watchdog thread and signal path need without a reference passed in.
_INFLIGHT = _Inflight()
_ACTIVE: dict[str, "Mesh"] = {}


# ---------------------------------------------------------------------------------------------
# The mesh and its process groups
# ---------------------------------------------------------------------------------------------


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise SystemExit(f"mdc_torch: {name} is not set: launch with torchrun (e.g. torchrun --nproc_per_node=N main.py)")
    return int(value)


class Mesh:
    """The device mesh of mdc's plan over torchrun's ranks, with one process group per axis slice."""

    def __init__(self, axes: list[tuple[str, int]], timeout_s: float = 60.0):
        self.axes: list[tuple[str, int]] = [(str(a), int(n)) for a, n in axes]
        self.timeout_s = float(timeout_s)
        size = 1
        for _, n in self.axes:
            size *= n
        self.rank = _env_int("RANK")
        self.world = _env_int("WORLD_SIZE")
        mesh_text = "[" + ", ".join(f"{a}: {n}" for a, n in self.axes) + "]"
        if self.world != size:
            raise SystemExit(
                f"mdc_torch: the mesh {mesh_text} has {size} devices but torchrun started WORLD_SIZE={self.world} ranks "
                f"(run with --nproc_per_node x --nnodes = {size})"
            )
        cuda = torch.cuda.is_available()
        self.backend = "nccl" if cuda else "gloo"
        if cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
            # Without blocking waits NCCL's timeout only aborts in a background thread; with them the
            # waiting call raises, which is what lets `main` report the failed collective.
            os.environ.setdefault("NCCL_BLOCKING_WAIT", "1")
            os.environ.setdefault("TORCH_NCCL_BLOCKING_WAIT", "1")
        else:
            self.device = torch.device("cpu")
        self.coords: dict[str, int] = self.coords_of(self.rank)
        timeout = datetime.timedelta(seconds=self.timeout_s)
        with _guard(self.rank, "init_process_group", mesh_text, self.timeout_s):
            if not dist.is_initialized():
                dist.init_process_group(backend=self.backend, init_method="env://", timeout=timeout)
        # Every rank creates every group in the same order (new_group is collective over the world).
        self._groups: dict[str, Any] = {}
        self._group_ranks: dict[str, list[int]] = {}
        for name, _ in self.axes:
            for ranks in self.axis_groups(name):
                with _guard(self.rank, "new_group", name, self.timeout_s):
                    g = dist.new_group(ranks=ranks, timeout=timeout, backend=self.backend)
                if self.rank in ranks:
                    self._groups[name] = g
                    self._group_ranks[name] = ranks
        self._trace = _Tracer(self.rank)
        self._closed = False
        _ACTIVE["mesh"] = self

    # The arithmetic of layout/mesh.ts on this mesh.
    def size(self, axis: str) -> int:
        for name, n in self.axes:
            if name == axis:
                return n
        raise KeyError(f"mdc_torch: the mesh has no axis '{axis}' (axes: {', '.join(a for a, _ in self.axes)})")

    def rank_of(self, coords: dict[str, int]) -> int:
        r = 0
        for name, n in self.axes:
            r = r * n + coords.get(name, 0)
        return r

    def axis_groups(self, axis: str) -> list[list[int]]:
        """The rank groups of `axis`: each ordered by coordinate on it, the groups by their first rank."""
        n = self.size(axis)
        out = []
        for r in range(self.world):
            c = self.coords_of(r)
            if c[axis] == 0:
                out.append([self.rank_of({**c, axis: k}) for k in range(n)])
        return out

    def coords_of(self, rank: int) -> dict[str, int]:
        """A rank's coordinate on each axis, in the axes' order (row-major: the last axis varies fastest)."""
        c: dict[str, int] = {}
        for name, n in reversed(self.axes):
            c[name] = rank % n
            rank //= n
        return {name: c[name] for name, _ in self.axes}

    def group(self, axis: str) -> Any:
        """This rank's process group along `axis`."""
        self.size(axis)
        return self._groups[axis]

    def group_ranks(self, axis: str) -> list[int]:
        """The global ranks of this rank's slice along `axis`, in coordinate order."""
        self.size(axis)
        return list(self._group_ranks[axis])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._trace.close()
        _ACTIVE.pop("mesh", None)
        if dist.is_initialized():
            dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# Tracing and the failure guard around every exchange
# ---------------------------------------------------------------------------------------------


class _Tracer:
    """With MDC_TORCH_TRACE=<dir>: one JSON line per collective or transfer in <dir>/rank<R>.jsonl."""

    def __init__(self, rank: int):
        where = os.environ.get("MDC_TORCH_TRACE")
        self.file = None
        if where:
            os.makedirs(where, exist_ok=True)
            self.file = open(os.path.join(where, f"rank{rank}.jsonl"), "a", encoding="utf-8")

    def record(self, op: str, axis: Optional[str], group: list[int], x: torch.Tensor, **extra: Any) -> None:
        if self.file is None:
            return
        entry: dict[str, Any] = {
            "op": op,
            "axis": axis,
            "group": group,
            "dtype": str(x.dtype).replace("torch.", ""),
            "shape": list(x.shape),
            "bytes": x.numel() * x.element_size(),
        }
        entry.update(extra)
        self.file.write(json.dumps(entry) + "\n")
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


@contextmanager
def _guard(rank: int, op: str, axis: str, timeout_s: float) -> Iterator[None]:
    """Marks `op` in flight for the watchdog and turns a backend error into a CollectiveError."""
    with _INFLIGHT.lock:
        _INFLIGHT.op, _INFLIGHT.axis, _INFLIGHT.since = op, axis, time.monotonic()
        _INFLIGHT.deadline_s = timeout_s + WATCHDOG_GRACE_S
    try:
        yield
    except CollectiveError:
        raise
    except (RuntimeError, ValueError, ConnectionError, TimeoutError) as e:
        raise CollectiveError(rank, op, axis, _first_line(e)) from e
    finally:
        with _INFLIGHT.lock:
            _INFLIGHT.op = None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line[:300]


def _exchange(mesh: Mesh, op: str, axis: str, x: torch.Tensor, **extra: Any) -> tuple[Any, list[int]]:
    """Traces one exchange of `x` over `axis` and returns the group and its ranks."""
    ranks = mesh.group_ranks(axis)
    mesh._trace.record(op, axis, ranks, x, **extra)
    return mesh.group(axis), ranks


# ---------------------------------------------------------------------------------------------
# Collectives (compiler/ops/collectives.ts): inputs untouched, a new tensor returned
# ---------------------------------------------------------------------------------------------

# Gloo (1.13) takes no bfloat16 (nor int16): sums go through float32 (more exact, not less), data
# movement through the same bits viewed as float16, which Gloo copies without looking at them.
_GLOO_SUM_AS = {torch.bfloat16: torch.float32}
_GLOO_MOVE_AS = {torch.bfloat16: torch.float16}


def _wire(mesh: Mesh, x: torch.Tensor, table: dict) -> torch.Tensor:
    x = x.contiguous()
    if mesh.backend == "gloo" and x.dtype in table:
        other = table[x.dtype]
        # A wider type is a conversion; one of the same width, the same bits renamed.
        return x.view(other) if _width(other) == x.element_size() else x.to(other)
    return x


def _unwire(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if x.dtype == dtype:
        return x
    return x.view(dtype) if _width(dtype) == x.element_size() else x.to(dtype)


def _width(dtype: torch.dtype) -> int:
    # torch.dtype.itemsize is newer than 1.13.
    return torch.empty((), dtype=dtype).element_size()


def _block(x: torch.Tensor, dim: int, k: int, parts: int) -> torch.Tensor:
    """Block `k` of `parts` equal blocks of `dim` (a view)."""
    size = x.shape[dim]
    if size % parts != 0:
        raise ValueError(f"mdc_torch: dim {dim} of size {size} does not split into {parts} blocks")
    step = size // parts
    return x.narrow(dim, k * step, step)


def all_reduce(mesh: Mesh, x: torch.Tensor, axis: str) -> torch.Tensor:
    """The sum over the axis, on every rank of it."""
    group, ranks = _exchange(mesh, "all_reduce", axis, x)
    y = _wire(mesh, x, _GLOO_SUM_AS).clone()
    if len(ranks) > 1:
        with _guard(mesh.rank, "all_reduce", axis, mesh.timeout_s):
            dist.all_reduce(y, op=dist.ReduceOp.SUM, group=group)
    return _unwire(y, x.dtype)


def reduce_scatter(mesh: Mesh, x: torch.Tensor, axis: str, dim: int) -> torch.Tensor:
    """The sum over the axis, each rank keeping block coord(axis) of `dim`."""
    group, ranks = _exchange(mesh, "reduce_scatter", axis, x, dim=dim)
    n, k = len(ranks), mesh.coords[axis]
    if n == 1:
        return x.clone()
    with _guard(mesh.rank, "reduce_scatter", axis, mesh.timeout_s):
        if mesh.backend == "nccl":
            parts = [_block(x, dim, j, n).contiguous() for j in range(n)]
            out = torch.empty_like(parts[k])
            dist.reduce_scatter(out, parts, op=dist.ReduceOp.SUM, group=group)
            return out
        # Gloo (1.13) has no reduce_scatter: a whole all_reduce, then this rank's block. That moves
        # about twice the bytes of a reduce_scatter and holds the whole sum for a moment.
        y = _wire(mesh, x, _GLOO_SUM_AS).clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM, group=group)
        return _unwire(_block(y, dim, k, n).contiguous(), x.dtype)


def all_gather(mesh: Mesh, x: torch.Tensor, axis: str, dim: int) -> torch.Tensor:
    """The blocks of the axis joined along `dim` in coordinate order, on every rank."""
    group, ranks = _exchange(mesh, "all_gather", axis, x, dim=dim)
    n = len(ranks)
    if n == 1:
        return x.clone()
    w = _wire(mesh, x, _GLOO_MOVE_AS)
    parts = [torch.empty_like(w) for _ in range(n)]
    with _guard(mesh.rank, "all_gather", axis, mesh.timeout_s):
        dist.all_gather(parts, w, group=group)
    return _unwire(torch.cat(parts, dim=dim), x.dtype)


def all_to_all(mesh: Mesh, x: torch.Tensor, axis: str, dim: int, to: int) -> torch.Tensor:
    """A split of `dim` traded for a split of `to`: of the whole (the blocks joined along `dim`), keep block coord of `to`."""
    group, ranks = _exchange(mesh, "all_to_all", axis, x, dim=dim, to=to)
    n, k = len(ranks), mesh.coords[axis]
    if n == 1 or dim == to:
        # Joining along `dim` and cutting the same dim again gives back this rank's own block.
        return x.clone()
    with _guard(mesh.rank, "all_to_all", axis, mesh.timeout_s):
        if mesh.backend == "nccl":
            sends = [_block(x, to, j, n).contiguous() for j in range(n)]
            recvs = [torch.empty_like(sends[k]) for _ in range(n)]
            dist.all_to_all(recvs, sends, group=group)
            return torch.cat(recvs, dim=dim)
        # Gloo (1.13) has no list all_to_all, but has all_to_all_single, which trades equal slices
        # of dim 0: move `to` first so its blocks are those slices, trade, and put the received
        # blocks (one per source, in coordinate order) side by side along `dim`. The same bytes
        # cross the wire as NCCL's all_to_all; the cost is two local copies of the tensor.
        w = _wire(mesh, x, _GLOO_MOVE_AS)
        front = w.movedim(to, 0).contiguous()
        got = torch.empty_like(front)
        dist.all_to_all_single(got, front, group=group)
        pieces = [piece.movedim(0, to) for piece in got.chunk(n, dim=0)]
        return _unwire(torch.cat(pieces, dim=dim).contiguous(), x.dtype)


def shard_slice(mesh: Mesh, x: torch.Tensor, axis: str, dim: int) -> torch.Tensor:
    """Local, no traffic: keep block coord(axis) of `dim`."""
    _exchange(mesh, "shard_slice", axis, x, dim=dim)
    return _block(x, dim, mesh.coords[axis], mesh.size(axis)).clone()


def partial_mask(mesh: Mesh, x: torch.Tensor, axis: str) -> torch.Tensor:
    """Local, no traffic: a whole value as a pending sum over the axis (coordinate 0 keeps it, the others zeros)."""
    _exchange(mesh, "partial_mask", axis, x)
    return x.clone() if mesh.coords[axis] == 0 else torch.zeros_like(x)


def send(mesh: Mesh, x: torch.Tensor, dst: int) -> None:
    """Pipeline transfer to global rank `dst` (blocking)."""
    peers = [mesh.rank, dst]
    mesh._trace.record("send", None, peers, x, peer=dst)
    w = _wire(mesh, x, _GLOO_MOVE_AS)
    with _guard(mesh.rank, "send", f"rank {dst}", mesh.timeout_s):
        dist.send(w, dst=dst)


def recv(mesh: Mesh, shape: list[int], dtype: torch.dtype, src: int, tag: int = 0) -> torch.Tensor:
    """Pipeline transfer from global rank `src` (blocking): a new tensor of `shape` and `dtype`; `tag` matches isend's."""
    out = torch.empty(list(shape), dtype=dtype, device=mesh.device)
    mesh._trace.record("recv", None, [src, mesh.rank], out, peer=src)
    w = _wire(mesh, out, _GLOO_MOVE_AS)
    with _guard(mesh.rank, "recv", f"rank {src}", mesh.timeout_s):
        dist.recv(w, src=src, tag=tag)
    return _unwire(w, dtype)


class Pending:
    """A send in flight (isend): keeps its buffer alive until wait() returns."""

    def __init__(self, mesh: Mesh, work: Any, buffer: torch.Tensor, dst: int):
        self.mesh, self.work, self.buffer, self.dst = mesh, work, buffer, dst

    def wait(self) -> None:
        with _guard(self.mesh.rank, "send", f"rank {self.dst}", self.mesh.timeout_s):
            self.work.wait()


def isend(mesh: Mesh, x: torch.Tensor, dst: int, tag: int = 0) -> Pending:
    """Pipeline transfer to global rank `dst` that does not wait for the receiver (traced as a send); wait() on the result."""
    mesh._trace.record("send", None, [mesh.rank, dst], x, peer=dst)
    w = _wire(mesh, x, _GLOO_MOVE_AS).clone()
    with _guard(mesh.rank, "send", f"rank {dst}", mesh.timeout_s):
        work = dist.isend(w, dst=dst, tag=tag)
    return Pending(mesh, work, w, dst)


# ---------------------------------------------------------------------------------------------
# Parameters: runtime/init.ts initValues, block by block
# ---------------------------------------------------------------------------------------------

_MULBERRY_STEP = np.uint32(0x6D2B79F5)
_SEED_MIX = 0x9E3779B1
# Elements per numpy pass: bounds the temporaries (a few uint32/float64 arrays of this length).
_CHUNK = 1 << 20


def _fnv1a_utf16(name: str) -> int:
    """runtime/init.ts hashString: FNV-1a over the name's UTF-16 code units (JavaScript's charCodeAt)."""
    h = 0x811C9DC5
    units = struct.unpack(f"<{len(name.encode('utf-16-le')) // 2}H", name.encode("utf-16-le"))
    for u in units:
        h = ((h ^ u) * 0x01000193) & 0xFFFFFFFF
    return h


def _mulberry32(state: np.ndarray) -> np.ndarray:
    """mulberry32's output for the given states (each already advanced by its draw), as floats in [0, 1)."""
    s = state.astype(np.uint32, copy=False)
    t = (s ^ (s >> np.uint32(15))) * (s | np.uint32(1))
    t = (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))) ^ t
    return (t ^ (t >> np.uint32(14))).astype(np.float64) / 4294967296.0


def _draws(s0: int, draw: np.ndarray) -> np.ndarray:
    """The value of draw number `draw` (1 = the first): the state after `draw` steps is s0 + draw * step mod 2^32."""
    d = (draw & 0xFFFFFFFF).astype(np.uint32)
    return _mulberry32(np.uint32(s0) + d * _MULBERRY_STEP)


def _flat_indices(global_shape: list[int], start: list[int], shape: list[int]) -> np.ndarray:
    """The row-major indices in the whole parameter of every element of the block, in block order."""
    idx = np.zeros([1] * len(shape), dtype=np.int64)
    stride = 1
    for d in reversed(range(len(shape))):
        along = (np.arange(shape[d], dtype=np.int64) + start[d]) * stride
        idx = idx + along.reshape([shape[d] if i == d else 1 for i in range(len(shape))])
        stride *= global_shape[d]
    return np.broadcast_to(idx, shape).reshape(-1)


def init_values(init: dict, indices: np.ndarray, seed: int, name: str) -> np.ndarray:
    """initValues(init, count, seed, name)[indices] as float32, for any indices of the whole parameter."""
    kind = init["kind"]
    if kind == "constant":
        return np.full(indices.shape, float(init["value"]), dtype=np.float32)
    s0 = (_fnv1a_utf16(name) ^ (((int(seed) & 0xFFFFFFFF) * _SEED_MIX) & 0xFFFFFFFF)) & 0xFFFFFFFF
    out = np.empty(indices.shape, dtype=np.float32)
    for at in range(0, indices.size, _CHUNK):
        i = indices[at : at + _CHUNK]
        if kind == "uniform":
            low, high = float(init["low"]), float(init["high"])
            # Element i is draw i + 1; the float64 arithmetic in the order init.ts does it, then float32.
            out[at : at + i.size] = (low + (high - low) * _draws(s0, i + 1)).astype(np.float32)
        elif kind == "normal":
            mean, std = float(init["mean"]), float(init["std"])
            # Box–Muller pairs: elements 2j and 2j+1 share draws 2j+1 (u1 = 1 - draw) and 2j+2 (u2),
            # the even one taking the cosine, the odd one the sine, so a block may start on either.
            pair = i // 2
            u1 = 1.0 - _draws(s0, 2 * pair + 1)
            u2 = _draws(s0, 2 * pair + 2)
            # log, cos and sin are not correctly rounded in V8 nor in numpy, and the two differ in the
            # last bit of the float64 result now and then; that reaches the float32 value only when it
            # lies within a float64 ulp of a float32 rounding boundary (about 2^-29 of the time), so a
            # rare value can differ by one float32 ulp. Measured: none in 2.5 million (test/torch).
            r = np.sqrt(-2.0 * np.log(u1))
            angle = 2 * math.pi * u2
            even = i % 2 == 0
            trig = np.empty(i.size, dtype=np.float64)
            trig[even] = np.cos(angle[even])
            trig[~even] = np.sin(angle[~even])
            out[at : at + i.size] = (mean + std * r * trig).astype(np.float32)
        else:
            raise ValueError(f"mdc_torch: unknown init kind {kind!r} (constant, uniform, normal)")
    return out


def init_param(name: str, init: dict, global_shape: list[int], start: list[int], shape: list[int], seed: int) -> torch.Tensor:
    """This rank's block (at `start`, of `shape`) of parameter `name`, as mdc initialises the whole: float32, on the CPU."""
    if len(global_shape) != len(start) or len(start) != len(shape):
        raise ValueError(f"mdc_torch: init_param {name}: shape {global_shape}, start {start} and block {shape} differ in rank")
    for g, s, n in zip(global_shape, start, shape):
        if s < 0 or n < 0 or s + n > g:
            raise ValueError(f"mdc_torch: init_param {name}: block at {start} of {shape} leaves the shape {global_shape}")
    values = init_values(init, _flat_indices(global_shape, start, shape), seed, name)
    return torch.from_numpy(values.reshape(shape))


# ---------------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------------

# dtype name ↔ (torch dtype, bytes per element); bfloat16 moves through numpy as its raw 16 bits.
_ST_DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I32": (torch.int32, 4),
    "I64": (torch.int64, 8),
}
_ST_NUMPY = {"F32": "<f4", "F16": "<f2", "BF16": "<i2", "I32": "<i4", "I64": "<i8"}
_MDC_CHECKSUM = "mdc.crc32"
_ST_MAX_HEADER = 100_000_000


def _canonical(metadata: dict[str, str], entries: list[tuple[str, str, list[int], int, int]]) -> bytes:
    """What mdc's checksum covers of the header (runtime/checkpoint.ts canonical): sorted, whitespace-free JSON."""
    meta = sorted([k, v] for k, v in metadata.items() if k != _MDC_CHECKSUM)
    tensors = sorted([n, [d, list(s), b, e]] for n, d, s, b, e in entries)
    return json.dumps([meta, tensors], separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def load_safetensors(path: str, with_metadata: bool = False) -> Any:
    """Reads a safetensors file: {name: tensor} (and the metadata with `with_metadata`). Checks mdc's CRC-32 when present."""
    with open(path, "rb") as f:
        raw = f.read()
    bad = lambda why: ValueError(f"mdc_torch: {path}: {why}")  # noqa: E731
    if len(raw) < 8:
        raise bad("too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n < 2 or n > _ST_MAX_HEADER or 8 + n > len(raw):
        raise bad(f"header length {n} does not fit a {len(raw)}-byte file")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    metadata = dict(header.pop("__metadata__", None) or {})
    data = memoryview(raw)[8 + n :]
    tensors: dict[str, torch.Tensor] = {}
    entries = []
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], list(info["shape"]), info["data_offsets"]
        if dtype not in _ST_DTYPES:
            raise bad(f"tensor '{name}' has dtype {dtype}, not one of {', '.join(_ST_DTYPES)}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * _ST_DTYPES[dtype][1] or end > len(data) or begin < 0:
            raise bad(f"tensor '{name}' {dtype}{shape} does not match its data_offsets [{begin}, {end}]")
        array = np.frombuffer(data[begin:end], dtype=_ST_NUMPY[dtype]).astype(_ST_NUMPY[dtype][1:], copy=True)
        t = torch.from_numpy(array.reshape(shape))
        tensors[name] = t.view(torch.bfloat16) if dtype == "BF16" else t
        entries.append((name, dtype, shape, begin, end))
    stored = metadata.pop(_MDC_CHECKSUM, None)
    if stored is not None:
        actual = zlib.crc32(_canonical(metadata, entries), zlib.crc32(data)) & 0xFFFFFFFF
        if f"{actual:08x}" != stored:
            raise bad(f"the file is corrupt: its CRC-32 is {actual:08x}, the header recorded {stored}")
    return (tensors, metadata) if with_metadata else tensors


def save_safetensors(path: str, tensors: dict[str, torch.Tensor], metadata: Optional[dict[str, str]] = None) -> None:
    """Writes `tensors` as safetensors the way mdc does, atomically: wider dtypes first, by name within a
    width; the header padded to a multiple of 8; mdc's CRC-32 in the metadata."""
    names_by_dtype = {v[0]: k for k, v in _ST_DTYPES.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    items = []
    for name, t in tensors.items():
        if t.dtype not in names_by_dtype:
            raise ValueError(f"mdc_torch: tensor '{name}' has dtype {t.dtype}, which safetensors here does not write")
        items.append((name, names_by_dtype[t.dtype], t.detach().cpu().contiguous()))
    items.sort(key=lambda it: (-_ST_DTYPES[it[1]][1], it[0]))
    header: dict[str, Any] = {"__metadata__": None}
    chunks, entries, offset = [], [], 0
    for name, dtype, t in items:
        array = (t.view(torch.int16) if dtype == "BF16" else t).numpy()
        data = array.astype(_ST_NUMPY[dtype], copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        entries.append((name, dtype, list(t.shape), offset, offset + len(data)))
        chunks.append(data)
        offset += len(data)
    crc = 0
    for c in chunks:
        crc = zlib.crc32(c, crc)
    header["__metadata__"] = {**meta, _MDC_CHECKSUM: f"{zlib.crc32(_canonical(meta, entries), crc) & 0xFFFFFFFF:08x}"}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Failure handling and fault injection
# ---------------------------------------------------------------------------------------------


def _say(line: str) -> None:
    try:
        sys.stdout.flush()
    except Exception:
        pass
    os.write(2, (line + "\n").encode("utf-8", "replace"))


def _rank_text() -> str:
    mesh = _ACTIVE.get("mesh")
    return str(mesh.rank) if mesh is not None else os.environ.get("RANK", "?")


def _watchdog(wake_fd: int) -> None:
    """Ends the rank when a collective outlives its deadline or the launcher sends SIGTERM/SIGINT.

    Runs beside the main thread, which may sit inside a backend call that holds no Python
    frame (Python's own signal handlers would wait for it to return): the signal handler's
    only job is the byte `set_wakeup_fd` writes, which wakes this thread."""
    while True:
        ready, _, _ = select.select([wake_fd], [], [], 0.5)
        if ready:
            got = os.read(wake_fd, 64)
            if any(b in (signal.SIGTERM, signal.SIGINT) for b in got):
                with _INFLIGHT.lock:
                    op, axis = _INFLIGHT.op, _INFLIGHT.axis
                who = f"mdc_torch: rank {_rank_text()}"
                why = "stopped by the launcher (a peer rank exited or failed)"
                _say(f"{who}: {op} over {axis} failed: {why}" if op else f"{who}: {why}")
                os._exit(EXIT_TERMINATED)
        with _INFLIGHT.lock:
            late = _INFLIGHT.op is not None and time.monotonic() - _INFLIGHT.since > _INFLIGHT.deadline_s
            op, axis, waited = _INFLIGHT.op, _INFLIGHT.axis, time.monotonic() - _INFLIGHT.since
        if late:
            why = f"no completion after {waited:.0f} s (a peer rank is lost or stuck)"
            _say(f"mdc_torch: rank {_rank_text()}: {op} over {axis} failed: {why}")
            os._exit(EXIT_WATCHDOG)


def _start_watchdog() -> None:
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    threading.Thread(target=_watchdog, args=(r,), name="mdc_torch-watchdog", daemon=True).start()


def main(fn: Callable[[], Any]) -> None:
    """Runs `fn` (the rank's whole program) and exits: 0 on success; on a failed collective one line
    "mdc_torch: rank R: <op> over <axis> failed: <reason>" on stderr and a non-zero code, at once.

    Exits with os._exit after a failure: tearing down a process group whose peers are gone can
    block, and the rank must not outlive its error."""
    _start_watchdog()
    try:
        fn()
    except CollectiveError as e:
        _say(str(e))
        os._exit(EXIT_FAILED)
    except SystemExit as e:
        if e.code not in (None, 0):
            _say(str(e.code) if isinstance(e.code, str) else f"mdc_torch: rank {_rank_text()}: exit {e.code}")
            os._exit(e.code if isinstance(e.code, int) else EXIT_FAILED)
    except BaseException as e:  # noqa: BLE001 — every failure must end the rank with its message
        traceback.print_exc()
        _say(f"mdc_torch: rank {_rank_text()}: failed: {type(e).__name__}: {_first_line(e)}")
        os._exit(EXIT_FAILED)
    mesh = _ACTIVE.get("mesh")
    if mesh is not None:
        mesh.close()
    sys.stdout.flush()
    sys.stderr.flush()


def fault_point(mesh: Mesh, step: int) -> None:
    """Fault injection for tests, where main.py calls it mid-step.

    MDC_TORCH_KILL=<rank>:<step> matching this rank and step: die at once, as a crashed rank would.
    MDC_TORCH_STALL=<rank>:<step>: stop making progress (a hung rank, its connections left open), so
    the others meet the mesh timeout rather than a closed connection."""
    here = f"{mesh.rank}:{step}"
    if os.environ.get("MDC_TORCH_KILL", "") == here:
        _say(f"mdc_torch: rank {mesh.rank}: killed at step {step} (MDC_TORCH_KILL)")
        os._exit(EXIT_FAULT)
    if os.environ.get("MDC_TORCH_STALL", "") == here:
        _say(f"mdc_torch: rank {mesh.rank}: stalled at step {step} (MDC_TORCH_STALL)")
        while True:
            time.sleep(3600)
