/**
 * A small hand-written SVG line chart (log-log), enough for latency vs load.
 * No dependency: the output is committed under docs/benchmarks/ and must stay
 * readable as text and in a browser.
 */
export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal reference line, e.g. the p99 limit. */
  yLine?: { value: number; label: string };
}

const W = 640;
const H = 340;
const M = { top: 36, right: 150, bottom: 48, left: 64 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) =>
  n >= 1000
    ? `${Number((n / 1000).toPrecision(3))}k`
    : n >= 1
      ? `${Number(n.toPrecision(3))}`
      : `${Number(n.toPrecision(2))}`;

function decades(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

export function lineChart(options: ChartOptions): string {
  const all = options.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  const ys = all.map(([, y]) => y).concat(options.yLine ? [options.yLine.value] : []);
  const xs = all.map(([x]) => x);
  const xMin = Math.min(...xs, 1000) * 0.8;
  const xMax = Math.max(...xs, 2000) * 1.25;
  const yMin = Math.max(0.05, Math.min(...ys, 1) * 0.7);
  const yMax = Math.max(...ys, 10) * 1.5;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number) => M.left + ((Math.log(v) - Math.log(xMin)) / (Math.log(xMax) - Math.log(xMin))) * pw;
  const y = (v: number) => M.top + ph - ((Math.log(v) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin))) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${M.left}" y="20" font-size="13" font-weight="bold">${esc(options.title)}</text>`);
  for (const t of decades(xMin, xMax)) {
    out.push(`<line x1="${x(t).toFixed(1)}" y1="${M.top}" x2="${x(t).toFixed(1)}" y2="${M.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${M.top + ph + 14}" text-anchor="middle" fill="#444">${fmt(t)}</text>`);
  }
  for (const t of decades(yMin, yMax)) {
    out.push(
      `<line x1="${M.left}" y1="${y(t).toFixed(1)}" x2="${M.left + pw}" y2="${y(t).toFixed(1)}" stroke="#eee"/>`,
    );
    out.push(`<text x="${M.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#444">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  out.push(
    `<text x="16" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + ph / 2})">${esc(options.yLabel)}</text>`,
  );
  if (options.yLine) {
    const ly = y(options.yLine.value).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${ly}" x2="${M.left + pw}" y2="${ly}" stroke="#c00" stroke-dasharray="2 3"/>`);
    out.push(
      `<text x="${M.left + pw - 4}" y="${Number(ly) - 4}" text-anchor="end" fill="#c00">${esc(options.yLine.label)}</text>`,
    );
  }
  options.series.forEach((s, i) => {
    const pts = s.points.filter(([px, py]) => px > 0 && py > 0).sort((a, b) => a[0] - b[0]);
    if (pts.length > 0) {
      const d = pts.map(([px, py], j) => `${j === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
      const dash = s.dashed ? ' stroke-dasharray="5 4"' : '';
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
      for (const [px, py] of pts) {
        out.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
      }
    }
    const ly = M.top + 10 + i * 18;
    const lx = M.left + pw + 12;
    const dash = s.dashed ? ' stroke-dasharray="5 4"' : '';
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
