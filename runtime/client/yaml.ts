/**
 * The YAML subset beanstalkd replies with: a "---" line, then either
 * `key: value` lines (stats) or `- item` lines (tube lists). beanstalkd 1.13
 * double-quotes string values (`name: "default"`); 1.12 does not.
 * Values stay strings here; `stats.ts` turns them into typed objects.
 */

/** Removes surrounding double quotes, undoing `\"` and `\\` escapes inside. */
export function unquote(v: string): string {
  if (v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34) {
    const inner = v.slice(1, -1);
    return inner.includes("\\") ? inner.replace(/\\(.)/g, "$1") : inner;
  }
  return v;
}

function lines(text: string): string[] {
  const out = text.split("\n");
  for (let i = 0; i < out.length; i++) {
    const l = out[i]!;
    if (l.endsWith("\r")) out[i] = l.slice(0, -1);
  }
  return out;
}

/** `key: value` lines to a map of strings, in order. */
export function parseYamlMap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines(text)) {
    if (line === "---" || line === "") continue;
    const i = line.indexOf(":");
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = unquote(line.slice(i + 1).trim());
  }
  return out;
}

/** `- item` lines to a list of strings, in order. */
export function parseYamlList(text: string): string[] {
  const out: string[] = [];
  for (const line of lines(text)) {
    if (line.startsWith("- ")) out.push(unquote(line.slice(2).trim()));
  }
  return out;
}
