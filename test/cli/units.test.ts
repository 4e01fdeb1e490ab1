/**
 * Pure pieces of the CLI (no process spawn): argument syntaxes, exit-code
 * mapping, error formatting with registry quirk hints, progress renderers.
 */
import { PassThrough } from 'node:stream';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { parseAnnotations, parseHeaders, splitFileArg, splitLayoutRef, splitRefTags } from '../../src/cli/args.js';
import { declaredCommandNames } from '../../src/cli/commands/index.js';
import { CliExit, exitCodeFor, formatError, quirkHint } from '../../src/cli/errors.js';
import { remoteFlagsOf, validateRemoteFlags } from '../../src/cli/options.js';
import { createProgressRenderer, PUSH_VERBS } from '../../src/cli/render/progress.js';
import { buildProgram } from '../../src/cli/run.js';
import { OrasError } from '../../src/errors.js';
import type { Descriptor } from '../../src/oci/descriptor.js';

const desc: Descriptor = {
  mediaType: 'text/plain',
  digest: `sha256:${'a'.repeat(64)}`,
  size: 10,
  annotations: { 'org.opencontainers.image.title': 'file.txt' },
};

describe('argument syntaxes', () => {
  it('splits FILE[:MEDIATYPE] at the last colon only before a media type', () => {
    expect(splitFileArg('./build/foo.txt:text/plain')).toEqual({ path: './build/foo.txt', mediaType: 'text/plain' });
    expect(splitFileArg('/dev/null:application/vnd.acme.rocket.config.v1+json')).toEqual({
      path: '/dev/null',
      mediaType: 'application/vnd.acme.rocket.config.v1+json',
    });
    expect(splitFileArg('artifact.txt')).toEqual({ path: 'artifact.txt' });
    // oras 1.3 (cmd/oras/internal/fileref/unix.go) splits at the last colon, '/' or not.
    expect(splitFileArg('a:b.txt', () => false)).toEqual({ path: 'a', mediaType: 'b.txt' });
    expect(splitFileArg('foo.txt:mytype', () => false)).toEqual({ path: 'foo.txt', mediaType: 'mytype' });
    expect(splitFileArg('foo.txt:', () => false)).toEqual({ path: 'foo.txt' });
    // …unless the whole argument is an existing file and its prefix is not.
    expect(splitFileArg('a:b.txt', (p) => p === 'a:b.txt')).toEqual({ path: 'a:b.txt' });
    expect(splitFileArg('C:\\dir\\f.txt')).toEqual({ path: 'C:\\dir\\f.txt' });
    expect(splitFileArg('C:/dir/f.txt')).toEqual({ path: 'C:/dir/f.txt' });
    expect(splitFileArg('x:y:application/json')).toEqual({ path: 'x:y', mediaType: 'application/json' });
  });

  it('splits layout refs DIR[:tag|@digest]', () => {
    const d = `sha256:${'b'.repeat(64)}`;
    expect(splitLayoutRef('out/layout:v1')).toEqual({ dir: 'out/layout', tag: 'v1' });
    expect(splitLayoutRef(`layout@${d}`)).toEqual({ dir: 'layout', digest: d });
    expect(splitLayoutRef('layout')).toEqual({ dir: 'layout' });
    expect(splitLayoutRef('C:layout')).toEqual({ dir: 'C:layout' });
  });

  it('splits REF,TAG,TAG and validates tags', () => {
    expect(splitRefTags('r/x:v1,v2, v3')).toEqual({ ref: 'r/x:v1', extraTags: ['v2', 'v3'] });
    expect(() => splitRefTags('r/x:v1,bad tag')).toThrow(/invalid tag/);
  });

  it('parses headers and annotations', () => {
    expect(parseHeaders(['X-A: 1', 'x-b:two:three'])).toEqual({ 'X-A': '1', 'x-b': 'two:three' });
    expect(() => parseHeaders(['novalue'])).toThrow(OrasError);
    expect(parseAnnotations(['a=1', 'b=x=y'])).toEqual({ a: '1', b: 'x=y' });
    expect(() => parseAnnotations(['a=1', 'a=2'])).toThrow(/duplicate/);
  });
});

describe('remote flags', () => {
  it('per-side flags win over shared ones; a layout side ignores shared registry flags', () => {
    const opts = { plainHttp: true, username: 'u', toUsername: 'v', fromOciLayout: true };
    expect(remoteFlagsOf(opts, 'from')).toEqual({ ociLayout: true });
    expect(remoteFlagsOf(opts, 'to')).toEqual({ plainHttp: true, username: 'v' });
    expect(remoteFlagsOf({ caFile: 'x' })).toEqual({ caFile: 'x' });
  });

  it('rejects contradictory flags', () => {
    expect(() => validateRemoteFlags({ certFile: 'c' })).toThrow(/together/);
    expect(() => validateRemoteFlags({ password: 'p', passwordStdin: true })).toThrow(/mutually exclusive/);
    expect(() => validateRemoteFlags({ ociLayout: true, plainHttp: true })).toThrow(/oci-layout/);
  });
});

describe('errors', () => {
  it('maps errors to exit codes', () => {
    expect(exitCodeFor(new OrasError('ERR_ORAS_NOT_FOUND', 'x'))).toBe(3);
    expect(exitCodeFor(new OrasError('ERR_ORAS_UNAUTHORIZED', 'x'))).toBe(4);
    expect(exitCodeFor(new OrasError('ERR_ORAS_DENIED', 'x'))).toBe(4);
    expect(exitCodeFor(new OrasError('ERR_ORAS_USAGE', 'x'))).toBe(2);
    expect(exitCodeFor(new OrasError('ERR_ORAS_PATH_TRAVERSAL', 'x'))).toBe(1);
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownOption', 'error: unknown option'))).toBe(2);
    expect(exitCodeFor(new CliExit(6))).toBe(6);
    expect(exitCodeFor(new Error('boom'))).toBe(1);
  });

  it('formats one Error line + Hint, stack only with debug', () => {
    const err = new OrasError('ERR_ORAS_NOT_FOUND', 'manifest\nnot found', { hint: 'check the tag' });
    // A library message keeps its lines (issue 11 item 8); continuation lines are indented so none can pose as `Hint:`.
    expect(formatError(err)).toBe('Error: manifest\n  not found\nHint: check the tag\n');
    expect(formatError(err, { debug: true })).toMatch(/at /);
  });

  it('gives registry quirk hints (Quay config media type, Docker Hub 401, ECR 405)', () => {
    const invalid = new OrasError('ERR_ORAS_HTTP', 'push failed', {
      status: 400,
      registryErrors: [{ code: 'MANIFEST_INVALID' }],
    });
    expect(quirkHint(invalid, { command: 'push', registry: 'quay.io', customConfig: true })).toMatch(
      /--image-spec v1\.1.*--artifact-type/,
    );
    expect(quirkHint(new OrasError('ERR_ORAS_UNAUTHORIZED', 'x'), { registry: 'registry-1.docker.io' })).toMatch(
      /library\//,
    );
    expect(
      quirkHint(new OrasError('ERR_ORAS_UNSUPPORTED', 'x', { status: 405 }), {
        registry: '123.dkr.ecr.us-east-1.amazonaws.com',
      }),
    ).toMatch(/ECR/);
    expect(quirkHint(new OrasError('ERR_ORAS_NOT_FOUND', 'x'), { registry: 'localhost:5000' })).toBeUndefined();
  });
});

describe('progress renderers', () => {
  function capture(_mode: 'plain' | 'tty' | 'silent'): { stream: PassThrough; text: () => string } {
    const stream = new PassThrough();
    let buf = '';
    stream.on('data', (c: Buffer) => (buf += c.toString()));
    return { stream, text: () => buf };
  }

  it('plain: one line per state change, and stats', () => {
    const { stream, text } = capture('plain');
    const r = createProgressRenderer({ mode: 'plain', verbs: PUSH_VERBS, stream });
    r.listener({ type: 'start', descriptor: desc });
    r.listener({ type: 'progress', descriptor: desc, bytes: 5 });
    r.listener({ type: 'done', descriptor: desc });
    r.listener({ type: 'skip', descriptor: { ...desc, digest: `sha256:${'c'.repeat(64)}` }, reason: 'exists' });
    r.close();
    expect(text()).toBe(
      `Uploading sha256:aaaaaaaaaaaa file.txt\nUploaded  sha256:aaaaaaaaaaaa file.txt\nExists    sha256:cccccccccccc file.txt\n`,
    );
    expect(r.stats).toMatchObject({ transferred: 1, exists: 1, bytes: 10 });
  });

  it('tty: commits final lines and clears its live region on close', () => {
    const { stream, text } = capture('tty');
    const r = createProgressRenderer({ mode: 'tty', verbs: PUSH_VERBS, stream });
    r.listener({ type: 'start', descriptor: desc });
    r.listener({ type: 'done', descriptor: desc });
    r.close();
    expect(text()).toContain('Uploaded');
    expect(text()).toContain('file.txt');
  });

  it('silent: prints nothing, still counts', () => {
    const r = createProgressRenderer({ mode: 'silent', verbs: PUSH_VERBS });
    r.listener({ type: 'skip', descriptor: desc, reason: 'mounted' });
    expect(r.stats.mounted).toBe(1);
  });
});

describe('lazy command registration', () => {
  const find = (program: Command, name: string): Command | undefined =>
    program.commands.find((c) => c.name() === name || c.aliases().includes(name));
  const helpTree = (c: Command): string[] => [c.helpInformation(), ...c.commands.flatMap(helpTree)];

  it('declares exactly the top-level names and aliases commander registers', async () => {
    const full = await buildProgram();
    const registered = full.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    expect([...declaredCommandNames()].sort()).toEqual([...registered].sort());
  });

  it('a command loaded alone parses and documents exactly as in the full program', async () => {
    const full = await buildProgram();
    for (const name of declaredCommandNames()) {
      const alone = await buildProgram(name);
      const a = find(alone, name);
      const f = find(full, name);
      expect(a, name).toBeDefined();
      expect(helpTree(a!)).toEqual(helpTree(f!));
    }
  });

  it('loads every command for help, flags and unknown words (suggestions need them all)', async () => {
    const count = (await buildProgram()).commands.length;
    for (const first of [undefined, 'help', '--help', 'pus'])
      expect((await buildProgram(first)).commands.length).toBe(count);
    expect((await buildProgram('install')).commands.map((c) => c.name())).toEqual(['install', 'update', 'plan']);
  });
});
