/**
 * One prefix function for stream, durable and subject names, so several test files (or several meshes)
 * share one nats-server without seeing each other's messages. Production uses the empty prefix.
 */
export interface Naming {
  readonly prefix: string;
  subject(subject: string): string;
  /** Strips the prefix from a received subject; returns the subject unchanged when it has none. */
  unprefix(subject: string): string;
  stream(name: string): string;
  durable(name: string): string;
  kvBucket(name: string): string;
}

const PREFIX_PATTERN = /^[a-z0-9_-]*$/;

export function createNaming(prefix = ''): Naming {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new Error(`invalid NATS prefix "${prefix}": use lower-case letters, digits, - and _`);
  }
  const dot = prefix === '' ? '' : `${prefix}.`;
  const upper = prefix === '' ? '' : `${prefix.toUpperCase().replace(/-/g, '_')}_`;
  return {
    prefix,
    subject: (s) => `${dot}${s}`,
    unprefix: (s) => (dot !== '' && s.startsWith(dot) ? s.slice(dot.length) : s),
    stream: (n) => `${upper}${n}`,
    durable: (n) => (prefix === '' ? n : `${prefix}-${n}`),
    kvBucket: (n) => `${upper}${n}`,
  };
}
