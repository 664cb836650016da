import { validatePayload } from '@lifeline/contracts';
import type {
  OrderCancelRequestedV1,
  OrderPlacedV1,
  Priority,
  ResultReceivedV1,
  SUBJECTS,
} from '@lifeline/contracts';
import type { Hl7Message, Hl7Segment } from '@lifeline/hl7';

import { refuse } from './hl7-mapping.errors.js';
import type { MappingRefusal } from './hl7-mapping.errors.js';
import { patientKey } from './patient-key.util.js';

export interface MappingContext {
  /** Id of the raw INGEST record the message came from (traceability, not idempotency). */
  sourceMessageId: string;
  patientKeySecret: string;
}

interface EventMeta {
  idempotencyKey: string;
  /** Same value as `data.patient.key`, for the envelope header. */
  patientKey: string;
  priority: Priority;
}

export type OrderPlacedEvent = EventMeta & {
  type: typeof SUBJECTS.clinical.orderPlaced;
  data: OrderPlacedV1;
};
export type OrderCancelRequestedEvent = EventMeta & {
  type: typeof SUBJECTS.clinical.orderCancelRequested;
  data: OrderCancelRequestedV1;
};
export type ResultReceivedEvent = EventMeta & {
  type: typeof SUBJECTS.clinical.resultReceived;
  data: ResultReceivedV1;
};
export type MappedEvent =
  OrderPlacedEvent | OrderCancelRequestedEvent | ResultReceivedEvent;

export type MappingOutcome =
  { kind: 'events'; events: MappedEvent[] } | MappingRefusal;

type PatientRef = OrderPlacedV1['patient'];
type CodedConcept = OrderPlacedV1['tests'][number];

export function isRefusal(value: unknown): value is MappingRefusal {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'refused'
  );
}

/** Trimmed value, or undefined when blank (HL7 has no null; empty means absent). */
export function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim() ?? '';
  return trimmed === '' ? undefined : trimmed;
}

/** CE/CWE field as a coded concept; falls back to the alternate triplet (.4/.5/.6) when .1 is empty. */
export function codedConcept(
  seg: Hl7Segment,
  n: number,
): CodedConcept | undefined {
  const primary = nonEmpty(seg.value(n, 1, 1));
  const offset = primary === undefined ? 3 : 0;
  const code = primary ?? nonEmpty(seg.value(n, 1, 4));
  if (code === undefined) return undefined;
  return {
    code,
    text: nonEmpty(seg.value(n, 1, 2 + offset)),
    system: nonEmpty(seg.value(n, 1, 3 + offset)),
  };
}

/** `${MSH-3.1}^${MSH-4.1}`. */
export function sourceSystemOf(msg: Hl7Message): string {
  return `${msg.field('MSH', 3, 1, 1).trim()}^${msg.field('MSH', 4, 1, 1).trim()}`;
}

/** Patient from the first PID: PID-3.1 and PID-3.4.1 of the first repetition, plus the keyed hash. */
export function readPatient(
  msg: Hl7Message,
  secret: string,
): PatientRef | MappingRefusal {
  const pid = msg.get('PID');
  const identifier =
    pid === undefined ? undefined : nonEmpty(pid.value(3, 1, 1));
  if (pid === undefined || identifier === undefined)
    return refuse('HL7_REQUIRED_FIELD_MISSING', 'PID-3');
  const assigningAuthority = nonEmpty(pid.value(3, 1, 4, 1));
  return {
    key: patientKey({ secret, identifier, assigningAuthority }),
    identifier,
    assigningAuthority,
  };
}

export interface Placer {
  number?: string;
  namespace?: string;
}

/** Placer order number (EI.1) and namespace (EI.2), each from `primary` first, then `secondary`. */
export function placerOf(
  primary: Hl7Segment | undefined,
  secondary: Hl7Segment | undefined,
): Placer {
  const pick = (comp: number): string | undefined =>
    nonEmpty(primary?.value(2, 1, comp)) ??
    nonEmpty(secondary?.value(2, 1, comp));
  return { number: pick(1), namespace: pick(2) };
}

/** The business id shared by an order and its results. */
export function orderIdOf(placer: {
  number: string;
  namespace?: string;
}): string {
  return `${placer.namespace ?? 'UNSPECIFIED'}:${placer.number}`;
}

/** Schema check of every produced payload: a mapper bug becomes a refusal, never a bad event. */
export function validated<E extends MappedEvent>(event: E): E | MappingRefusal {
  const result = validatePayload(event.type, event.data);
  if (result.ok) return event;
  // Issue paths name fields of the canonical payload, never their values.
  const paths = result.issues.map((i) => i.path || '(root)').join(', ');
  return refuse('HL7_CANONICAL_INVALID', undefined, `invalid: ${paths}`);
}
