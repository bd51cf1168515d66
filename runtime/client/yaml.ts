/**
 * The small YAML subset beanstalkd replies with: a "---" line, then either
 * `key: value` lines or `- item` lines. Values may be double-quoted (1.13).
 * Numeric values become numbers.
 */
function scalar(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

export function parseYaml(text: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(": ");
    if (i <= 0) continue;
    const raw = line.slice(i + 2);
    const v = scalar(raw);
    out[line.slice(0, i)] = raw === v && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  return out;
}

export function parseYamlList(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("- "))
    .map((l) => scalar(l.slice(2)));
}
