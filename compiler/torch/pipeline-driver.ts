import { commandLine } from './driver.js';

/**
 * The step loop of a pipelined main.py (compiler/torch/pipeline.ts writes the tables and
 * stage functions above it, and the one-program driver's block, input and output helpers,
 * compiler/torch/driver.ts, before it). It does per rank what runtime/pipeline.ts does for
 * all devices at once: the schedule's actions in order, values between programs kept or
 * sent, the tied copies' gradient sums, U1's sums of squares added in stage order, U2.
 */
export const PIPELINE_DRIVER = `def _peer(mesh, prank):
    """The global rank at this rank's place of the stage mesh, on pipeline rank \`prank\`."""
    coords = dict(mesh.coords)
    coords[PIPE_AXIS] = prank
    r = 0
    for name, size in AXES:
        r = r * size + coords[name]
    return r


def _my_stages(mesh):
    return [k for k in range(STAGES) if k % PIPE_RANKS == mesh.coords[PIPE_AXIS]]


def _actions(mesh, plan, store, data, scalars, step, pending):
    """This rank's actions of the plan's schedule, in order. A value between programs stays here when a pass
    reading it runs on this rank (dropped after its last such reader) and goes to every other pipeline rank
    running a reader with a non-blocking isend (waited at the end of the step); it is received, blocking, when
    an action first needs it. Tags are (boundary, micro-batch), so no two transfers between a pair can be
    confused. Returns the programs' other outputs by (name, micro-batch)."""
    me = mesh.coords[PIPE_AXIS]
    kept, left, made = {}, {}, {}
    for pas, micro, stage in plan["schedule"][me]:
        prog = plan["programs"].get((stage, pas))
        if prog is None:
            continue
        fn, reads, writes, updates = prog
        batch = dict(data[micro])
        batch.update(scalars)
        for name in reads:
            key = (name, micro)
            tag, src, readers, shape, dtype = plan["boundaries"][name]
            if key not in kept:
                if src % PIPE_RANKS == me:
                    raise RuntimeError(f"stage {stage} pass {pas} reads {name} of micro-batch {micro} before it is made")
                kept[key] = mdc_torch.recv(mesh, shape, dtype, _peer(mesh, src % PIPE_RANKS), tag=tag * MICROBATCHES + micro)
                left[key] = sum(1 for k in readers if k % PIPE_RANKS == me)
            batch[name] = kept[key]
            left[key] -= 1
            if left[key] == 0:
                del kept[key], left[key]
        # Parameters and optimizer state share one store per rank (the functions read both from it).
        out = fn(mesh, store, store, batch, step)
        for output, param in updates:
            store[param] = out[output]
        for name, value in out.items():
            if name not in writes:
                made[(name, micro)] = value
                continue
            tag, src, readers, shape, dtype = plan["boundaries"][name]
            here = sum(1 for k in readers if k % PIPE_RANKS == me)
            if here:
                kept[(name, micro)], left[(name, micro)] = value, here
            for prank in sorted({k % PIPE_RANKS for k in readers} - {me}):
                pending.append(mdc_torch.isend(mesh, value, _peer(mesh, prank), tag=tag * MICROBATCHES + micro))
    if kept:
        raise RuntimeError(f"values never read on this rank: {sorted(kept)}")
    return made


def _step_end(mesh, plan, store, scalars, step, pending):
    """Once per step: the tied copies' gradient sums added over their stages (in stage order, as mdc's runtime
    does), U1 per stage, the stages' sums of squares exchanged and added in stage order, U2 per stage."""
    me = mesh.coords[PIPE_AXIS]
    base = len(plan["boundaries"]) * MICROBATCHES
    for j, (param, stages) in enumerate(SHARED):
        name = "acc." + param
        pranks = list(dict.fromkeys(k % PIPE_RANKS for k in stages))
        if me not in pranks:
            continue
        mine = store[name]
        for prank in pranks:
            if prank != me:
                pending.append(mdc_torch.isend(mesh, mine, _peer(mesh, prank), tag=base + j))
        total = torch.zeros_like(mine)
        for prank in pranks:
            part = mine if prank == me else mdc_torch.recv(mesh, list(mine.shape), mine.dtype, _peer(mesh, prank), tag=base + j)
            total = total + part
        store[name] = total
    sums = {}
    for k in _my_stages(mesh):
        prog = plan["programs"].get((k, "U1"))
        out = prog[0](mesh, store, store, dict(scalars), step) if prog else {}
        sums[k] = out.get(f"sumsq.{k}", torch.zeros((), dtype=torch.float32, device=DEVICE)).reshape(())
    mine = torch.stack([sums[k] for k in _my_stages(mesh)])
    tag = base + len(SHARED)
    for prank in range(PIPE_RANKS):
        if prank != me:
            pending.append(mdc_torch.isend(mesh, mine, _peer(mesh, prank), tag=tag))
    every = {}
    for prank in range(PIPE_RANKS):
        held = [k for k in range(STAGES) if k % PIPE_RANKS == prank]
        got = mine if prank == me else mdc_torch.recv(mesh, [len(held)], torch.float32, _peer(mesh, prank), tag=tag)
        every.update(zip(held, got))
    sumsq = torch.zeros((), dtype=torch.float32, device=DEVICE)
    for k in range(STAGES):
        sumsq = sumsq + every[k]
    norm = None
    for k in _my_stages(mesh):
        prog = plan["programs"].get((k, "U2"))
        if prog is None:
            continue
        out = prog[0](mesh, store, store, {**scalars, "sumsq": sumsq}, step)
        for output, param in prog[3]:
            store[param] = out[output]
        if "grad_norm" in out and norm is None:
            norm = float(out["grad_norm"])
    return norm if norm is not None else math.sqrt(float(sumsq))


def _stage_params(mesh, table, plan):
    names = {n for k in _my_stages(mesh) for n in plan["stage_params"].get(k, [])}
    return {k: v for k, v in table.items() if k in names}


def _reports(mesh):
    """Whether this rank prints: the first rank of the last stage's group (it has the losses)."""
    return mesh.coords[PIPE_AXIS] == (STAGES - 1) % PIPE_RANKS and all(c == 0 for a, c in mesh.coords.items() if a != PIPE_AXIS)


def run(args):
    global DEVICE
    mesh = mdc_torch.Mesh(AXES, timeout_s=args.timeout)
    DEVICE = mesh.device
    weights = mdc_torch.load_safetensors(args.weights) if args.weights else None
    given = mdc_torch.load_safetensors(args.inputs) if args.inputs else None
    torch.set_grad_enabled(False)
    if args.steps == 0:
        store = _params(mesh, _stage_params(mesh, FORWARD_PARAMS, FORWARD_PLAN), weights, args.seed)
        data = {0: _inputs(mesh, FORWARD_INPUTS, given, args.seed, 0, 1)}
        pending = []
        made = _actions(mesh, FORWARD_PLAN, store, data, {}, 0, pending)
        for p in pending:
            p.wait()
        outputs = {name: v for (name, micro), v in made.items() if name in FORWARD_OUTPUTS}
        if args.out:
            layouts = {k: _layout(mesh, *FORWARD_OUTPUTS[k]) for k in outputs}
            _write(args, mesh, outputs, layouts, {"steps": 0})
        return
    if TRAIN_PLAN is None:
        raise SystemExit(f"main.py: {MODEL} has no train section: only --steps 0 (the forward pass) runs")
    store = _params(mesh, _stage_params(mesh, TRAIN_PARAMS, TRAIN_PLAN), weights, args.seed)
    data = {m: _inputs(mesh, TRAIN_INPUTS, given, args.seed, m, MICROBATCHES) for m in range(MICROBATCHES)}
    peak = LR if args.lr is None else args.lr
    losses, norms = [], []
    last = (STAGES - 1) % PIPE_RANKS == mesh.coords[PIPE_AXIS]
    for t in range(1, args.steps + 1):
        began = time.perf_counter()
        lr = _lr_at(t, args.steps, peak)
        scalars = {"lr": torch.tensor(lr, dtype=torch.float32, device=DEVICE)}
        if BETAS is not None:
            scalars["bc1"] = torch.tensor(1 / (1 - BETAS[0] ** t), dtype=torch.float32, device=DEVICE)
            scalars["bc2"] = torch.tensor(1 / (1 - BETAS[1] ** t), dtype=torch.float32, device=DEVICE)
        pending = []
        made = _actions(mesh, TRAIN_PLAN, store, data, scalars, t, pending)
        norms.append(_step_end(mesh, TRAIN_PLAN, store, scalars, t, pending))
        for p in pending:
            p.wait()
        if last:
            losses.append(sum(float(made[("loss", m)]) for m in range(MICROBATCHES)) / MICROBATCHES)
        if _reports(mesh):
            took = time.perf_counter() - began
            print(f"step {t}: lr {lr:.6g} loss {losses[-1]:.6f} grad_norm {norms[-1]:.6f} ({took:.3f} s)", flush=True)
    if args.out:
        tensors = {k: v for k, v in store.items() if not k.startswith("acc.")}
        layouts = {k: _layout(mesh, *TRAIN_PARAMS[k][:2]) for k in tensors}
        extra = {"steps": args.steps, "grad_norm": norms, **({"loss": losses} if last else {})}
        _write(args, mesh, tensors, layouts, extra)


${commandLine('pipelined', 'a collective or transfer')}`;
