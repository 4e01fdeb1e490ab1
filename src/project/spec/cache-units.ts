/**
 * The units of cache budgets: sizes (`--max-size`, `cache.maxSize`) and ages
 * (`--older-than`). Pure parsers: they return the value or a message naming
 * the accepted forms.
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a byte size: a number of bytes, or a number with a unit: `K`/`M`/`G`/`T`
 * and `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024, `KB`/`MB`/`GB`/`TB` powers of
 * 1000 (case-insensitive), e.g. `500M`, `2GiB`, `1.5GB`. Returns bytes, or a
 * message.
 */
export function parseByteSize(text: string | number): number | { message: string } {
  if (typeof text === 'number')
    return Number.isSafeInteger(text) && text >= 0
      ? text
      : { message: `size ${text} must be a whole number of bytes ≥ 0` };
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m?.[2]?.toLowerCase() ?? '';
  const factor = SIZE_UNITS[unit];
  if (m === null || factor === undefined)
    return {
      message: `invalid size ${JSON.stringify(text)}: use bytes or a number with a unit, e.g. 500M, 2GiB, 1.5GB`,
    };
  return Math.floor(Number(m[1]) * factor);
}

const AGE_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** Parses an age such as `30d`, `12h`, `90m`, `45s`, `2w` (a number and one unit). Returns milliseconds, or a message. */
export function parseAge(text: string): number | { message: string } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(text);
  const factor = m ? AGE_UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (m === null || factor === undefined)
    return {
      message: `invalid duration ${JSON.stringify(text)}: use a number and a unit s, m, h, d or w, e.g. 30d or 12h`,
    };
  return Math.round(Number(m[1]) * factor);
}
