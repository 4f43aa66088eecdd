/**
 * Output of the end-to-end and memory benchmarks: terminal tables with
 * ratios, a JSON file of every result under bench/results/ (gitignored), and
 * a hand-written SVG chart of throughput by message size for each server.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RESULTS_DIR = new URL('./results/', import.meta.url).pathname;

/** Writes `data` as bench/results/<name> and returns the path. */
export function writeResult(name: string, data: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, name);
  writeFileSync(path, data);
  return path;
}

// ---- statistics ---------------------------------------------------------------

/** Median, min and max of one figure over runs. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** The spread of `values` (at least one); the median of an even count is the lower middle value, a run that happened. */
export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

// ---- formatting -------------------------------------------------------------

export const sizeName = (n: number): string =>
  n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`;

/** 3 significant digits with k/M suffixes. */
export function num(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toPrecision(3)}k`;
  return abs >= 100 ? n.toFixed(0) : n.toPrecision(3);
}

export const bytes = (n: number): string =>
  Math.abs(n) >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;

export const micros = (us: number): string =>
  us >= 1e6 ? `${(us / 1e6).toPrecision(3)} s` : us >= 1000 ? `${(us / 1000).toPrecision(3)} ms` : `${us.toPrecision(3)} µs`;

export const ratio = (a: number, b: number | undefined): string =>
  b === undefined || !(b > 0) ? '-' : `${(a / b).toFixed(2)}x`;

export const percent = (f: number): string => `${Math.round(f * 100)}%`;

/** A left-aligned text table; `right` marks numeric columns to right-align. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A progress line that rewrites itself on a terminal and prints plain lines otherwise. */
export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #last = '';

  update(text: string, important = false): void {
    if (this.#tty) process.stderr.write(`\r\x1b[K${text}`);
    else if (important && text !== this.#last) process.stderr.write(`${text}\n`);
    this.#last = text;
  }

  done(): void {
    if (this.#tty) process.stderr.write('\r\x1b[K');
  }
}

// ---- the SVG chart ------------------------------------------------------------

export interface ChartSeries {
  readonly label: string;
  /** One value per category (NaN or missing: no bar). */
  readonly values: readonly number[];
}

export interface ChartPanel {
  readonly title: string;
  readonly series: readonly ChartSeries[];
}

const COLORS = ['#2f6fdf', '#e8862a', '#c9a227', '#6b6b6b', '#3aa35b', '#b04ac8'];

/** Axis label of a power of ten: 0.01, 1, 100, 10k, 1M. */
const tick = (v: number): string => (v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}k` : String(Number(v.toPrecision(1))));

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Grouped bar charts on a logarithmic y axis, one panel per concurrency
 * setting (two panels a row), categories on x, one colour per series.
 */
export function barChartSvg(title: string, yLabel: string, categories: readonly string[], panels: readonly ChartPanel[]): string {
  const panelW = 460;
  const panelH = 300;
  const margin = { left: 64, right: 16, top: 34, bottom: 40 };
  const cols = Math.min(2, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const legendH = 34;
  const width = cols * panelW + 20;
  const height = 44 + legendH + rows * panelH + 10;
  const all = panels.flatMap((p) => p.series.flatMap((s) => s.values)).filter((v) => v > 0 && Number.isFinite(v));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, 10)));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="600">${esc(title)}</text>`,
  );
  const labels = panels[0]?.series.map((s) => s.label) ?? [];
  let lx = 20;
  labels.forEach((label, i) => {
    out.push(
      `<rect x="${lx}" y="${44}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${lx + 16}" y="${54}">${esc(label)}</text>`,
    );
    lx += 24 + label.length * 7;
  });
  panels.forEach((panel, p) => {
    const ox = 10 + (p % cols) * panelW;
    const oy = 44 + legendH + Math.floor(p / cols) * panelH;
    const x0 = ox + margin.left;
    const x1 = ox + panelW - margin.right;
    const y0 = oy + panelH - margin.bottom;
    const y1 = oy + margin.top;
    const y = (v: number): number => y0 - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (y0 - y1);
    out.push(`<text x="${(x0 + x1) / 2}" y="${oy + 18}" text-anchor="middle" font-weight="600">${esc(panel.title)}</text>`);
    for (let v = lo; v <= hi * 1.0001; v *= 10) {
      const yy = y(v).toFixed(1);
      out.push(
        `<line x1="${x0}" x2="${x1}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`,
        `<text x="${x0 - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#555">${esc(tick(v))}</text>`,
      );
    }
    out.push(
      `<line x1="${x0}" x2="${x0}" y1="${y1}" y2="${y0}" stroke="#333"/>`,
      `<line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}" stroke="#333"/>`,
      `<text transform="translate(${ox + 14},${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(yLabel)}</text>`,
    );
    const groupW = (x1 - x0) / categories.length;
    const barW = (groupW * 0.8) / Math.max(1, panel.series.length);
    categories.forEach((category, c) => {
      const gx = x0 + c * groupW + groupW * 0.1;
      out.push(`<text x="${(x0 + (c + 0.5) * groupW).toFixed(1)}" y="${y0 + 18}" text-anchor="middle">${esc(category)}</text>`);
      panel.series.forEach((s, k) => {
        const v = s.values[c];
        if (v === undefined || !(v > 0)) return;
        const top = y(Math.max(v, lo));
        out.push(
          `<rect x="${(gx + k * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(y0 - top).toFixed(1)}" fill="${COLORS[k % COLORS.length]}"><title>${esc(`${s.label}, ${category}: ${num(v)} ${yLabel}`)}</title></rect>`,
        );
      });
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
