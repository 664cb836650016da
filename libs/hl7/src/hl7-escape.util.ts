/** Delimiters of one message, read from MSH-1 and MSH-2. */
export interface Hl7EncodingCharacters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+ truncation character (5th char of MSH-2), when present. */
  truncation?: string;
}

export const DEFAULT_ENCODING: Readonly<Hl7EncodingCharacters> = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
});

const HEX = /^(?:[0-9A-Fa-f]{2})+$/;

function decodeSequence(
  body: string,
  enc: Hl7EncodingCharacters,
): string | undefined {
  switch (body) {
    case 'F':
      return enc.field;
    case 'S':
      return enc.component;
    case 'T':
      return enc.subcomponent;
    case 'R':
      return enc.repetition;
    case 'E':
      return enc.escape;
    case 'P':
      return enc.truncation;
    // Highlighting on/off carries no data.
    case 'H':
    case 'N':
      return '';
    case '.br':
      return '\n';
    default:
      if (body.startsWith('X') && HEX.test(body.slice(1))) {
        return Buffer.from(body.slice(1), 'hex').toString('utf8');
      }
      return undefined;
  }
}

/**
 * Decodes HL7 escape sequences (\F\ \S\ \T\ \R\ \E\, \Xhh\, \.br\) in one leaf value.
 * Unknown or unterminated sequences are kept literally rather than guessed at.
 */
export function unescapeHl7(value: string, enc: Hl7EncodingCharacters): string {
  const esc = enc.escape;
  if (esc === '' || !value.includes(esc)) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const start = value.indexOf(esc, i);
    if (start < 0) break;
    const end = value.indexOf(esc, start + 1);
    if (end < 0) break;
    const decoded = decodeSequence(value.slice(start + 1, end), enc);
    if (decoded === undefined) {
      // Keep the opening escape char literally and rescan from the closing one, which may open a sequence.
      out += value.slice(i, end);
      i = end;
      continue;
    }
    out += value.slice(i, start) + decoded;
    i = end + 1;
  }
  return out + value.slice(i);
}

/**
 * Encodes a plain value for one leaf (component or subcomponent). Line breaks become spaces: a raw CR
 * would end the segment and no receiver agrees on \X0D\.
 */
export function escapeHl7(
  value: string,
  enc: Hl7EncodingCharacters = DEFAULT_ENCODING,
): string {
  let out = '';
  for (const ch of value) {
    if (ch === enc.escape) out += `${enc.escape}E${enc.escape}`;
    else if (ch === enc.field) out += `${enc.escape}F${enc.escape}`;
    else if (ch === enc.component) out += `${enc.escape}S${enc.escape}`;
    else if (ch === enc.repetition) out += `${enc.escape}R${enc.escape}`;
    else if (ch === enc.subcomponent) out += `${enc.escape}T${enc.escape}`;
    else if (ch === '\r' || ch === '\n') out += ' ';
    else out += ch;
  }
  return out;
}
