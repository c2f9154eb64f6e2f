/** Turns a latency series into an SVG polyline; a missing value (failed probe) breaks the line. */
export interface SparkPoint {
  readonly at: number;
  readonly value: number | null;
}

export interface Sparkline {
  /** One "M x y L x y ..." path; gaps start a new "M". Empty when nothing to draw. */
  readonly path: string;
  /** x positions of failed probes, drawn as marks on the baseline. */
  readonly failures: readonly number[];
  /** Good probes with no good neighbour: a path of one point draws nothing, so they become dots. */
  readonly dots: readonly { readonly x: number; readonly y: number }[];
  readonly max: number;
}

export function buildSparkline(points: readonly SparkPoint[], width: number, height: number, pad = 2): Sparkline {
  if (points.length === 0) return { path: '', failures: [], dots: [], max: 0 };
  const sorted = [...points].sort((a, b) => a.at - b.at);
  const first = sorted[0]!.at;
  const span = Math.max(1, sorted[sorted.length - 1]!.at - first);
  const max = Math.max(1, ...sorted.map((p) => p.value ?? 0));
  const x = (at: number) => round(sorted.length === 1 ? width / 2 : pad + ((at - first) / span) * (width - 2 * pad));
  const y = (v: number) => round(height - pad - (v / max) * (height - 2 * pad));
  const parts: string[] = [];
  const failures: number[] = [];
  const dots: { x: number; y: number }[] = [];
  sorted.forEach((p, i) => {
    if (p.value === null) {
      failures.push(x(p.at));
      return;
    }
    const penDown = i > 0 && sorted[i - 1]!.value !== null;
    const continues = i + 1 < sorted.length && sorted[i + 1]!.value !== null;
    if (!penDown && !continues) dots.push({ x: x(p.at), y: y(p.value) });
    else parts.push(`${penDown ? 'L' : 'M'}${x(p.at)} ${y(p.value)}`);
  });
  return { path: parts.join(' '), failures, dots, max };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
