import type { AppError } from '@lifeline/errors';

import { hl7Error } from './hl7.errors.js';
import type { Hl7ErrorCode } from './hl7.errors.js';
import { unescapeHl7 } from './hl7-escape.util.js';
import type { Hl7EncodingCharacters } from './hl7-escape.util.js';

const BOM = '\uFEFF';
// Wire HL7 uses CR; files and some senders use LF or CRLF (RELIABILITY.md §6).
const SEGMENT_SEPARATOR = /\r\n|\r|\n/;
// Delimiters are printable ASCII punctuation; letters, digits, spaces and controls are refused.
const DELIMITER_OK = /^[\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]$/;

/** One segment. Field numbers are HL7's: for MSH, field 1 is the field separator, field 2 MSH-2. */
export class Hl7Segment {
  readonly name: string;

  constructor(
    // Raw (still escaped) field text; index = HL7 field number, [0] = segment name.
    private readonly fields: readonly string[],
    private readonly enc: Hl7EncodingCharacters,
  ) {
    this.name = fields[0] ?? '';
  }

  /** Highest field number present. */
  get fieldCount(): number {
    return this.fields.length - 1;
  }

  /** Raw encoded text of field `n` (delimiters and escapes intact); '' when absent. */
  raw(n: number): string {
    if (!Number.isInteger(n) || n < 1) return '';
    return this.fields[n] ?? '';
  }

  /** MSH-1 and MSH-2 hold delimiters, so they are never split or unescaped. */
  private isDelimiterField(n: number): boolean {
    return this.name === 'MSH' && (n === 1 || n === 2);
  }

  /** Number of repetitions of field `n` (0 when empty). */
  repetitionCount(n: number): number {
    const raw = this.raw(n);
    if (raw === '') return 0;
    return this.isDelimiterField(n) ? 1 : raw.split(this.enc.repetition).length;
  }

  /** Repetition `rep` (1-based) of field `n` as unescaped components × subcomponents. */
  parts(n: number, rep = 1): string[][] {
    const raw = this.raw(n);
    if (this.isDelimiterField(n)) return rep === 1 && raw !== '' ? [[raw]] : [];
    const repetition = raw.split(this.enc.repetition)[rep - 1];
    if (repetition === undefined || repetition === '') return [];
    return repetition
      .split(this.enc.component)
      .map((c) =>
        c.split(this.enc.subcomponent).map((s) => unescapeHl7(s, this.enc)),
      );
  }

  /** Unescaped leaf value of field `n`, 1-based repetition, component, subcomponent; '' when absent. */
  value(n: number, rep = 1, comp = 1, sub = 1): string {
    return this.parts(n, rep)[comp - 1]?.[sub - 1] ?? '';
  }
}

/** A parsed HL7 v2 message: segments in order, plus a name index. */
export class Hl7Message {
  // Map, not an object: segment names come from the wire (`__proto__`, `constructor`, ...).
  private readonly byName = new Map<string, Hl7Segment[]>();

  constructor(
    readonly encoding: Hl7EncodingCharacters,
    readonly segments: readonly Hl7Segment[],
  ) {
    for (const seg of segments) {
      const list = this.byName.get(seg.name);
      if (list === undefined) this.byName.set(seg.name, [seg]);
      else list.push(seg);
    }
  }

  /** First segment with this name. */
  get(name: string): Hl7Segment | undefined {
    return this.byName.get(name)?.[0];
  }

  getAll(name: string): readonly Hl7Segment[] {
    return this.byName.get(name) ?? [];
  }

  /**
   * Unescaped leaf value with HL7 numbering (`field('MSH', 10)` is MSH-10, `field(pid, 3, 1, 4, 1)` is
   * PID-3.4.1 of the first repetition). A segment name means its first occurrence. '' when absent.
   */
  field(
    seg: Hl7Segment | string,
    n: number,
    rep = 1,
    comp = 1,
    sub = 1,
  ): string {
    const segment = typeof seg === 'string' ? this.get(seg) : seg;
    return segment?.value(n, rep, comp, sub) ?? '';
  }
}

function invalidHeader(field: string, detail: string): AppError<Hl7ErrorCode> {
  return hl7Error({
    code: 'HL7_MSH_INVALID',
    detail: `${field} ${detail}`,
    details: { field },
  });
}

function readEncoding(msh: string): Hl7EncodingCharacters {
  const field = msh.charAt(3);
  if (!DELIMITER_OK.test(field))
    throw invalidHeader('MSH-1', 'is not a valid field separator');
  const end = msh.indexOf(field, 4);
  const chars = [...msh.slice(4, end < 0 ? msh.length : end)];
  const distinct = new Set([field, ...chars]).size === chars.length + 1;
  if (
    chars.length < 4 ||
    chars.length > 5 ||
    !distinct ||
    !chars.every((c) => DELIMITER_OK.test(c))
  ) {
    throw invalidHeader(
      'MSH-2',
      'does not hold 4 or 5 distinct encoding characters',
    );
  }
  const [
    component = '^',
    repetition = '~',
    escape = '\\',
    subcomponent = '&',
    truncation,
  ] = chars;
  return {
    field,
    component,
    repetition,
    escape,
    subcomponent,
    ...(truncation ? { truncation } : {}),
  };
}

function toSegment(line: string, enc: Hl7EncodingCharacters): Hl7Segment {
  const parts = line.split(enc.field);
  // MSH-1 is the separator itself, so MSH's split parts are shifted by one against HL7 numbering.
  const fields =
    parts[0] === 'MSH' ? ['MSH', enc.field, ...parts.slice(1)] : parts;
  return new Hl7Segment(fields, enc);
}

/**
 * Parses one HL7 v2 message. Accepts a UTF-8 BOM, CR / LF / CRLF separators and blank lines; reads the
 * delimiters from MSH-1/MSH-2. Throws only `AppError` `HL7_MSH_INVALID` (no MSH first, bad MSH-1/2).
 * Buffers are decoded as UTF-8.
 */
export function parseHl7(text: string | Buffer): Hl7Message {
  const decoded = typeof text === 'string' ? text : text.toString('utf8');
  const body = decoded.startsWith(BOM) ? decoded.slice(1) : decoded;
  const lines = body.split(SEGMENT_SEPARATOR).filter((l) => l.trim() !== '');
  const first = lines[0];
  if (first === undefined || !first.startsWith('MSH')) {
    throw invalidHeader('MSH', 'segment is not the first segment');
  }
  const enc = readEncoding(first);
  return new Hl7Message(
    enc,
    lines.map((l) => toSegment(l, enc)),
  );
}
