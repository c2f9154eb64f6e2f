/** One labelled series of a metric as Prometheus' text exposition gives it. */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

const SERIES = /^(\w+)\{([^}]*)\}\s+(\S+)$/;

/** The labelled series of metric `name` in Prometheus text (the forwarder's /metrics), in order. */
export function metricSamples(text: string, name: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const match = SERIES.exec(line.trim());
    if (match === null || match[1] !== name) continue;
    const labels = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.push({ labels, value: Number(match[3]) });
  }
  return samples;
}
