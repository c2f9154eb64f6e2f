// Reading a service's /metrics (Prometheus text exposition) in tests and benchmarks: one parser,
// so that every reader agrees on what a series is.

/** One series of a metric: its labels ({} for none) and value. */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

// name, optional {labels}, value (an optional timestamp after it is not used by prom-client).
const SERIES = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

function unescape(value: string): string {
  return value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** The series of metric `name` in Prometheus text, in order (comment lines and other metrics skipped). */
export function metricSamples(text: string, name: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = SERIES.exec(line.trim());
    if (match === null || match[1] !== name) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(LABEL)].map((m) => [m[1]!, unescape(m[2]!)]));
    samples.push({ labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The sum of the series of `name` whose labels include all of `labels` (none given: every series of
 * it); 0 when none matches, as a counter never incremented is absent.
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  return metricSamples(text, name)
    .filter((sample) => wanted.every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}
