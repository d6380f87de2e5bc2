/**
 * The plan's pictures: counts (kernels, steps, buffers), the device memory by role as one
 * stacked bar, each arena as an address-over-time chart (a placed buffer is a rectangle
 * from its offset, spanning the steps from its first to its last use, so reuse shows as
 * rectangles sharing rows), and the kernels as a table.
 */
import { planAllocation, type Plan, type PlanBuffer } from '../../runtime/index.js';

const SVG = 'http://www.w3.org/2000/svg';
const ROLE_COLORS: Record<string, string> = { param: '#4c78a8', input: '#f58518', output: '#54a24b', const: '#b279a2', activation: '#e45756' };

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function svg(tag: string, attrs: Record<string, string | number>, title?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (title) e.appendChild(document.createElementNS(SVG, 'title')).textContent = title;
  return e;
}

/** Bytes per role, each placed (arena) buffer counted once per arena rather than per buffer. */
function bytesByRole(plan: Plan): [string, number][] {
  const roles = new Map<string, number>();
  for (const b of plan.buffers) if (b.arena === undefined) roles.set(b.role, (roles.get(b.role) ?? 0) + b.bytes);
  const arenaBytes = (plan.arenas ?? []).reduce((a, b) => a + b, 0);
  if (arenaBytes) roles.set('arenas (activations, outputs)', arenaBytes);
  return [...roles];
}

function roleBar(plan: Plan): SVGElement {
  const rows = bytesByRole(plan);
  const total = rows.reduce((a, [, b]) => a + b, 0) || 1;
  const s = svg('svg', { width: 600, height: 28, class: 'role-bar', viewBox: '0 0 600 28' });
  let x = 0;
  for (const [role, bytes] of rows) {
    const w = (bytes / total) * 600;
    s.appendChild(svg('rect', { x, y: 0, width: Math.max(w, 1), height: 28, fill: ROLE_COLORS[role] ?? '#e45756' }, `${role}: ${formatBytes(bytes)}`));
    x += w;
  }
  return s;
}

/** The step range [first, last] in which each buffer is read or written. */
function lifetimes(plan: Plan): Map<number, [number, number]> {
  const live = new Map<number, [number, number]>();
  const use = (b: number, i: number) => {
    const r = live.get(b);
    if (r) r[1] = i;
    else live.set(b, [i, i]);
  };
  plan.steps.forEach((s, i) => {
    if (s.kind === 'collective') [s.input, s.output].forEach((b) => use(b, i));
    else s.buffers.forEach((b) => use(b, i));
  });
  return live;
}

function arenaChart(plan: Plan, arena: number, size: number): SVGElement {
  const W = 600;
  const H = 160;
  const steps = Math.max(plan.steps.length, 1);
  const live = lifetimes(plan);
  const s = svg('svg', { width: W, height: H, class: 'arena-chart', viewBox: `0 0 ${W} ${H}` });
  s.appendChild(svg('rect', { x: 0, y: 0, width: W, height: H, fill: '#f4f4f4', stroke: '#999' }));
  const placed = plan.buffers.filter((b): b is PlanBuffer & { offset: number } => b.arena === arena && b.offset !== undefined);
  for (const b of placed) {
    const [from, to] = live.get(b.id) ?? [0, steps - 1];
    const rect = {
      x: (from / steps) * W,
      y: (b.offset / size) * H,
      width: Math.max(((to - from + 1) / steps) * W, 2),
      height: Math.max((b.bytes / size) * H, 1),
    };
    const title = `${b.name} (${b.role}, ${b.dtype}[${b.shape.join(', ')}]): ${formatBytes(b.bytes)} at offset ${b.offset}, steps ${from}–${to}`;
    s.appendChild(svg('rect', { ...rect, fill: ROLE_COLORS[b.role] ?? '#888', 'fill-opacity': 0.75, stroke: '#333', 'stroke-width': 0.5 }, title));
  }
  return s;
}

/** Replaces `host`'s content with the plan's summary. */
export function renderPlan(host: HTMLElement, plan: Plan): void {
  const alloc = planAllocation(plan);
  host.replaceChildren();
  host.appendChild(
    el(
      'p',
      `${plan.model}: ${plan.kernels.length} kernels, ${plan.steps.length} steps, ${plan.buffers.length} buffers; device memory ${formatBytes(alloc.bytes)} ` +
        `(${alloc.arenas} arena${alloc.arenas === 1 ? '' : 's'} of ${formatBytes(alloc.arenaBytes)} and ${alloc.buffers} own buffers; ` +
        `${formatBytes(alloc.unplacedBytes)} with a buffer per value)`,
      { class: 'plan-counts' },
    ),
  );
  host.appendChild(el('h3', 'Memory by role'));
  host.appendChild(roleBar(plan));
  const legend = el('p', '', { class: 'legend' });
  for (const [role, bytes] of bytesByRole(plan)) {
    const item = el('span', ` ${role} ${formatBytes(bytes)}  `);
    item.prepend(el('span', '■', { style: `color:${ROLE_COLORS[role] ?? '#e45756'}` }));
    legend.appendChild(item);
  }
  host.appendChild(legend);
  (plan.arenas ?? []).forEach((size, i) => {
    host.appendChild(el('h3', `Arena ${i} (${formatBytes(size)}): address (down) over steps (right)`));
    host.appendChild(arenaChart(plan, i, size));
  });
  host.appendChild(el('h3', 'Kernels'));
  const table = el('table', undefined, { class: 'kernels' });
  const head = table.appendChild(el('tr'));
  for (const h of ['#', 'kernel', 'workgroup', 'dispatch', 'bindings']) head.appendChild(el('th', h));
  for (const k of plan.kernels) {
    const row = table.appendChild(el('tr'));
    for (const c of [String(k.id), k.name, k.workgroupSize.join('×'), k.dispatch.join('×'), String(k.bindings.length)]) row.appendChild(el('td', c));
  }
  host.appendChild(table);
}
