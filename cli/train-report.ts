import type { StepResult } from '../runtime/train.js';
import type { EvalResult } from '../runtime/trainer.js';

/** Curves of a training run as standalone SVG, and a small HTML report holding them (mdc train --report). */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

const COLORS = ['#1f5fbf', '#c0392b', '#27ae60', '#8e44ad', '#d68910'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/** How a chart frames its curves: the y axis from `yFrom` (else the data's least value), a dashed reference line, tick labels. */
export interface ChartOptions {
  readonly yFrom?: number;
  readonly reference?: { readonly y: number; readonly label: string };
  readonly tick?: (v: number) => string;
}

/** Lines of (x, y) points on shared axes, with a legend; x is the step. */
export function curvesSvg(series: readonly Series[], title: string, opts: ChartOptions = {}): string {
  const W = 640;
  const H = 360;
  const m = { l: 56, r: 16, t: 32, b: 40 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  // Folds, not Math.min(...xs): a long run's points as arguments would overflow the stack.
  const x0 = all.reduce((a, [x]) => Math.min(a, x), all[0]?.[0] ?? 0);
  const x1 = all.reduce((a, [x]) => Math.max(a, x), x0 + 1);
  const y0 = opts.yFrom ?? all.reduce((a, [, y]) => Math.min(a, y), all[0]?.[1] ?? 0);
  const y1 = all.reduce((a, [, y]) => Math.max(a, y), y0 + 1e-9);
  const X = (x: number) => m.l + ((x - x0) / Math.max(1e-9, x1 - x0)) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((y - y0) / Math.max(1e-9, y1 - y0)) * (H - m.t - m.b);
  const ticks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4);
  const tick = opts.tick ?? ((t: number) => t.toPrecision(3));
  const lines = series.map((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y)).map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`);
    const color = COLORS[i % COLORS.length]!;
    const dots = s.points.length <= 40 ? pts.map((p) => `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${color}"/>`) : [];
    return [
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.join(' ')}"/>`,
      ...dots,
      `<text x="${W - m.r - 4}" y="${m.t + 14 * (i + 1)}" text-anchor="end" fill="${color}">${esc(s.name)}</text>`,
    ].join('\n');
  });
  const ry = opts.reference ? Y(opts.reference.y) : 0;
  const reference = opts.reference
    ? [
        `<line x1="${m.l}" y1="${ry.toFixed(1)}" x2="${W - m.r}" y2="${ry.toFixed(1)}" stroke="#c66" stroke-dasharray="4 3"/>`,
        `<text x="${W - m.r}" y="${(ry - 4).toFixed(1)}" text-anchor="end" fill="#c66">${esc(opts.reference.label)}</text>`,
      ]
    : [];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    ...ticks.map(
      (v) =>
        `<text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end">${tick(v)}</text><line x1="${m.l}" y1="${Y(v)}" x2="${W - m.r}" y2="${Y(v)}" stroke="#ddd"/>`,
    ),
    `<text x="${m.l}" y="${H - 12}">step ${x0}</text><text x="${W - m.r}" y="${H - 12}" text-anchor="end">step ${x1}</text>`,
    ...reference,
    ...lines,
    '</svg>',
    '',
  ].join('\n');
}

export function lossCurve(history: readonly StepResult[], evals: readonly EvalResult[], title: string): string {
  const series: Series[] = [{ name: 'training loss', points: history.map((h) => [h.step, h.loss] as const) }];
  if (evals.length) series.push({ name: 'validation loss', points: evals.map((e) => [e.step, e.loss] as const) });
  return curvesSvg(series, title);
}

/** The validation metrics other than the loss, one line each; undefined when there are none. */
export function metricsCurve(evals: readonly EvalResult[], title: string): string | undefined {
  const names = (['accuracy', 'f1', 'perplexity'] as const).filter((k) => evals.some((e) => e[k] !== undefined));
  if (!names.length) return undefined;
  return curvesSvg(
    names.map((k) => ({ name: k, points: evals.map((e) => [e.step, e[k] ?? NaN] as const) })),
    title,
  );
}

/** A standalone HTML page: the run's settings, the final metrics, a table per evaluation and the curves inline. */
export function reportHtml(
  title: string,
  settings: Readonly<Record<string, string | number>>,
  history: readonly StepResult[],
  evals: readonly EvalResult[],
): string {
  const loss = lossCurve(history, evals, 'loss');
  const metrics = metricsCurve(evals, 'validation metrics');
  const cols = ['epoch', 'step', 'loss', 'accuracy', 'f1', 'perplexity'].filter((k) =>
    evals.some((e) => (e as unknown as Record<string, unknown>)[k] !== undefined),
  );
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : '');
  return [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${esc(title)}</title>`,
    '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style>',
    `</head><body><h1>${esc(title)}</h1>`,
    '<table>',
    ...Object.entries(settings).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`),
    '</table>',
    loss,
    metrics ?? '',
    evals.length ? '<h2>Evaluations</h2><table>' : '',
    evals.length ? `<tr>${cols.map((c) => `<th>${c}</th>`).join('')}</tr>` : '',
    ...evals.map((e) => `<tr>${cols.map((c) => `<td>${cell((e as unknown as Record<string, unknown>)[c])}</td>`).join('')}</tr>`),
    evals.length ? '</table>' : '',
    '</body></html>',
    '',
  ].join('\n');
}
