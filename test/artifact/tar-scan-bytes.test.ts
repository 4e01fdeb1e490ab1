import { describe, expect, it } from 'vitest';
import { scanTar, scanTarBytes, type TarScanOptions, type TarScanVisitor } from '../../src/artifact/tar-scan.js';
import { bufferStream, craftTarGz, type CraftEntry } from './helpers.js';

/** Every event a scan reports (file bodies read whole), its result, or the error's code and message. */
async function record(
  scan: (visitor: TarScanVisitor) => Promise<unknown>,
): Promise<{ events: string[]; result?: unknown; error?: { code: unknown; message: string } }> {
  const events: string[] = [];
  const visitor: TarScanVisitor = {
    async file(rel, mode, size, body) {
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(Buffer.from(c));
      events.push(`file ${rel} ${mode.toString(8)} ${size} ${Buffer.concat(parts).toString('utf8')}`);
    },
    directory: (rel, mode) => void events.push(`dir ${rel} ${mode?.toString(8) ?? '-'}`),
    symlink: (rel, target) => void events.push(`symlink ${rel} ${target}`),
    link: (rel, target, origin) => void events.push(`link ${rel} ${target} ${origin}`),
  };
  try {
    return { events, result: await scan(visitor) };
  } catch (err) {
    return { events, error: { code: (err as { code?: unknown }).code, message: (err as Error).message } };
  }
}

/** The same archive scanned as a stream and from memory: the two must agree on everything. */
async function both(tgz: Buffer, options: TarScanOptions): Promise<Awaited<ReturnType<typeof record>>> {
  const streamed = await record((v) => scanTar(bufferStream(tgz), options, v));
  const inMemory = await record((v) => scanTarBytes(tgz, options, v));
  expect(inMemory).toEqual(streamed);
  return inMemory;
}

const tree: CraftEntry[] = [
  { name: 'data', type: 'directory' },
  { name: 'data/a.txt', content: 'alpha\n' },
  { name: 'data/sub/b.txt', content: 'beta\n', mode: 0o755 },
  { name: 'data/sub/link', type: 'symlink', linkname: 'b.txt' },
  { name: 'data/hard', type: 'link', linkname: 'data/a.txt' },
];

describe('scanTarBytes (an archive in memory) agrees with scanTar', () => {
  it('reports the same entries and result, with and without the uncompressed digest', async () => {
    const tgz = await craftTarGz(tree);
    await both(tgz, { stripPrefix: 'data' });
    await both(tgz, { stripPrefix: 'data', uncompressedDigest: false });
    await both(tgz, { stripPrefix: 'data', modeMask: 0o077 });
    const { result } = await record((v) => scanTarBytes(tgz, { stripPrefix: 'data' }, v));
    expect(result).toMatchObject({ entries: 5, uncompressedDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
  });

  it('refuses the same malicious archives with the same errors', async () => {
    const attacks: CraftEntry[][] = [
      [{ name: '../evil', content: 'x' }],
      [{ name: 'data/l', type: 'symlink', linkname: '/etc' }],
      [
        { name: 'data/l', type: 'symlink', linkname: '.' },
        { name: 'data/l/x', content: 'x' },
      ],
      [{ name: 'elsewhere/x', content: 'x' }],
      [{ name: 'data/p', type: 'fifo' }],
      [
        { name: 'data/a', content: 'one' },
        { name: 'data/a', content: 'two' },
      ],
    ];
    for (const entries of attacks) {
      const tgz = await craftTarGz(entries);
      const streamed = await record((v) => scanTar(bufferStream(tgz), { stripPrefix: 'data' }, v));
      expect(streamed.error?.code).toMatch(/^ERR_ORAS_/);
      await both(tgz, { stripPrefix: 'data' });
    }
  });

  it('a corrupt gzip, a wrong expected digest, and the entry and size caps fail alike', async () => {
    const tgz = await craftTarGz(tree);
    const corrupt = Buffer.from(tgz);
    corrupt[20] = corrupt[20]! ^ 0xff;
    await both(corrupt, { stripPrefix: 'data' });
    await both(tgz.subarray(0, tgz.length - 30), { stripPrefix: 'data' });
    await both(tgz, { stripPrefix: 'data', expectedUncompressedDigest: `sha256:${'0'.repeat(64)}` });
    await both(tgz, { stripPrefix: 'data', maxEntries: 2 });
    const capped = await record((v) => scanTarBytes(tgz, { stripPrefix: 'data', maxUncompressedBytes: 1024 }, v));
    expect(capped.error?.code).toBe('ERR_ORAS_LIMIT_EXCEEDED');
    // Nothing was reported before the cap was known.
    expect(capped.events).toEqual([]);
  });

  it('an archive that inflates past the in-memory bound is scanned as a stream, with the same result', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 0x61);
    const tar = await craftTarGz([{ name: 'data/big.txt', content: big.toString('utf8') }]);
    expect(tar.length).toBeLessThan(1024 * 1024); // small compressed, 20 MiB inflated
    const sizes = async (scan: (v: TarScanVisitor) => Promise<unknown>) => {
      const seen: number[] = [];
      const result = await scan({
        async file(_rel, _mode, size, body) {
          let n = 0;
          for await (const c of body) n += c.byteLength;
          seen.push(size, n);
        },
      });
      return { seen, result };
    };
    const inMemory = await sizes((v) => scanTarBytes(tar, { stripPrefix: 'data' }, v));
    expect(inMemory).toEqual(await sizes((v) => scanTar(bufferStream(tar), { stripPrefix: 'data' }, v)));
    expect(inMemory.seen).toEqual([big.length, big.length]);
  });

  it('its output buffer is sized from the gzip trailer, and a trailer that lies fails like the stream', async () => {
    // Many entries (output of several 16 KiB default chunks) so that the sized buffer matters.
    const many: CraftEntry[] = [{ name: 'data', type: 'directory' }];
    for (let i = 0; i < 60; i++) many.push({ name: `data/f${i}.txt`, content: `${i} `.repeat(300) });
    const tgz = await craftTarGz(many);
    const ok = await both(tgz, { stripPrefix: 'data' });
    expect(ok.error).toBeUndefined();
    expect(ok.events).toHaveLength(61);
    for (const size of [0, 1, tgz.readUInt32LE(tgz.length - 4) - 1, 16 * 1024 * 1024]) {
      const lying = Buffer.from(tgz);
      lying.writeUInt32LE(size, lying.length - 4);
      const r = await both(lying, { stripPrefix: 'data' });
      expect(r.error?.code).toMatch(/^ERR_ORAS_/);
    }
  });

  it('a plain tar (compression none) and an aborted scan', async () => {
    const { gunzipSync } = await import('node:zlib');
    const tar = gunzipSync(await craftTarGz(tree));
    // Both read the plain tar's entries (not, say, both failing alike on bytes taken for gzip).
    const plain = await both(tar, { stripPrefix: 'data', compression: 'none' });
    expect(plain.error).toBeUndefined();
    expect(plain.events).toContain('file a.txt 644 6 alpha\n');
    const ac = new AbortController();
    ac.abort();
    const aborted = await record((v) => scanTarBytes(tar, { compression: 'none', signal: ac.signal }, v));
    expect(aborted.error?.code).toBe('ERR_ORAS_ABORTED');
    expect(aborted.events).toEqual([]);
  });
});
