/**
 * The small part of semver the kernel needs: versions `MAJOR.MINOR.PATCH[-pre]` and ranges
 * `*`, `1.2.3`, `=1.2.3`, `^1.2.3`, `~1.2.3`, `>=1.2.3`, `>1.2.3`, `<=1.2.3`, `<1.2.3`, joined by spaces (and).
 */
export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly pre: string;
}

const VERSION_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$/;

export function parseVersion(v: string): Version | undefined {
  const m = VERSION_RE.exec(v);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ?? '' };
}

export function compareVersions(a: Version, b: Version): number {
  if (a.major !== b.major) return a.major - b.major;
  if (a.minor !== b.minor) return a.minor - b.minor;
  if (a.patch !== b.patch) return a.patch - b.patch;
  // A pre-release sorts before its release.
  if (a.pre === b.pre) return 0;
  if (a.pre === '') return 1;
  if (b.pre === '') return -1;
  return a.pre < b.pre ? -1 : 1;
}

type Comparator = (v: Version) => boolean;

function parseComparator(part: string): Comparator | undefined {
  if (part === '*' || part === 'x') return () => true;
  const m = /^(\^|~|>=|<=|>|<|=)?(.+)$/.exec(part);
  if (!m) return undefined;
  const base = parseVersion(m[2]!);
  if (!base) return undefined;
  const cmp = (v: Version) => compareVersions(v, base);
  switch (m[1] ?? '=') {
    case '=':
      return (v) => cmp(v) === 0;
    case '>=':
      return (v) => cmp(v) >= 0;
    case '>':
      return (v) => cmp(v) > 0;
    case '<=':
      return (v) => cmp(v) <= 0;
    case '<':
      return (v) => cmp(v) < 0;
    case '~':
      return (v) => cmp(v) >= 0 && v.major === base.major && v.minor === base.minor;
    case '^':
      // Caret allows changes that do not modify the left-most non-zero part (npm's rule).
      if (base.major > 0) return (v) => cmp(v) >= 0 && v.major === base.major;
      if (base.minor > 0) return (v) => cmp(v) >= 0 && v.major === 0 && v.minor === base.minor;
      return (v) => cmp(v) >= 0 && v.major === 0 && v.minor === 0 && v.patch === base.patch;
    default:
      return undefined;
  }
}

/** Returns a predicate for a range, or undefined if the range does not parse. */
export function parseRange(range: string): ((v: string) => boolean) | undefined {
  const parts = range.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return undefined;
  const comps: Comparator[] = [];
  for (const p of parts) {
    const c = parseComparator(p);
    if (!c) return undefined;
    comps.push(c);
  }
  return (v) => {
    const parsed = parseVersion(v);
    return parsed !== undefined && comps.every((c) => c(parsed));
  };
}
