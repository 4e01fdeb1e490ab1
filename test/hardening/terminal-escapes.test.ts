/**
 * Issue 12 item 4: strings from a registry or an artifact (layer titles, tag names, registry
 * error messages) reach the terminal escaped in text mode (`\x1b`, never a raw ESC/BEL/CSI/OSC
 * or bidi override), and exact in JSON. The CLI runs as a child process from a private build
 * against a test-owned hostile registry. Also the escape helper itself, and the CLI's pull
 * flags of issue 12 (--allow-vcs-paths, --max-artifact-size, --timeout).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeTerminal, escapeTerminalText } from '../../src/cli/render/escape.js';
import { clientTimeouts, maxArtifactBytes } from '../../src/cli/transfer-limits.js';
import { startHostileRegistry, type HostileRegistry } from '../harness/hostile-registry.js';
import { privateBuild, removePrivateBuild } from './private-build.js';

// OSC 52 (write the clipboard), CSI erase line + cursor up, OSC 0 (window title), C1 CSI, bidi override, BEL, CR.
const EVIL = 'a\x1b]52;c;cHduZWQ=\x07\x1b[2K\x1b[1A\x1b]0;owned\x07\u009b31m\u202etxt.exe\rz';
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('escapeTerminal', () => {
  it('makes every control visible and leaves plain text alone', () => {
    expect(escapeTerminal('plain name.txt')).toBe('plain name.txt');
    const e = escapeTerminal(EVIL);
    expect(RAW.test(e)).toBe(false);
    expect(e).toContain('\\x1b]52;c;');
    expect(e).toContain('\\x9b');
    expect(e).toContain('\\u{202e}');
    expect(escapeTerminal('a\nb\tc')).toBe('a\\x0ab\\x09c');
    expect(escapeTerminalText('line1\nline2\t\x1b[31m')).toBe('line1\nline2\t\\x1b[31m');
  });
});

describe('transfer limits: flag > environment > oras.yaml', () => {
  const cfg = {
    timeouts: { request: 30, speedLimit: 10, speedTime: 20 },
    limits: { maxArtifactBytes: 1000 },
  } as unknown as Parameters<typeof clientTimeouts>[1];
  it('resolves in order and converts seconds to ms', () => {
    expect(clientTimeouts({}, cfg, {})).toEqual({ request: 30_000, speedLimit: 10, speedTime: 20_000 });
    expect(clientTimeouts({}, cfg, { ORAS_TIMEOUT: '5' })).toMatchObject({ request: 5000 });
    expect(clientTimeouts({ timeout: '0' }, cfg, { ORAS_TIMEOUT: '5' })).toMatchObject({ request: 0 });
    expect(maxArtifactBytes(undefined, cfg, {})).toBe(1000);
    expect(maxArtifactBytes(undefined, cfg, { ORAS_MAX_ARTIFACT_SIZE: '2k' })).toBe(2048);
    expect(maxArtifactBytes('1G', cfg, { ORAS_MAX_ARTIFACT_SIZE: '2k' })).toBe(1024 ** 3);
    expect(() => clientTimeouts({ timeout: 'soon' }, cfg, {})).toThrow(/--timeout/);
  });
});

describe('CLI text output escapes registry strings; JSON stays exact', () => {
  let reg: HostileRegistry;
  let pkg: string | undefined;
  let tmp: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'oras-r2-esc-'));
    reg = await startHostileRegistry();
    reg.addArtifact([{ data: Buffer.from('payload'), title: `evil${EVIL}.txt` }], 'v1');
    reg.addArtifact([{ data: Buffer.from('hook'), title: '.git/hooks/pre-commit' }], 'hooks');
    reg.addArtifact([{ data: Buffer.from('tiny'), title: 'big.bin', descriptor: { size: 5000 } }], 'big');
    pkg = await privateBuild('escapes');
  }, 300_000);
  afterAll(async () => {
    await removePrivateBuild(pkg);
    await reg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  async function cli(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [join(pkg as string, 'dist', 'cli', 'main.js'), ...args], {
      cwd: tmp,
      env: { PATH: process.env['PATH'] ?? '', HOME: tmp, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stdout, stderr };
  }

  it('pull: a layer title with OSC 52 / CSI / bidi sequences is printed escaped (text), exact (JSON)', async () => {
    const text = await cli(['pull', `${reg.host}/hostile/app:v1`, '-o', join(tmp, 'o1'), '--plain-http', '-v']);
    expect(text.code, text.stderr).toBe(0);
    expect(RAW.test(text.stdout + text.stderr), JSON.stringify(text.stdout + text.stderr)).toBe(false);
    expect(text.stdout + text.stderr).toContain('\\x1b]52;c;');
    const json = await cli([
      'pull',
      `${reg.host}/hostile/app:v1`,
      '-o',
      join(tmp, 'o2'),
      '--plain-http',
      '--format',
      'json',
    ]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(json.stdout))).toContain(JSON.stringify(`evil${EVIL}.txt`).slice(1, -1));
  });

  it('a registry error message with escape sequences: escaped in text, exact in JSON', async () => {
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'manifest' || route.reference !== 'gone') return false;
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: `not here${EVIL}` }] }));
      return true;
    };
    const text = await cli(['manifest', 'fetch', `${reg.host}/hostile/app:gone`, '--plain-http']);
    expect(text.code).not.toBe(0);
    expect(RAW.test(text.stdout + text.stderr), JSON.stringify(text.stderr)).toBe(false);
    expect(text.stderr).toContain('\\x1b[2K');
    const json = await cli(['manifest', 'fetch', `${reg.host}/hostile/app:gone`, '--plain-http', '--format', 'json']);
    expect(json.stderr).toContain('\\u001b[2K'); // JSON's own escaping: the exact string survives JSON.parse
    expect(String(JSON.parse(json.stderr.trim().split('\n')[0] as string).error.message)).toContain('\x1b[2K');
    reg.intercept = undefined;
  });

  it('tag names with escape sequences are printed escaped', async () => {
    reg.intercept = (_req, res, route) => {
      if (route.kind !== 'tags') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name: 'hostile/app', tags: ['v1', `x${EVIL}`] }));
      return true;
    };
    const text = await cli(['repo', 'tags', `${reg.host}/hostile/app`, '--plain-http']);
    reg.intercept = undefined;
    expect(RAW.test(text.stdout + text.stderr), JSON.stringify(text.stdout + text.stderr)).toBe(false);
  });

  it('pull refuses .git/ titles unless --allow-vcs-paths', async () => {
    const out = join(tmp, 'o3');
    const refused = await cli(['pull', `${reg.host}/hostile/app:hooks`, '-o', out, '--plain-http']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/version-control metadata[\s\S]*--allow-vcs-paths/);
    const allowed = await cli([
      'pull',
      `${reg.host}/hostile/app:hooks`,
      '-o',
      out,
      '--plain-http',
      '--allow-vcs-paths',
    ]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await readdir(join(out, '.git', 'hooks'))).toEqual(['pre-commit']);
  });

  it('--max-artifact-size and ORAS_MAX_ARTIFACT_SIZE cap the declared size before anything is written', async () => {
    const a = await cli([
      'pull',
      `${reg.host}/hostile/app:big`,
      '-o',
      join(tmp, 'o4'),
      '--plain-http',
      '--max-artifact-size',
      '1k',
      '--format',
      'json',
    ]);
    expect(JSON.parse(a.stderr.trim()).error.code).toBe('ERR_ORAS_LIMIT_EXCEEDED');
    const b = await cli(
      ['pull', `${reg.host}/hostile/app:big`, '-o', join(tmp, 'o5'), '--plain-http', '--format', 'json'],
      { ORAS_MAX_ARTIFACT_SIZE: '1000' },
    );
    expect(JSON.parse(b.stderr.trim()).error.code).toBe('ERR_ORAS_LIMIT_EXCEEDED');
  });
});
