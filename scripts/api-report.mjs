// API report: every public entry point of package.json "exports", each export with its kind and
// declared type, plus "forgotten" types: named types that appear in a public signature but are not
// exported from any entry point (api-extractor's ae-forgotten-export).
//   node scripts/api-report.mjs          → prints the report
//   node scripts/api-report.mjs --write  → writes docs/api-report.txt (checked by test/api-report.test.ts)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPORT_PATH = join(root, 'docs', 'api-report.txt');

/** Entry points: subpath → source file (from package.json exports, dist/x.js → src/x.ts). */
function entryPoints() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return Object.entries(pkg.exports)
    .map(([sub, target]) => ({ sub, js: typeof target === 'string' ? target : target.import }))
    .filter(({ js }) => js.startsWith('./dist/'))
    .map(({ sub, js }) => ({ sub, file: join(root, js.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts')) }));
}

export function buildReport() {
  const entries = entryPoints();
  const program = ts.createProgram(
    entries.map((e) => e.file),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      types: ['node'],
    },
  );
  const checker = program.getTypeChecker();
  const exported = new Set(); // symbols exported from any entry
  const lines = [];
  const publicSymbols = [];
  for (const { sub, file } of entries) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`no source for ${sub}: ${file}`);
    lines.push(`# ${sub === '.' ? 'oras-ts' : `oras-ts/${sub.replace(/^\.\//, '')}`}`);
    const syms = checker
      .getExportsOfModule(checker.getSymbolAtLocation(sf))
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const s of syms) {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      exported.add(target);
      publicSymbols.push(target);
      const decl = target.declarations?.[0];
      const from = decl ? relative(root, decl.getSourceFile().fileName) : '?';
      let kind = 'type';
      if (target.flags & ts.SymbolFlags.Class) kind = 'class';
      else if (target.flags & ts.SymbolFlags.Function) kind = 'function';
      else if (target.flags & ts.SymbolFlags.Variable) kind = 'const';
      else if (target.flags & ts.SymbolFlags.Interface) kind = 'interface';
      else if (target.flags & ts.SymbolFlags.TypeAlias) kind = 'type';
      else if (target.flags & ts.SymbolFlags.Enum) kind = 'enum';
      let sig = '';
      if (kind === 'function' || kind === 'const')
        sig = ': ' + checker.typeToString(checker.getTypeOfSymbol(target), undefined, ts.TypeFormatFlags.NoTruncation);
      lines.push(`${kind} ${s.name}${sig}  (${from})`);
    }
    lines.push('');
  }
  // Forgotten exports: named types reachable from public declarations, declared in src/, not exported.
  const forgotten = new Map();
  const seen = new Set();
  const visitType = (type, via, depth) => {
    if (!type || depth > 4 || seen.has(type)) return;
    seen.add(type);
    const sym = type.aliasSymbol ?? type.getSymbol();
    if (sym) {
      const decl = sym.declarations?.[0];
      const file = decl?.getSourceFile().fileName ?? '';
      const isOurs = file.startsWith(join(root, 'src'));
      const isNamed =
        sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class | ts.SymbolFlags.Enum);
      if (isOurs && isNamed && !exported.has(sym) && !forgotten.has(sym))
        forgotten.set(sym, `${sym.name} (${relative(root, file)}) via ${via}`);
      if (isOurs && isNamed && !exported.has(sym))
        for (const p of checker.getPropertiesOfType(type)) visitType(checker.getTypeOfSymbol(p), via, depth + 1);
    }
    if (type.aliasTypeArguments) for (const t of type.aliasTypeArguments) visitType(t, via, depth + 1);
    if (type.isUnionOrIntersection?.()) for (const t of type.types) visitType(t, via, depth + 1);
    if (type.typeArguments) for (const t of type.typeArguments) visitType(t, via, depth + 1);
    if (checker.isArrayType?.(type)) for (const t of checker.getTypeArguments(type)) visitType(t, via, depth + 1);
    for (const sig of [...type.getCallSignatures(), ...type.getConstructSignatures()]) {
      for (const p of sig.getParameters()) visitType(checker.getTypeOfSymbol(p), via, depth + 1);
      visitType(sig.getReturnType(), via, depth + 1);
    }
    const promised = checker.getPromisedTypeOfPromise?.(type);
    if (promised) visitType(promised, via, depth + 1);
  };
  for (const sym of publicSymbols) {
    const via = sym.name;
    if (sym.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Variable))
      visitType(checker.getTypeOfSymbol(sym), via, 0);
    else if (sym.flags & ts.SymbolFlags.Class) {
      visitType(checker.getTypeOfSymbol(sym), via, 0); // constructor
      const inst = checker.getDeclaredTypeOfSymbol(sym);
      for (const p of checker.getPropertiesOfType(inst)) {
        const d = p.valueDeclaration;
        const mods = d ? ts.getCombinedModifierFlags(d) : 0;
        if (mods & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected) || p.name.startsWith('#')) continue;
        visitType(checker.getTypeOfSymbol(p), `${via}.${p.name}`, 0);
      }
    } else if (sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
      const t = checker.getDeclaredTypeOfSymbol(sym);
      for (const p of checker.getPropertiesOfType(t)) visitType(checker.getTypeOfSymbol(p), `${via}.${p.name}`, 0);
      if (t.isUnion?.()) for (const u of t.types) visitType(u, via, 0);
    }
  }
  const forgottenLines = [...forgotten.values()].sort();
  lines.push('# forgotten (appear in public signatures, not exported)');
  lines.push(...(forgottenLines.length ? forgottenLines : ['(none)']));
  return { text: lines.join('\n') + '\n', forgotten: forgottenLines };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { text } = buildReport();
  if (process.argv.includes('--write')) {
    mkdirSync(dirname(REPORT_PATH), { recursive: true });
    writeFileSync(REPORT_PATH, text);
    console.log(`wrote ${relative(root, REPORT_PATH)}`);
  } else process.stdout.write(text);
}
