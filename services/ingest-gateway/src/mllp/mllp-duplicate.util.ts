import { createHash } from 'node:crypto';

import type { AckCode, Hl7Msh } from '@lifeline/hl7';

/** What the gateway remembers per (MSH-3, MSH-4, MSH-10): the content hash and the ACK it sent. */
export interface StoredAck {
  /** SHA-256 (hex) of the normalized message, see `normalizedSha256`. */
  sha256: string;
  /** The unframed ACK exactly as first written, replayed byte for byte on a resend. */
  ack: string;
  code: AckCode;
  /**
   * 'pending': written before the message was published (its ACK is the one it will get once stored);
   * 'stored': the INGEST PubAck arrived. Records written before this field existed are stored ones.
   */
  state?: 'pending' | 'stored';
}

/** What a create-only write of the register found: our record is in, or an earlier one is held. */
export type AckClaim =
  | { kind: 'created'; revision: number }
  | { kind: 'held'; stored: StoredAck; revision: number };

export type DuplicateVerdict =
  | { kind: 'new' }
  | { kind: 'resend'; stored: StoredAck }
  | { kind: 'conflict'; stored: StoredAck };

/**
 * KV key of a message: SHA-256 over MSH-3, MSH-4 and MSH-10. Hashed because KV keys only allow
 * `[-/_=.a-zA-Z0-9]` and because the raw values must not appear in the broker's subject space.
 */
export function duplicateKey(
  msh: Pick<Hl7Msh, 'sendingApplication' | 'sendingFacility' | 'controlId'>,
): string {
  // NUL cannot occur in an HL7 field, so the tuple's encoding is unambiguous.
  return createHash('sha256')
    .update(
      `${msh.sendingApplication}\u0000${msh.sendingFacility}\u0000${msh.controlId}`,
    )
    .digest('hex');
}

/**
 * SHA-256 of the message with segment separators normalized (CR, LF or CRLF → CR, trailing empty
 * segments dropped): a sender that resends with CRLF resends the same message (RELIABILITY.md §6).
 */
export function normalizedSha256(payload: Buffer | string): string {
  const text = typeof payload === 'string' ? payload : payload.toString('latin1');
  const segments = text.split(/\r\n|\r|\n/);
  while (segments.length > 0 && segments[segments.length - 1] === '')
    segments.pop();
  return createHash('sha256').update(segments.join('\r'), 'latin1').digest('hex');
}

/** A record whose message may not be in INGEST yet: a resend must store it again before replaying. */
export function isPending(stored: StoredAck): boolean {
  return stored.state === 'pending';
}

/** Same hash → a resend (replay the stored ACK); other hash → the sender reused a control id. */
export function classifyResend(
  stored: StoredAck | null,
  sha256: string,
): DuplicateVerdict {
  if (stored === null) return { kind: 'new' };
  return stored.sha256 === sha256
    ? { kind: 'resend', stored }
    : { kind: 'conflict', stored };
}
