/**
 * `mdc plan --report FILE`: the plan as one self-contained HTML page (docs/report.md). Every
 * picture is SVG written here as text, styled by the page's own CSS; the page loads nothing and
 * runs no script, and the same plan gives the same bytes (no dates, fixed number formats,
 * inputs in their report order).
 *
 * The elements tests read: each Gantt row is `g.gantt-row[data-device]` (one per device; past
 * MAX_DEVICE_ROWS devices, one per pipeline rank with `data-devices` listing its devices), each
 * memory bar `g.mem-bar[data-device][data-total]` with one `rect[data-part][data-bytes]` per part,
 * and the page's `main[data-peak-bytes]` is the peak the bars are measured against.
 */
import { layerOf } from '../train/recompute.js';
import { formatBytes, type PlanReport } from './plan.js';
import { memoryParts, memoryTotal, type RankRow, type SegmentKind, type Timeline } from './timeline.js';

/** More devices than this draw one row per pipeline rank instead of one per device (a 1,024-device plan stays a few MB). */
export const MAX_DEVICE_ROWS = 64;

export interface HtmlReportInput {
  /** The report `mdc plan --json` prints (its collectives include the pipeline's send_recv transfers). */
  readonly report: Omit<PlanReport, 'collectives'> & { readonly collectives: readonly ReportCollective[] };
  readonly timeline: Timeline;
  /** The peak bytes per device the report states, and where it comes from. */
  readonly peak: { readonly bytes: number; readonly source: string };
  /** The described cluster, when the times are predicted. */
  readonly hardware?: { readonly name: string; readonly memoryBytes: number };
  /** Lines under the title: the schedule, the prediction. */
  readonly summary: readonly string[];
  /** Training: bytes each device sends per step reducing gradients over each data-parallel axis (not among the report's collectives). */
  readonly gradientReduction?: readonly { readonly axis: string; readonly bytes: number }[];
}

/** A row of the report's collectives: the partitioner's, or a pipeline send_recv (`perStep` times a step). */
export interface ReportCollective {
  readonly kind: string;
  readonly axis: string;
  readonly bytesPerDevice: number;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  readonly perStep?: number;
  readonly span: { readonly file: string; readonly line: number; readonly col: number };
}

const KIND_NAMES: Record<SegmentKind, string> = {
  forward: 'forward',
  backward: 'backward (input gradients too unless W is split off)',
  weight: 'weight gradients (W)',
  comm: 'collectives inside a pass',
  send: 'pipeline send from another rank',
  bubble: 'bubble (idle)',
  reduce: 'gradient reduction over data parallel',
  optimizer: 'optimizer update',
};

const PART_NAMES = { params: 'parameters', grads: 'gradients', optimizer: 'optimizer state', activations: 'activations', inFlight: 'in-flight micro-batches' };

const CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2430; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
p.summary { margin: 2px 0; color: #3b4656; } p.note { color: #5b6676; font-size: 12px; margin: 4px 0; }
svg { display: block; } svg text { font: 11px system-ui, sans-serif; fill: #1d2430; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 12px; margin: 6px 0; }
.legend span::before { content: ''; display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -2px; background: var(--c); }
.seg-forward { fill: var(--forward); } .seg-backward { fill: var(--backward); } .seg-weight { fill: var(--weight); } .seg-comm { fill: var(--comm); }
.seg-send { fill: var(--send); } .seg-bubble { fill: var(--bubble); } .seg-reduce { fill: var(--reduce); } .seg-optimizer { fill: var(--optimizer); }
.part-params { fill: var(--p-params); } .part-grads { fill: var(--p-grads); } .part-optimizer { fill: var(--p-optimizer); }
.part-activations { fill: var(--p-activations); } .part-inFlight { fill: var(--p-inFlight); }
.bar-comm { fill: var(--comm); } .bar-grad { fill: var(--reduce); } .cap { stroke: #c00; stroke-dasharray: 4 3; }
.grid { stroke: #d5dae1; } svg text.seg-label { fill: #fff; font-size: 10px; pointer-events: none; } .label { text-anchor: end; }
table { border-collapse: collapse; font-size: 12px; } th, td { padding: 2px 8px; text-align: left; border-bottom: 1px solid #e3e7ec; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } th.layer { background: #f3f5f8; padding-top: 6px; }
code { font: 12px ui-monospace, monospace; }
`;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** Coordinates with two decimals: enough for a screen, stable across platforms. */
const px = (x: number) => String(Math.round(x * 100) / 100);

/** A time in the timeline's unit, for labels and tooltips. */
function fmtTime(t: number, unit: Timeline['unit']): string {
  if (unit === 'slots') return `${Number(t.toFixed(3))}`;
  const a = Math.abs(t);
  return a === 0 ? '0' : a >= 1 ? `${t.toFixed(3)} s` : a >= 1e-3 ? `${(t * 1e3).toFixed(3)} ms` : `${(t * 1e6).toFixed(1)} µs`;
}

/** About `n` round tick positions over [0, end]. */
function ticks(end: number, n = 8): number[] {
  if (!(end > 0)) return [0];
  const raw = end / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let i = 0; i * step <= end * (1 + 1e-9); i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

interface DrawnRow {
  readonly label: string;
  readonly attrs: string;
  readonly row: RankRow;
}

/** One row per device, or per rank past MAX_DEVICE_ROWS devices. */
function drawnRows(t: Timeline, devices: number): DrawnRow[] {
  if (devices <= MAX_DEVICE_ROWS) {
    const rows = t.rows.flatMap((row) => row.devices.map((d) => ({ d, row })));
    rows.sort((a, b) => a.d - b.d);
    return rows.map(({ d, row }) => ({ label: `device ${d}${t.rows.length > 1 ? ` (rank ${row.rank})` : ''}`, attrs: `data-device="${d}"`, row }));
  }
  return t.rows.map((row) => ({
    label: t.rows.length > 1 ? `rank ${row.rank} (${row.devices.length} devices)` : `all ${row.devices.length} devices`,
    attrs: `data-rank="${row.rank}" data-devices="${row.devices.join(' ')}"`,
    row,
  }));
}

const LABEL_W = 150;
const PLOT_W = 900;

function gantt(t: Timeline, rows: DrawnRow[]): string {
  const rowH = 18;
  const top = 6;
  const h = top + rows.length * rowH + 24;
  const x = (v: number) => LABEL_W + (t.end > 0 ? (v / t.end) * PLOT_W : 0);
  const out: string[] = [`<svg class="gantt" width="${LABEL_W + PLOT_W + 20}" height="${h}" viewBox="0 0 ${LABEL_W + PLOT_W + 20} ${h}" role="img">`];
  const axisY = top + rows.length * rowH;
  for (const v of ticks(t.end)) {
    out.push(`<line class="grid" x1="${px(x(v))}" y1="${top}" x2="${px(x(v))}" y2="${axisY}"/>`);
    out.push(`<text x="${px(x(v))}" y="${axisY + 14}" text-anchor="middle">${esc(fmtTime(v, t.unit))}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<g class="gantt-row" ${r.attrs}>`);
    out.push(`<text class="label" x="${LABEL_W - 6}" y="${y + 13}">${esc(r.label)}</text>`);
    for (const s of r.row.segments) {
      const tip = `${s.label ? `${s.label}${s.stage !== undefined ? ` (stage ${s.stage})` : ''}: ` : ''}${KIND_NAMES[s.kind]}, ${fmtTime(s.start, t.unit)} to ${fmtTime(s.end, t.unit)}`;
      out.push(
        `<rect class="seg seg-${s.kind}" data-kind="${s.kind}" data-start="${s.start}" data-end="${s.end}" x="${px(x(s.start))}" y="${y + 2}" ` +
          `width="${px(Math.max(0, x(s.end) - x(s.start)))}" height="${rowH - 4}"><title>${esc(tip)}</title></rect>`,
      );
      // A pass wide enough for its name carries it (F3, B0c1).
      if (s.label && s.kind !== 'comm' && x(s.end) - x(s.start) >= 7 * s.label.length + 4)
        out.push(`<text class="seg-label" x="${px((x(s.start) + x(s.end)) / 2)}" y="${y + 13}" text-anchor="middle">${esc(s.label)}</text>`);
    }
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}

function memoryBars(t: Timeline, rows: DrawnRow[], peak: number, capacity?: number): string {
  const rowH = 20;
  const top = 6;
  // The device's capacity is drawn when it is on the scale of the bars (within 4× the peak), else only named in the note.
  const most = Math.max(peak, ...t.rows.map((r) => memoryTotal(r.memory)), 1);
  const showCap = capacity !== undefined && capacity <= 4 * most;
  const scaleMax = Math.max(most, showCap ? capacity : 0);
  const x = (b: number) => LABEL_W + (b / scaleMax) * (PLOT_W - 90);
  const axisY = top + rows.length * rowH;
  const h = axisY + 24;
  const out: string[] = [`<svg class="memory" width="${LABEL_W + PLOT_W + 20}" height="${h}" viewBox="0 0 ${LABEL_W + PLOT_W + 20} ${h}" role="img">`];
  const unit = 1024 ** Math.max(0, Math.min(3, Math.floor(Math.log2(scaleMax) / 10)));
  for (const b of ticks(scaleMax / unit, 6).map((v) => v * unit)) {
    out.push(`<line class="grid" x1="${px(x(b))}" y1="${top}" x2="${px(x(b))}" y2="${axisY}"/>`);
    out.push(`<text x="${px(x(b))}" y="${axisY + 14}" text-anchor="middle">${esc(formatBytes(b))}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const total = memoryTotal(r.row.memory);
    out.push(`<g class="mem-bar" ${r.attrs} data-total="${total}">`);
    out.push(`<text class="label" x="${LABEL_W - 6}" y="${y + 14}">${esc(r.label)}</text>`);
    let at = 0;
    for (const { part, bytes } of memoryParts(r.row.memory)) {
      out.push(
        `<rect class="part-${part}" data-part="${part}" data-bytes="${bytes}" x="${px(x(at))}" y="${y + 2}" width="${px(x(at + bytes) - x(at))}" ` +
          `height="${rowH - 4}"><title>${esc(`${PART_NAMES[part]}: ${formatBytes(bytes)}`)}</title></rect>`,
      );
      at += bytes;
    }
    out.push(`<text x="${px(x(at) + 4)}" y="${y + 14}">${esc(formatBytes(total))}</text>`);
    out.push('</g>');
  });
  if (showCap) out.push(`<line class="cap" x1="${px(x(capacity))}" y1="${top}" x2="${px(x(capacity))}" y2="${axisY}"><title>device memory</title></line>`);
  out.push('</svg>');
  return out.join('\n');
}

/** Bytes each device sends per step on each mesh axis: the report's collectives, the pipeline's sends once per micro-batch. */
export function commByAxis(r: HtmlReportInput['report'], gradients: HtmlReportInput['gradientReduction'] = []): CommRow[] {
  const by = new Map<string, CommRow>();
  const row = (axis: string) => by.get(axis) ?? by.set(axis, { axis, bytes: 0, count: 0, gradientBytes: 0 }).get(axis)!;
  for (const axis of Object.keys(r.mesh)) row(axis);
  for (const c of r.collectives) {
    const e = row(c.axis);
    e.bytes += c.bytesPerDevice * (c.perStep ?? 1);
    e.count += 1;
  }
  for (const g of gradients) row(g.axis).gradientBytes += g.bytes;
  return [...by.values()];
}

interface CommRow {
  readonly axis: string;
  /** In the report's collectives. */
  bytes: number;
  count: number;
  /** In the gradient reduction after the flush. */
  gradientBytes: number;
}

function commBars(rows: CommRow[]): string {
  const rowH = 20;
  const most = Math.max(1, ...rows.map((r) => r.bytes + r.gradientBytes));
  const h = rows.length * rowH + 8;
  const out: string[] = [`<svg class="comm" width="${LABEL_W + PLOT_W + 20}" height="${h}" viewBox="0 0 ${LABEL_W + PLOT_W + 20} ${h}" role="img">`];
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    const w = (r.bytes / most) * (PLOT_W - 260);
    const wg = (r.gradientBytes / most) * (PLOT_W - 260);
    const text = `${formatBytes(r.bytes)} in ${r.count} collective${r.count === 1 ? '' : 's'}${r.gradientBytes ? ` + ${formatBytes(r.gradientBytes)} reducing gradients` : ''}`;
    out.push(`<g class="comm-axis" data-axis="${esc(r.axis)}" data-bytes="${r.bytes}" data-gradient-bytes="${r.gradientBytes}">`);
    out.push(`<text class="label" x="${LABEL_W - 6}" y="${y + 14}">${esc(r.axis)}</text>`);
    out.push(`<rect class="bar-comm" x="${LABEL_W}" y="${y + 2}" width="${px(w)}" height="${rowH - 4}"/>`);
    out.push(`<rect class="bar-grad" x="${px(LABEL_W + w)}" y="${y + 2}" width="${px(wg)}" height="${rowH - 4}"/>`);
    out.push(`<text x="${px(LABEL_W + w + wg + 4)}" y="${y + 14}">${esc(text)}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Inputs, parameters and outputs grouped by the repeated layer they belong to, in report order. */
function layoutTable(r: HtmlReportInput['report']): string {
  const groups = new Map<string, typeof r.values>();
  for (const v of r.values) {
    const layer = v.kind === 'param' ? (layerOf(v.name) ?? '(outside layers)') : v.kind === 'input' ? '(inputs)' : '(outputs)';
    groups.set(layer, [...(groups.get(layer) ?? []), v]);
  }
  const out = [
    '<table class="layouts"><thead><tr><th>kind</th><th>name</th><th>global type and layout</th><th>block per device</th><th>bytes per device</th></tr></thead>',
  ];
  for (const [layer, values] of groups) {
    out.push(`<tbody data-layer="${esc(layer)}"><tr><th class="layer" colspan="5">${esc(layer)}</th></tr>`);
    for (const v of values)
      out.push(
        `<tr><td>${v.kind}</td><td><code>${esc(v.name)}</code></td><td><code>${esc(v.type)}</code></td><td><code>[${v.localShape.join(', ')}]</code></td>` +
          `<td class="num">${esc(formatBytes(v.bytesPerDevice))}</td></tr>`,
      );
    out.push('</tbody>');
  }
  out.push('</table>');
  return out.join('\n');
}

function collectiveTable(r: HtmlReportInput['report']): string {
  if (!r.collectives.length) return '<p class="note">No collectives: every device computes its part alone.</p>';
  const out = [
    '<table class="collectives"><thead><tr><th>where</th><th>kind</th><th>axis</th><th>from → to</th><th>bytes per device</th><th>why</th></tr></thead><tbody>',
  ];
  for (const c of r.collectives)
    out.push(
      `<tr><td><code>${esc(`${c.span.file}:${c.span.line}:${c.span.col}`)}</code></td><td>${esc(c.kind)}</td><td>${esc(c.axis)}</td>` +
        `<td><code>${esc(`${c.from} → ${c.to}`)}</code></td><td class="num">${esc(formatBytes(c.bytesPerDevice))}${c.perStep ? ` × ${c.perStep}` : ''}</td><td>${esc(c.reason)}</td></tr>`,
    );
  out.push('</tbody></table>');
  return out.join('\n');
}

export function planHtml(x: HtmlReportInput): string {
  const r = x.report;
  const rows = drawnRows(x.timeline, r.devices);
  const legend = (Object.keys(KIND_NAMES) as SegmentKind[])
    .filter((k) => x.timeline.rows.some((row) => row.segments.some((s) => s.kind === k)))
    .map((k) => `<span style="--c: var(--${k})" class="key-${k}">${esc(KIND_NAMES[k])}</span>`)
    .join('');
  const partLegend = (Object.keys(PART_NAMES) as (keyof typeof PART_NAMES)[])
    .map((k) => `<span style="--c: var(--p-${k})">${esc(PART_NAMES[k])}</span>`)
    .join('');
  const vars =
    ':root { --forward: #4e79a7; --backward: #f28e2b; --weight: #edc948; --comm: #b07aa1; --send: #d4a6c8; --bubble: #eceff3; --reduce: #76448a; ' +
    '--optimizer: #59a14f; --p-params: #4e79a7; --p-grads: #f28e2b; --p-optimizer: #59a14f; --p-activations: #e15759; --p-inFlight: #ff9d9a; }';
  const timeNote =
    x.timeline.unit === 'seconds'
      ? `Times predicted on ${esc(x.hardware?.name ?? 'the described cluster')} by the step-time model (docs/cost-model.md); the collectives inside a pass are drawn at its end.`
      : 'No --hardware given: passes are drawn in slots (F = 1, B = 2; B = W = 1 for zb-h1) with collectives and sends untimed; give --hardware NAME for predicted times.';
  const capacityNote = x.hardware ? ` A device has ${esc(formatBytes(x.hardware.memoryBytes))} (the dashed line when it is on this scale).` : '';
  const grouped = r.devices > MAX_DEVICE_ROWS ? ` More than ${MAX_DEVICE_ROWS} devices: one row per pipeline rank (its devices run the same passes).` : '';
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(`mdc plan: ${r.model} (${r.file})`)}</title>`,
    `<style>${vars}${CSS}</style></head><body>`,
    `<main data-peak-bytes="${x.peak.bytes}" data-devices="${r.devices}" data-unit="${x.timeline.unit}">`,
    `<h1>${esc(r.model)} on ${r.devices} device${r.devices === 1 ? '' : 's'}: ${esc(
      Object.entries(r.mesh)
        .map(([a, n]) => `${a}=${n}`)
        .join(', '),
    )}</h1>`,
    ...x.summary.map((l) => `<p class="summary">${esc(l)}</p>`),
    '<h2>Schedule per device</h2>',
    `<div class="legend">${legend}</div>`,
    gantt(x.timeline, rows),
    `<p class="note">${timeNote}${grouped}</p>`,
    '<h2>Memory per device</h2>',
    `<div class="legend">${partLegend}</div>`,
    memoryBars(x.timeline, rows, x.peak.bytes, x.hardware?.memoryBytes),
    `<p class="note">Peak ${esc(formatBytes(x.peak.bytes))} per device (${esc(x.peak.source)}).${capacityNote}</p>`,
    '<h2>Communication per mesh axis</h2>',
    commBars(commByAxis(r, x.gradientReduction)),
    '<p class="note">Bytes each device sends per step: in the collectives listed below (pipeline sends once per micro-batch) and, when training, ' +
      'in the ring reduction of its gradients over each data-parallel axis after the flush (as the step-time model counts it).</p>',
    '<h2>Layouts per layer</h2>',
    layoutTable(r),
    '<h2>Collectives</h2>',
    collectiveTable(r),
    '</main></body></html>',
    '',
  ].join('\n');
}
