import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs packages made by `mdc export --target torch` (and the support library's test scripts)
 * under PyTorch's own launcher, `torchrun`, as CI does: one node on loopback, or two nodes in
 * two network namespaces joined by a veth pair made for the run, the rendezvous over that link.
 *
 * Debian's python3-torch (scripts/ensure-torch.sh) provides /usr/bin/python3 with torch and
 * /usr/bin/torchrun; the `python3` on PATH may be another interpreter, so both are named here.
 */
export const TORCH_PYTHON = '/usr/bin/python3';
export const TORCHRUN = '/usr/bin/torchrun';
/** The support library (copied into every exported package); test scripts put this folder on sys.path. */
export const MDC_TORCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../runtime/torch');
/** torchrun starts this for each rank: it runs the real script as a child and records its exit code. */
const RANK_WRAPPER = resolve(dirname(fileURLToPath(import.meta.url)), 'torch-rank.py');

let available: boolean | undefined;
/** Whether Debian's torch (with numpy and torchrun) is importable; tests fail, not skip, when it is not. */
export function torchAvailable(): boolean {
  available ??= existsSync(TORCHRUN) && spawnSync(TORCH_PYTHON, ['-c', 'import torch, numpy, torch.distributed as d; assert d.is_available()']).status === 0;
  return available;
}

/** One line of an MDC_TORCH_TRACE file: a collective or transfer as the rank issued it. */
export interface TraceEntry {
  op: string;
  /** The mesh axis (null for send/recv). */
  axis: string | null;
  /** Global ranks of the group, in coordinate order (send/recv: [src, dst]). */
  group: number[];
  dtype: string;
  /** The rank's local input shape (recv: the shape received). */
  shape: number[];
  /** The local input's bytes. */
  bytes: number;
  dim?: number;
  to?: number;
  peer?: number;
}

export interface TorchRun {
  /** 0 when every torchrun exited 0; else the first non-zero exit code (-1 when the run was killed for its timeout). */
  code: number;
  stdout: string;
  stderr: string;
  /** By global rank: the rank's exit code (minus the signal that ended it; -1 when unknown) and its stdout then stderr. */
  ranks: { code: number; out: string }[];
  timedOut: boolean;
  /** Wall time of the whole run. */
  ms: number;
}

export interface RunTorchOptions {
  /** The package folder: runs DIR/main.py unless `script` names another file (relative to dir, or absolute). */
  dir: string;
  script?: string;
  args?: string[];
  /** Ranks per node. */
  nproc: number;
  /** 2: two nodes in two network namespaces (needs root). */
  nnodes?: 1 | 2;
  env?: Record<string, string>;
  /** The whole run, start-up included; on expiry every process of it is killed (SIGKILL) and `timedOut` is set. */
  timeoutMs: number;
}

/** A TCP port free on loopback just now (the rendezvous store listens on it). */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port'))));
    });
  });
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Two network namespaces joined by a veth pair on a private /30, loopback up in each; `close` removes them. */
interface TwoNodes {
  ns: [string, string];
  ifname: [string, string];
  addr: [string, string];
  close(): void;
}

/** Namespaces of runs still going: removed when the test process exits early (vitest's own timeout, an uncaught error). */
const live = new Set<TwoNodes>();
process.once('exit', () => {
  for (const n of live) n.close();
});

function makeTwoNodes(): TwoNodes {
  if (process.getuid?.() !== 0)
    throw new Error('runTorch with nnodes 2 needs root: it makes two network namespaces and a veth pair (ip netns add, ip link add); run the tests as root');
  // Unique per run (the pid and a random tag), short enough for interface names (15 chars).
  const tag = `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`.slice(-6);
  const ns: [string, string] = [`mdc-torch-${tag}-0`, `mdc-torch-${tag}-1`];
  const ifname: [string, string] = [`mdv${tag}a`, `mdv${tag}b`];
  // 10.x.y.z/30 with z a multiple of 4: .+1 on node 0, .+2 on node 1.
  const base = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
  const z = 4 * Math.floor(Math.random() * 63);
  const addr: [string, string] = [`${base}.${z + 1}`, `${base}.${z + 2}`];
  const made: string[] = [];
  const nodes: TwoNodes = {
    ns,
    ifname,
    addr,
    close() {
      live.delete(nodes);
      for (const n of made) spawnSync('ip', ['netns', 'del', n]);
      // Deleting a namespace deletes the veth end inside it; an end never moved is still here.
      spawnSync('ip', ['link', 'del', ifname[0]], { stdio: 'ignore' });
    },
  };
  try {
    for (const n of ns) {
      ip('netns', 'add', n);
      made.push(n);
    }
    ip('link', 'add', ifname[0], 'type', 'veth', 'peer', 'name', ifname[1]);
    for (const k of [0, 1] as const) {
      ip('link', 'set', ifname[k], 'netns', ns[k]);
      ip('-n', ns[k], 'addr', 'add', `${addr[k]}/30`, 'dev', ifname[k]);
      ip('-n', ns[k], 'link', 'set', 'lo', 'up');
      ip('-n', ns[k], 'link', 'set', ifname[k], 'up');
    }
  } catch (e) {
    nodes.close();
    throw e;
  }
  live.add(nodes);
  return nodes;
}

/** Every process descended from `root` (by /proc's parent links), deepest last. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const frontier = [root];
  while (frontier.length) {
    const p = frontier.pop()!;
    for (const [child, pp] of parent) {
      if (pp !== p || out.includes(child)) continue;
      out.push(child);
      frontier.push(child);
    }
  }
  return out;
}

/** Kills a launched torchrun with everything under it: its process group, then any descendant that left the group. */
function killTree(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const below = descendants(child.pid);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  for (const pid of below) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** torchrun's per-rank logs (`--log_dir`): LOG/<run id>/attempt_<n>/<local rank>/{stdout,stderr}.log. */
function rankLogs(logDir: string, local: number): string {
  if (!existsSync(logDir)) return '';
  const parts: string[] = [];
  for (const run of readdirSync(logDir))
    for (const attempt of readdirSync(join(logDir, run)).sort())
      for (const stream of ['stdout.log', 'stderr.log']) {
        const f = join(logDir, run, attempt, String(local), stream);
        if (existsSync(f)) parts.push(readFileSync(f, 'utf8'));
      }
  return parts.join('');
}

/**
 * Runs `torchrun --nproc_per_node=N DIR/main.py args` on loopback (a free port), or with nnodes 2
 * across two network namespaces joined by a veth pair made for the run (needs root), with a timeout
 * that kills every process of the run. The namespaces are removed however the run ends.
 */
export async function runTorch(opts: RunTorchOptions): Promise<TorchRun> {
  const nnodes = opts.nnodes ?? 1;
  const script = resolve(opts.dir, opts.script ?? 'main.py');
  const work = mkdtempSync(join(tmpdir(), 'mdc-torchrun-'));
  const status = join(work, 'status');
  mkdirSync(status);
  const nodes = nnodes === 2 ? makeTwoNodes() : undefined;
  const began = Date.now();
  try {
    const port = await freePort();
    const master = nodes ? nodes.addr[0] : '127.0.0.1';
    const children = Array.from({ length: nnodes }, (_, k) => {
      const logDir = join(work, `logs${k}`);
      mkdirSync(logDir);
      const torchrun = [
        TORCHRUN,
        `--nproc_per_node=${opts.nproc}`,
        `--nnodes=${nnodes}`,
        `--node_rank=${k}`,
        `--master_addr=${master}`,
        `--master_port=${port}`,
        '--max_restarts=0',
        // How often the agent polls its workers: the default 5 s adds up to 5 s to every run's end.
        '--monitor_interval=1',
        // Debian's torchrun 1.13 on Python 3.11 misreads redirect/tee values 0 and 3 (its Std.from_str
        // finds no IntFlag member for them) and crashes at start: 1 and 2 are the values that work.
        '--redirects=2',
        '--tee=1',
        `--log_dir=${logDir}`,
        RANK_WRAPPER,
        status,
        script,
        ...(opts.args ?? []),
      ];
      const command = nodes ? ['ip', 'netns', 'exec', nodes.ns[k], ...torchrun] : torchrun;
      const env: Record<string, string | undefined> = {
        ...process.env,
        // Gloo binds to the interface the rendezvous runs over; in a namespace the host name does not resolve to it.
        GLOO_SOCKET_IFNAME: nodes ? nodes.ifname[k] : 'lo',
        OMP_NUM_THREADS: '1',
        PYTHONUNBUFFERED: '1',
        PYTHONPATH: [MDC_TORCH_DIR, process.env['PYTHONPATH']].filter(Boolean).join(':'),
        ...opts.env,
      };
      return { child: spawn(command[0]!, command.slice(1), { cwd: opts.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }), logDir };
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      for (const { child } of children) killTree(child);
    }, opts.timeoutMs);
    const results = await Promise.all(
      children.map(
        ({ child }) =>
          new Promise<{ code: number; stdout: string; stderr: string }>((ok) => {
            let stdout = '';
            let stderr = '';
            child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
            child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
            child.on('error', (e) => (stderr += `\nrunTorch: ${e.message}`));
            child.on('close', (code, signal) => {
              // A node whose torchrun failed leaves the other waiting for it: end the whole run now.
              if (code !== 0) for (const c of children) if (c.child !== child) killTree(c.child);
              ok({ code: code ?? (signal ? -1 : 0), stdout, stderr });
            });
          }),
      ),
    );
    clearTimeout(timer);
    const ranks = Array.from({ length: nnodes * opts.nproc }, (_, r) => {
      // torchrun numbers ranks node by node; the wrapper's record says where the rank ran when there is one.
      const f = join(status, `rank${r}.json`);
      const rec = existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { code: number; node: number; local_rank: number }) : undefined;
      const node = rec?.node ?? Math.floor(r / opts.nproc);
      return { code: rec?.code ?? -1, out: rankLogs(children[node]!.logDir, rec?.local_rank ?? r % opts.nproc) };
    });
    const failed = results.find((x) => x.code !== 0);
    return {
      code: timedOut ? -1 : (failed?.code ?? 0),
      stdout: results.map((x) => x.stdout).join(''),
      stderr: results.map((x) => x.stderr).join(''),
      ranks,
      timedOut,
      ms: Date.now() - began,
    };
  } finally {
    nodes?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The MDC_TORCH_TRACE files of a run: entries by global rank, in the order each rank issued them. */
export function readTrace(dir: string): Map<number, TraceEntry[]> {
  const out = new Map<number, TraceEntry[]>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const m = /^rank(\d+)\.jsonl$/.exec(name);
    if (!m) continue;
    const lines = readFileSync(join(dir, name), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    out.set(
      Number(m[1]),
      lines.map((l) => JSON.parse(l) as TraceEntry),
    );
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}
