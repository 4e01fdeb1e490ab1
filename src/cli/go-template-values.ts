/**
 * How Go's `fmt` prints the values `encoding/json` decodes into `any`
 * (float64, string, bool, nil, `[]any`, `map[string]any`), for the
 * go-template evaluator in `go-template.ts`.
 */

/**
 * Go's `%v` of a float64 (`strconv` 'g' with shortest digits): `%e` form when
 * the decimal exponent is < -4 or >= 6 ("if precision was the shortest
 * possible, use precision 6 for this decision"), so 1234567 → `1.234567e+06`.
 */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mant = '', expRaw = '0'] = n.toExponential().split('e');
  const exp = Number(expRaw);
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? '-' : '+';
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${mant}e${sign}${digits}`;
  }
  return n
    .toFixed(Math.max(0, (mant.split('.')[1]?.length ?? 0) - exp))
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '');
}

/** Go's `%v` of a decoded JSON value (as `text/template` prints an action's result). */
export function goValueString(v: unknown): string {
  if (v === undefined || v === null || typeof v === 'symbol') return '<no value>';
  return goInner(v);
}

function goInner(v: unknown): string {
  if (v === undefined || v === null || typeof v === 'symbol') return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(goInner).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o)
      .sort()
      .map((k) => `${k}:${goInner(o[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

/** Go's truth: false, 0, nil, "" and empty slices/maps are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || typeof v === 'symbol') return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/**
 * Go's `fmt.Sprintf` for the verbs scripts use: `%v %s %d %q %t %x %f %%`,
 * with width and `-` (left-justify). `%d` of a whole float64 prints the
 * integer (Go would print `%!d(float64=…)`: a template author asking for
 * `%d` wants the number). Other verbs print Go's `%!c(…)` marker.
 */
export function goPrintf(format: string, args: unknown[]): string {
  let i = 0;
  return format.replace(
    /%([-0 +#]*)(\d*)(?:\.(\d+))?([a-zA-Z%])/g,
    (_m, flags: string, width: string, prec: string | undefined, verb: string) => {
      if (verb === '%') return '%';
      if (i >= args.length) return `%!${verb}(MISSING)`;
      const a = args[i++];
      let s: string;
      switch (verb) {
        case 'v':
        case 's':
          s = goValueString(a);
          if (a === undefined || a === null) s = '<nil>';
          break;
        case 'd':
          s = typeof a === 'number' && Number.isInteger(a) ? String(a) : `%!d(${goValueString(a)})`;
          break;
        case 'q':
          s = JSON.stringify(goValueString(a));
          break;
        case 't':
          s = typeof a === 'boolean' ? String(a) : `%!t(${goValueString(a)})`;
          break;
        case 'x':
          s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(goValueString(a)).toString('hex');
          break;
        case 'f':
          s = typeof a === 'number' ? a.toFixed(prec !== undefined ? Number(prec) : 6) : `%!f(${goValueString(a)})`;
          break;
        default:
          s = `%!${verb}(${goValueString(a)})`;
      }
      const w = width === '' ? 0 : Number(width);
      if (s.length < w)
        s = flags.includes('-') ? s.padEnd(w) : s.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
      return s;
    },
  );
}
