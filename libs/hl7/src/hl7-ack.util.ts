import { formatHl7DateTime } from './hl7-datetime.util.js';
import { DEFAULT_ENCODING, escapeHl7 } from './hl7-escape.util.js';
import type { Hl7Msh } from './hl7-msh.util.js';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';
export type AckMode = 'original' | 'enhanced';
export type AcceptOutcome = 'accepted' | 'store-unavailable' | 'rejected';

/** HL7 table 0357 texts for the codes we emit; other codes get an empty text. */
const TABLE_0357: ReadonlyMap<string, string> = new Map([
  ['0', 'Message accepted'],
  ['100', 'Segment sequence error'],
  ['101', 'Required field missing'],
  ['102', 'Data type error'],
  ['103', 'Table value not found'],
  ['200', 'Unsupported message type'],
  ['201', 'Unsupported event code'],
  ['202', 'Unsupported processing id'],
  ['203', 'Unsupported version id'],
  ['204', 'Unknown key identifier'],
  ['205', 'Duplicate key identifier'],
  ['206', 'Application record locked'],
  ['207', 'Application internal error'],
]);

// Used when the inbound header could not be read (no version to echo).
const FALLBACK_VERSION = '2.5.1';

export interface AckError {
  /** HL7 table 0357, e.g. '207' application internal error, '101' required field missing. */
  hl7ErrorCode: string;
  severity: 'E' | 'W' | 'F';
  /** ERL, e.g. 'MSH^1^10'. */
  location?: string;
  /** Free text for operators. Never PHI. */
  diagnostic?: string;
}

export interface BuildAckInput {
  /** Parsed MSH of the inbound message, or null when it was unreadable. */
  msh: Hl7Msh | null;
  code: AckCode;
  /** MSH-10 of the ACK itself. */
  controlId: string;
  /** MSA-3. Never PHI. */
  textMessage?: string;
  error?: AckError;
  now: Date;
}

/** Enhanced mode when MSH-15 or MSH-16 is set (RELIABILITY.md §6); null (unreadable) → original. */
export function ackModeFor(
  msh: Pick<Hl7Msh, 'acceptAckType' | 'applicationAckType'> | null,
): AckMode {
  if (msh === null) return 'original';
  return msh.acceptAckType.trim() !== '' || msh.applicationAckType.trim() !== ''
    ? 'enhanced'
    : 'original';
}

/** MSA-1 for the accept decision: stored → AA/CA, retry later → AE/CE, never → AR/CR. */
export function acceptCode(mode: AckMode, outcome: AcceptOutcome): AckCode {
  const original = mode === 'original';
  switch (outcome) {
    case 'accepted':
      return original ? 'AA' : 'CA';
    case 'store-unavailable':
      return original ? 'AE' : 'CE';
    case 'rejected':
      return original ? 'AR' : 'CR';
  }
}

// ERR changed shape in v2.5: before it, ERR-1 (ELD) carried location and code together.
function isLegacyErr(version: string): boolean {
  const m = /^2\.(\d+)/.exec(version);
  return m !== null && Number(m[1]) < 5;
}

function errSegment(error: AckError, version: string): string {
  const e = (v: string): string => escapeHl7(v, DEFAULT_ENCODING);
  const code = e(error.hl7ErrorCode);
  const text = e(TABLE_0357.get(error.hl7ErrorCode) ?? '');
  // The location is already ERL-shaped (`SEG^seq^field`), so its '^' are delimiters, not data.
  const location = (error.location ?? '')
    .split('^')
    .map((part) => e(part))
    .join('^');
  if (isLegacyErr(version)) {
    const loc = location.split('^').slice(0, 3);
    while (loc.length < 3) loc.push('');
    return `ERR|${loc.join('^')}^${code}&${text}&HL70357`;
  }
  const fields = [
    'ERR',
    '',
    location,
    `${code}^${text}^HL70357`,
    error.severity,
  ];
  if (error.diagnostic !== undefined && error.diagnostic !== '') {
    fields.push('', '', e(error.diagnostic));
  }
  return fields.join('|');
}

/**
 * Builds an ACK (unframed, CR-separated, standard `^~\&` delimiters). Sender and receiver are swapped,
 * MSA-2 echoes the inbound MSH-10, MSH-11 echoes the inbound processing id (P when unknown). Time is
 * UTC. The result is deterministic for its input, so it can be stored and replayed byte for byte.
 */
export function buildAck(input: BuildAckInput): string {
  const { msh } = input;
  const e = (v: string): string => escapeHl7(v, DEFAULT_ENCODING);
  const version = msh?.version || FALLBACK_VERSION;
  const trigger = msh?.triggerEvent ?? '';
  const header = [
    'MSH',
    '^~\\&',
    msh?.receivingApplication ?? '',
    msh?.receivingFacility ?? '',
    msh?.sendingApplication ?? '',
    msh?.sendingFacility ?? '',
    formatHl7DateTime(input.now),
    '',
    trigger === '' ? 'ACK' : `ACK^${e(trigger)}^ACK`,
    e(input.controlId),
    e(msh?.processingId || 'P'),
    e(version),
  ].join('|');
  const msa = ['MSA', input.code, e(msh?.controlId ?? '')];
  if (input.textMessage !== undefined && input.textMessage !== '')
    msa.push(e(input.textMessage));
  const segments = [header, msa.join('|')];
  if (input.error !== undefined)
    segments.push(errSegment(input.error, version));
  return segments.join('\r');
}
