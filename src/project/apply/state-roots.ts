import { posix } from 'node:path';
import type { InstalledFile, Lockfile } from '../types.js';
import { withinRoot } from './state.js';

/*
 * The roots recorded with the install state: the directory each dependency installs into, and
 * per dependency the directories its recorded files lie under (a record outside all of them is
 * dropped when the state is read, so it is never removed).
 */

/**
 * The roots to record per dependency: for each recorded file, the first of
 * its dependency's current root and previously recorded roots that contains
 * it. A root no recorded file lies under is forgotten; a file under none of
 * them gets no root (its record is dropped on the next read, so it is never
 * removed).
 */
export function recordRoots(
  files: Record<string, InstalledFile>,
  current: Record<string, string>,
  previous: Record<string, string[]>,
): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  const candidatesOf = new Map<string, string[]>(); // per dependency, not per file
  for (const path in files) {
    const dep = files[path]!.dependency;
    let candidates = candidatesOf.get(dep);
    if (candidates === undefined) {
      const cur = current[dep];
      candidates = cur !== undefined ? [cur, ...(previous[dep] ?? [])] : (previous[dep] ?? []);
      candidatesOf.set(dep, candidates);
    }
    const root = candidates.find((r) => withinRoot(path, r));
    if (root !== undefined) (out[dep] ??= new Set()).add(root);
  }
  return Object.fromEntries(Object.entries(out).map(([dep, set]) => [dep, [...set].sort()]));
}

/** The install directory of every locked dependency (normalized `specifier.path`, `''` for the project root). */
export function dependencyRoots(lock: Lockfile): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, dep] of Object.entries(lock.dependencies)) {
    const p = posix.normalize(dep.specifier.path).replace(/\/+$/, '');
    out[name] = p === '.' ? '' : p;
  }
  return out;
}
