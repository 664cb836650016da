import { randomInt } from 'node:crypto';

const issued = new Set<string>();
const RANDOM_SPACE = 36 ** 6;

/**
 * A short name unique per call, `t-<label slug, max 12>-<6 random base36>`, made of `[a-z0-9-]` only:
 * valid as a NATS prefix (`createNaming`) and, with `-` → `_`, inside a database name.
 */
export function uniquePrefix(label: string): string {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 12)
    .replace(/-+$/, '');
  for (;;) {
    const random = randomInt(RANDOM_SPACE).toString(36).padStart(6, '0');
    const prefix = slug === '' ? `t-${random}` : `t-${slug}-${random}`;
    if (!issued.has(prefix)) {
      issued.add(prefix);
      return prefix;
    }
  }
}
