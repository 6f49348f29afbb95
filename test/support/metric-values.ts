/** What tests need of a prom-client metric: its samples, each with its labels and, for histograms, its sample name. */
interface ReadableMetric {
  get(): Promise<{ readonly name: string; readonly values: readonly { readonly labels: object; readonly value: number; readonly metricName?: string }[] }>;
}

function sameLabels(actual: object, wanted: Readonly<Record<string, string>>): boolean {
  const entries = Object.entries(actual);
  return entries.length === Object.keys(wanted).length && entries.every(([key, value]) => wanted[key] === String(value));
}

/**
 * The value of one series, found by its exact label set in whatever order the labels were written, read from the
 * metric itself rather than the text format; undefined when the series was never written. `sample` picks a
 * histogram's count, sum or bucket series.
 */
export async function seriesValue(metric: ReadableMetric, labels: Readonly<Record<string, string>>, sample?: 'count' | 'sum' | 'bucket'): Promise<number | undefined> {
  const { name, values } = await metric.get();
  const wanted = sample === undefined ? name : `${name}_${sample}`;
  return values.find((v) => (v.metricName ?? name) === wanted && sameLabels(v.labels, labels))?.value;
}

/** Every series of a counter or gauge as `label=value,...` → value, labels sorted, for comparing a whole metric at once. */
export async function seriesValues(metric: ReadableMetric): Promise<Record<string, number>> {
  const { values } = await metric.get();
  const key = (labels: object) =>
    Object.entries(labels)
      .map(([name, value]) => `${name}=${String(value)}`)
      .sort()
      .join(',');
  return Object.fromEntries(values.map((v) => [key(v.labels), v.value]));
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_PAIR = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition, as /metrics serves it; comments and blank lines skipped. */
export function parseExposition(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const match = SAMPLE_LINE.exec(line);
    if (match === null) return [];
    const [, name, labels = '', value] = match as unknown as [string, string, string | undefined, string];
    return [{ name, labels: Object.fromEntries([...labels.matchAll(LABEL_PAIR)].map(([, key, text]) => [key, text])), value: Number(value) }];
  });
}

/** The sum over every sample of that name whose labels include `labels` (in any order); 0 when none does. */
export function sumOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  const matches = (sample: Sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
  return samples.filter(matches).reduce((total, sample) => total + sample.value, 0);
}
