import { describe, expect, it } from 'vitest';
import { renderGoTemplate } from '../../src/cli/go-template.js';
import { goFloat } from '../../src/cli/go-template-values.js';

// Expected outputs are what Go's text/template (+ sprig, as oras 1.3 registers it) prints for
// the same template over the JSON document decoded into map[string]any (numbers are float64).
const push = {
  reference: 'localhost:5000/hello@sha256:aaa',
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: 'sha256:aaa',
  size: 559,
  annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z', b: 'x' },
  artifactType: 'application/vnd.example',
  referenceAsTags: ['localhost:5000/hello:v1', 'localhost:5000/hello:latest'],
  files: [
    { path: '/abs/a.txt', size: 3 },
    { path: '/abs/b.txt', size: 1234567 },
  ],
  empty: [],
  flag: false,
};

const cases: [string, string, unknown, string][] = [
  ['field', '{{.digest}}', push, 'sha256:aaa'],
  ['text around', 'digest={{.digest}}\n', push, 'digest=sha256:aaa\n'],
  ['nested', '{{.files}}', { files: { a: { b: 'deep' } } }, 'map[a:map[b:deep]]'],
  ['nested path', '{{.x.y.z}}', { x: { y: { z: 'deep' } } }, 'deep'],
  ['number', '{{.size}}', push, '559'],
  ['large number is %v of float64', '{{(index .files 1).size}}', push, '1.234567e+06'],
  ['missing key', '{{.nope}}', push, '<no value>'],
  ['index map', '{{index .annotations "org.opencontainers.image.created"}}', push, '2026-01-01T00:00:00Z'],
  ['index array', '{{index .referenceAsTags 0}}', push, 'localhost:5000/hello:v1'],
  ['range', '{{range .referenceAsTags}}{{.}}\n{{end}}', push, 'localhost:5000/hello:v1\nlocalhost:5000/hello:latest\n'],
  ['range with vars', '{{range $i, $f := .files}}{{$i}}={{$f.path}};{{end}}', push, '0=/abs/a.txt;1=/abs/b.txt;'],
  ['range map sorted', '{{range $k, $v := .annotations}}{{$k}} {{end}}', push, 'b org.opencontainers.image.created '],
  ['range else', '{{range .empty}}x{{else}}none{{end}}', push, 'none'],
  ['if else', '{{if .flag}}yes{{else}}no{{end}}', push, 'no'],
  ['else if', '{{if .flag}}a{{else if .artifactType}}b{{else}}c{{end}}', push, 'b'],
  ['with', '{{with .annotations}}{{.b}}{{end}}', push, 'x'],
  ['trim markers', 'a  {{- .size -}}  \n b', push, 'a559b'],
  ['comment', 'a{{/* note */}}b', push, 'ab'],
  ['toJson', '{{toJson .referenceAsTags}}', push, '["localhost:5000/hello:v1","localhost:5000/hello:latest"]'],
  [
    'toJson pipe',
    '{{.annotations | toJson}}',
    push,
    '{"org.opencontainers.image.created":"2026-01-01T00:00:00Z","b":"x"}',
  ],
  ['printf', '{{printf "%s (%v bytes)" .digest .size}}', push, 'sha256:aaa (559 bytes)'],
  ['printf pipe', '{{.digest | printf "%q"}}', push, '"sha256:aaa"'],
  ['len', '{{len .files}}', push, '2'],
  ['eq', '{{if eq .mediaType "application/vnd.oci.image.manifest.v1+json"}}manifest{{end}}', push, 'manifest'],
  ['and/not', '{{if and .size (not .flag)}}ok{{end}}', push, 'ok'],
  ['join', '{{join "," .referenceAsTags}}', push, 'localhost:5000/hello:v1,localhost:5000/hello:latest'],
  ['variable', '{{$d := .digest}}{{$d}}', push, 'sha256:aaa'],
  ['dollar root in range', '{{range .files}}{{$.digest}}{{end}}', push, 'sha256:aaasha256:aaa'],
  ['array print', '{{.referenceAsTags}}', push, '[localhost:5000/hello:v1 localhost:5000/hello:latest]'],
  ['bool print', '{{.flag}}', push, 'false'],
  ['raw string', '{{index .annotations `b`}}', push, 'x'],
  ['parenthesised field', '{{(index .files 0).path}}', push, '/abs/a.txt'],
  ['upper', '{{.digest | upper}}', push, 'SHA256:AAA'],
];

describe('go-template', () => {
  it.each(cases)('%s', (_name, template, data, expected) => {
    expect(renderGoTemplate(template, data)).toBe(expected);
  });

  it.each([
    ['unknown function', '{{json .}}', /function "json" not defined/],
    ['define', '{{define "x"}}{{end}}', /not supported/],
    ['template call', '{{template "x"}}', /not supported/],
    ['unclosed action', '{{.digest', /unclosed action/],
    ['missing end', '{{if .flag}}x', /missing \{\{end\}\}/],
    ['stray end', '{{end}}', /unexpected \{\{end\}\}/],
    ['field of missing', '{{.nope.deeper}}', /nil pointer/],
    ['bad token', '{{.digest ! }}', /unexpected/],
  ])('rejects %s with ERR_ORAS_USAGE', (_name, template, message) => {
    let err: unknown;
    try {
      renderGoTemplate(template, push);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_ORAS_USAGE' });
    expect(String((err as Error).message)).toMatch(message);
  });

  it.each([
    [0, '0'],
    [12, '12'],
    [999999, '999999'],
    [1000000, '1e+06'],
    [1234567, '1.234567e+06'],
    [0.5, '0.5'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [-3, '-3'],
    [1.5e21, '1.5e+21'],
  ])('goFloat(%s) prints like Go', (n, s) => {
    expect(goFloat(n)).toBe(s);
  });
});
