/**
 * The "never contact a cloud metadata service" rule (link-local and metadata
 * endpoints), for every form a host may take: URL hostnames as the WHATWG URL
 * parser leaves them, raw strings, and the addresses a name resolves to.
 *
 * Covered:
 * - IPv4 169.254.0.0/16 in any form the URL parser or `inet_aton` accepts:
 *   dotted, decimal (`2852039166`), hex (`0xa9fea9fe`), octal (`0251.0376.…`),
 *   short forms (`169.254.43518`); Alibaba Cloud's `100.100.100.200`.
 * - IPv6 fe80::/10, the AWS IPv6 metadata address `fd00:ec2::254`, and IPv4
 *   link-local embedded in IPv6: mapped (`::ffff:169.254.169.254`,
 *   `::ffff:a9fe:a9fe`), compatible (`::a9fe:a9fe`), NAT64 `64:ff9b::/96`,
 *   6to4 `2002:a9fe::/32`.
 * - Metadata names: `metadata`, `metadata.google.internal`, `instance-data`,
 *   `instance-data.ec2.internal`, `metadata.azure.internal` (trailing dot and
 *   case ignored).
 * Names that *resolve* to such an address are caught at connect time by
 * {@link vettedLookup}.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { OrasError } from '../../errors.js';

const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.internal',
]);

/** IPv4 as a 32-bit number, or undefined when `h` is not an IPv4 literal in any URL-accepted form. */
function ipv4Number(h: string): number | undefined {
  let host: string;
  try {
    host = new URL(`http://${h}/`).hostname; // WHATWG: decimal/hex/octal/short forms → dotted quad
  } catch {
    return undefined;
  }
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (m === null) return undefined;
  return m.slice(1, 5).reduce((acc, p) => acc * 256 + Number(p), 0);
}

function isBadV4(n: number): boolean {
  return n >>> 16 === 0xa9fe || n === 0x646464c8; // 169.254.0.0/16, 100.100.100.200
}

/** Eight 16-bit groups of an IPv6 literal (with or without brackets, with an embedded dotted IPv4), or undefined. */
function ipv6Groups(h: string): number[] | undefined {
  const s = h
    .replace(/^\[|\]$/g, '')
    .replace(/%.*$/, '')
    .toLowerCase();
  if (!s.includes(':') || !/^[0-9a-f:.]+$/.test(s)) return undefined;
  let text = s;
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1, 5).map(Number) as [number, number, number, number];
    if ([a, b, c, d].some((x) => x > 255)) return undefined;
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const part = (x: string): number[] =>
    x === '' ? [] : x.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  const head = part(halves[0] ?? '');
  const tail = halves.length === 2 ? part(halves[1] ?? '') : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? head.length !== 8 : fill < 1) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  return groups.some((g) => Number.isNaN(g)) ? undefined : groups;
}

function isBadV6(g: number[]): boolean {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  if ((g0 & 0xffc0) === 0xfe80) return true; // fe80::/10
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254)
    return true; // AWS IMDS
  const v4 = ((g6 << 16) | g7) >>> 0;
  const zero4 = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zero4 && (g5 === 0xffff || g5 === 0)) return isBadV4(v4); // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return isBadV4(v4); // NAT64
  if (g0 === 0x2002) return isBadV4(((g1 << 16) | g2) >>> 0); // 6to4
  return false;
}

/**
 * True when `host` (a URL hostname, IPv6 with or without brackets, or a raw
 * address) is a link-local or cloud metadata endpoint in any of the forms
 * listed in the module doc. Names other than the metadata names are not
 * resolved here (see {@link vettedLookup}).
 */
export function isMetadataHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  if (METADATA_NAMES.has(h)) return true;
  const g = ipv6Groups(h);
  if (g !== undefined) return isBadV6(g);
  const n = ipv4Number(h);
  return n !== undefined && isBadV4(n);
}

/** A `dns.lookup`-compatible function (the `lookup` option of `net.connect`). */
export type LookupFunction = (
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

function refused(hostname: string, address: string): OrasError {
  return new OrasError(
    'ERR_ORAS_INSECURE',
    `refusing to connect to ${hostname}: it resolves to the link-local or cloud metadata address ${address}`,
    {
      hint: 'link-local addresses (e.g. cloud metadata services) are never contacted, whatever name leads there',
    },
  );
}

/**
 * Wraps a resolver (default `dns.lookup`) for `net.connect`/`tls.connect`:
 * a name that resolves to a link-local or metadata address
 * ({@link isMetadataHost}) fails the connection with `ERR_ORAS_INSECURE`
 * before any byte is sent, unless `trusted(hostname)` says the user chose
 * that host themselves (the registry in their reference). Checked on every
 * connection, so a DNS answer that changes between a check and the connect
 * (rebinding) is still caught.
 */
export function vettedLookup(
  trusted: (hostname: string) => boolean,
  base: LookupFunction = dnsLookup as unknown as LookupFunction,
): LookupFunction {
  return (hostname, options, callback) => {
    base(hostname, options, (err, address, family) => {
      if (err !== null) return callback(err, address, family);
      if (!trusted(hostname)) {
        const list = Array.isArray(address) ? address.map((a) => a.address) : [address];
        const bad = list.find((a) => isMetadataHost(a));
        if (bad !== undefined)
          return callback(refused(hostname, bad) as unknown as NodeJS.ErrnoException, address, family);
      }
      callback(null, address, family);
    });
  };
}
