import { OrasError } from '../errors.js';
import { parseReference, validateTag } from '../oci/reference.js';
import { repositoryOf } from './spec/dependency-ref.js';
import type { PublishSpec } from './types.js';

/**
 * The order in which `oras publish` pushes publishables: a publishable whose
 * `subject` is another publishable of the same project comes after it, so the
 * subject's digest is known (from this run's plan, also with `--dry-run`)
 * instead of being looked up in a registry that does not have it yet.
 *
 * A `subject` names a publishable of the project when it is `registry/repo:tag`
 * with the repository of that publishable's `ref` and one of its tags (a
 * subject by digest always names registry content). Publishables without an
 * in-project subject keep their alphabetical order.
 */

/** Tags of a publishable: `tags`, else the tag in `ref`, else `latest`. Validated. */
export function publishTags(spec: PublishSpec): string[] {
  const ref = parseReference(spec.ref);
  const tags = spec.tags !== undefined && spec.tags.length > 0 ? spec.tags : [ref.tag ?? 'latest'];
  return [...new Set(tags.map(validateTag))];
}

/** The publishable (other than `self`) whose repository and tags the reference `subject` names, if any. */
export function subjectPublishable(
  publish: Record<string, PublishSpec>,
  self: string,
  subject: string,
): string | undefined {
  const s = parseReference(subject);
  if (s.digest !== undefined || s.tag === undefined) return undefined;
  const repo = repositoryOf(s);
  for (const name of Object.keys(publish).sort()) {
    if (name === self) continue;
    const spec = publish[name]!;
    if (repositoryOf(parseReference(spec.ref)) === repo && publishTags(spec).includes(s.tag)) return name;
  }
  return undefined;
}

/** The result of {@link publishOrder}. */
export interface PublishOrder {
  /** The selected names, every in-project subject before the publishables attached to it. */
  order: string[];
  /** For every publishable whose `subject` is another publishable of the project: that publishable's name. */
  subjectOf: Map<string, string>;
}

/**
 * Orders the selected publishables topologically by in-project `subject`
 * (ties alphabetical). A publishable attached to itself, or a cycle
 * (`a` → `b` → `a`), fails with `ERR_ORAS_CYCLE` naming every publishable in
 * it and its `publish.<name>.subject` field. A subject publishable that is
 * not selected is left to the registry (it must have been published before).
 */
export function publishOrder(publish: Record<string, PublishSpec>, selected: readonly string[]): PublishOrder {
  const subjectOf = new Map<string, string>();
  for (const name of Object.keys(publish)) {
    const subject = publish[name]!.subject;
    if (subject === undefined) continue;
    const self = parseReference(subject);
    const spec = publish[name]!;
    if (
      self.digest === undefined &&
      self.tag !== undefined &&
      repositoryOf(self) === repositoryOf(parseReference(spec.ref)) &&
      publishTags(spec).includes(self.tag)
    ) {
      throw new OrasError(
        'ERR_ORAS_CYCLE',
        `publish.${name}.subject: ${subject} is the publishable's own ref and tag (a manifest cannot be its own subject)`,
        {
          hint: `point publish.${name}.subject at another artifact`,
          details: { cycle: [name], field: `publish.${name}.subject` },
        },
      );
    }
    const target = subjectPublishable(publish, name, subject);
    if (target !== undefined) subjectOf.set(name, target);
  }
  // Cycles anywhere in the project (not only among the selected) would make the graph meaningless.
  for (const start of [...subjectOf.keys()].sort()) {
    const path = [start];
    for (let cur = subjectOf.get(start); cur !== undefined; cur = subjectOf.get(cur)) {
      if (cur === start) {
        const fields = path.map((n) => `publish.${n}.subject`);
        throw new OrasError(
          'ERR_ORAS_CYCLE',
          `publishables ${path.join(' → ')} → ${start} form a subject cycle (${fields.join(', ')})`,
          {
            hint: 'a manifest can only be attached to one that exists first: remove one of these subject fields',
            details: { cycle: path, fields },
          },
        );
      }
      if (path.includes(cur) || path.length > Object.keys(publish).length) break;
      path.push(cur);
    }
  }
  const chosen = new Set(selected);
  const order: string[] = [];
  const placed = new Set<string>();
  const place = (name: string): void => {
    if (placed.has(name)) return;
    const dep = subjectOf.get(name);
    if (dep !== undefined && chosen.has(dep)) place(dep);
    placed.add(name);
    order.push(name);
  };
  for (const name of [...selected].sort()) place(name);
  return { order, subjectOf };
}
