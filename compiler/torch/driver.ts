/**
 * The part of every exported main.py that is the same for all models: the command line,
 * each rank's blocks of parameters and inputs, the step loop (the host side of mdc's
 * training: learning rate, AdamW's bias corrections, micro-batches, updates) and the
 * per-rank output files. It reads the tables and functions compiler/torch/export.ts
 * writes above it.
 */
export const DRIVER = `def _block(mesh, shape, axes):
    """This rank's block of a tensor of global \`shape\` split over \`axes\` (mesh axes per dim, major first)."""
    start, local = [], []
    for size, names in zip(shape, axes):
        parts, k = 1, 0
        for a in names:
            parts *= SIZES[a]
            k = k * SIZES[a] + mesh.coords[a]
        local.append(size // parts)
        start.append(k * (size // parts))
    return start, local


def _cut(x, start, shape):
    for d, (s, n) in enumerate(zip(start, shape)):
        x = x.narrow(d, s, n)
    return x.contiguous()


def _params(mesh, table, weights, seed):
    """Each parameter's block: cut from --weights (global tensors), else mdc's initialiser.

    A file must hold every model parameter: one it lacks is an error, not a freshly initialised
    weight. Optimizer state it lacks starts fresh."""
    if weights is not None:
        missing = [n for n in table if n not in weights and not n.startswith(("opt.", "acc."))]
        if missing:
            raise SystemExit(f"main.py: --weights: the file lacks {len(missing)} of the model's parameters: {missing}")
    out = {}
    for name, (shape, axes, init, dtype) in table.items():
        start, local = _block(mesh, shape, axes)
        if weights is not None and name in weights:
            w = weights[name]
            if list(w.shape) != shape:
                raise SystemExit(f"main.py: --weights: {name} is {list(w.shape)}, but the model's is {shape}")
            out[name] = _cut(w.to(torch.float32), start, local).to(dtype).to(DEVICE)
        else:
            out[name] = mdc_torch.init_param(name, init, shape, start, local, seed).to(dtype).to(DEVICE)
    return out


def _inputs(mesh, table, given, seed, micro, count):
    """Each input's block for micro-batch \`micro\` of a batch of \`count\` times the program's rows.

    From --inputs (global tensors of the whole batch), else drawn as \`mdc run\` draws them
    (runtime/init.ts randomInput): uniform in [-1, 1) for floats, integers in [0, max). A file must hold every input
    (a training step's labels too): one left out is an error, not a drawn value."""
    if given is not None:
        missing = [n for n in table if n not in given]
        if missing:
            raise SystemExit(f"main.py: --inputs: the file lacks {missing}; it must hold every input: {sorted(table)}")
    out = {}
    for name, (shape, axes, dtype, high) in table.items():
        start, local = _block(mesh, shape, axes)
        whole = [shape[0] * count] + shape[1:]
        start = [start[0] + micro * shape[0]] + start[1:]
        if given is not None:
            x = given[name]
            if list(x.shape) != whole:
                raise SystemExit(f"main.py: --inputs: {name} is {list(x.shape)}, but the model takes {whole}")
            out[name] = _cut(x, start, local).to(dtype).to(DEVICE)
        elif dtype == torch.int32:
            unit = {"kind": "uniform", "low": 0.0, "high": 1.0}
            u = mdc_torch.init_param(f"input:{name}", unit, whole, start, local, seed)
            top = 2 if high is None else high
            out[name] = torch.clamp(torch.floor(u.double() * top), max=top - 1).to(torch.int32).to(DEVICE)
        else:
            uniform = {"kind": "uniform", "low": -1.0, "high": 1.0}
            out[name] = mdc_torch.init_param(f"input:{name}", uniform, whole, start, local, seed).to(dtype).to(DEVICE)
    return out


def _layout(mesh, shape, axes):
    start, local = _block(mesh, shape, axes)
    return {"global": shape, "start": start, "shape": local}


def _write(args, mesh, tensors, layouts, extra):
    """This rank's blocks as DIR/rank<R>.safetensors and where they lie as DIR/rank<R>.json: no collective for I/O."""
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"rank{mesh.rank}")
    mdc_torch.save_safetensors(base + ".safetensors", {k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    info = {"model": MODEL, "mesh": MESH, "rank": mesh.rank, "coords": mesh.coords, "tensors": layouts, **extra}
    with open(base + ".json", "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)


def _lr_at(t, steps, peak):
    """runtime/train.ts lrAt, the rate mdc train gives step t of \`steps\`: a linear warm-up over WARMUP steps,
    then a cosine from the peak down to a tenth of it at the last step."""
    warmup = WARMUP if WARMUP is not None else min(10, steps // 10)
    if warmup > 0 and t <= warmup:
        return peak * t / warmup
    progress = min(1.0, max(0.0, (t - warmup) / max(1, steps - warmup)))
    low = peak * 0.1
    return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * progress))


def run(args):
    global DEVICE
    mesh = mdc_torch.Mesh(AXES, timeout_s=args.timeout)
    DEVICE = mesh.device
    weights = mdc_torch.load_safetensors(args.weights) if args.weights else None
    given = mdc_torch.load_safetensors(args.inputs) if args.inputs else None
    torch.set_grad_enabled(False)
    if args.steps == 0:
        params = _params(mesh, FORWARD_PARAMS, weights, args.seed)
        outputs = forward(mesh, params, _inputs(mesh, FORWARD_INPUTS, given, args.seed, 0, 1))
        if args.out:
            layouts = {k: _layout(mesh, *FORWARD_OUTPUTS[k]) for k in outputs}
            _write(args, mesh, outputs, layouts, {"steps": 0})
        return
    if TRAIN_PARAMS is None:
        raise SystemExit(f"main.py: {MODEL} has no train section: only --steps 0 (the forward pass) runs")
    table = _params(mesh, TRAIN_PARAMS, weights, args.seed)
    params = {k: v for k, v in table.items() if k in MODEL_PARAMS}
    state = {k: v for k, v in table.items() if k not in MODEL_PARAMS}
    peak = LR if args.lr is None else args.lr
    losses, norms = [], []
    for t in range(1, args.steps + 1):
        began = time.perf_counter()
        scalars = {"lr": _lr_at(t, args.steps, peak)}
        if BETAS is not None:
            scalars["bc1"] = 1 / (1 - BETAS[0] ** t)
            scalars["bc2"] = 1 / (1 - BETAS[1] ** t)
        loss = 0.0
        for m in range(MICROBATCHES):
            batch = _inputs(mesh, TRAIN_INPUTS, given, args.seed, m, MICROBATCHES)
            for k, v in scalars.items():
                batch[k] = torch.tensor(v, dtype=torch.float32, device=DEVICE)
            if MICROBATCHES > 1:
                batch["apply"] = torch.tensor(1.0 if m == MICROBATCHES - 1 else 0.0, dtype=torch.float32, device=DEVICE)
            out = train_step(mesh, params, state, batch, t)
            for output, name in UPDATES:
                (params if name in params else state)[name] = out[output]
            loss += float(out["loss"]) / MICROBATCHES
        losses.append(loss)
        norms.append(float(out["grad_norm"]))
        if mesh.rank == 0:
            print(f"step {t}: loss {loss:.6f} grad_norm {norms[-1]:.6f} ({time.perf_counter() - began:.3f} s)", flush=True)
    if args.out:
        tensors = {**params, **state}
        layouts = {k: _layout(mesh, *TRAIN_PARAMS[k][:2]) for k in tensors}
        _write(args, mesh, tensors, layouts, {"steps": args.steps, "loss": losses, "grad_norm": norms})


${commandLine('partitioned', 'a collective')}`;

/** main.py's command line and entry point; `how` and `waits` say what kind of program it is and what may time out. */
export function commandLine(how: 'partitioned' | 'pipelined', waits: string): string {
  return `def parse_args(argv=None):
    p = argparse.ArgumentParser(description=f"{MODEL} ${how} by mdc over [{MESH}]; run every rank with torchrun.")
    p.add_argument("--seed", type=int, default=SEED, help="seed of parameters and drawn inputs")
    p.add_argument("--weights", help="a safetensors file of global parameters by mdc name; each rank cuts its block")
    p.add_argument("--inputs", help="a safetensors file of global inputs; each rank cuts its block (default: seeded)")
    p.add_argument("--steps", type=int, default=0, help="training steps to run (0: the forward pass only)")
    p.add_argument("--lr", type=float, default=None, help="the peak learning rate (default: the train section's)")
    p.add_argument("--out", help="folder for each rank's rank<R>.safetensors and rank<R>.json")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds ${waits} may wait for its peers")
    args = p.parse_args(argv)
    if args.steps < 0:
        p.error("--steps must be 0 or more")
    return args


if __name__ == "__main__":
    _args = parse_args()
    mdc_torch.main(lambda: run(_args))`;
}
