import { parseHl7 } from './hl7-parse.util.js';
import type { Hl7Message, Hl7Segment } from './hl7-parse.util.js';

/** Same values as the envelope's `lifeline-priority` (contracts `Priority`). */
export type Hl7Priority = 'routine' | 'stat';

/** HL7 table 0078 critical flags. H, L, A, '>' and '<' are abnormal but not critical. */
export const CRITICAL_ABNORMAL_FLAGS: ReadonlySet<string> = new Set([
  'HH',
  'LL',
  'AA',
]);

/** An order as the normalizer groups it: an ORC (if any) with the OBRs and TQ1s that follow it. */
export interface Hl7OrderSegments {
  orc?: Hl7Segment;
  obrs: readonly Hl7Segment[];
  tq1s: readonly Hl7Segment[];
}

const isS = (value: string): boolean => value.trim().toUpperCase() === 'S';

/** Whether one OBX-8 abnormal flag (table 0078) is critical: HH, LL or AA. */
export function isCriticalFlag(flag: string): boolean {
  return CRITICAL_ABNORMAL_FLAGS.has(flag.trim().toUpperCase());
}

function hasCriticalFlag(obx: Hl7Segment): boolean {
  for (let rep = 1; rep <= obx.repetitionCount(8); rep += 1) {
    if (isCriticalFlag(obx.value(8, rep, 1))) return true;
  }
  return false;
}

// The one rule set: the message classifier and the normalizer's mappers all read these.
// A Map, not an object: segment names come from the wire (`__proto__`, `constructor`, ...).
const STAT_RULES = new Map<string, (seg: Hl7Segment) => boolean>([
  // ORC-7.6: priority of the (v2.3–2.4) TQ quantity/timing.
  ['ORC', (seg) => isS(seg.value(7, 1, 6))],
  ['TQ1', (seg) => isS(seg.value(9, 1, 1))],
  // OBR-5 (priority, withdrawn but still sent) and OBR-27.6 (TQ priority).
  ['OBR', (seg) => isS(seg.value(5)) || isS(seg.value(27, 1, 6))],
  ['OBX', hasCriticalFlag],
]);

const isStatSegment = (seg: Hl7Segment): boolean =>
  STAT_RULES.get(seg.name)?.(seg) ?? false;

/** Stat when ORC-7.6, any TQ1-9, any OBR-5 or any OBR-27.6 of the order says S. */
export function orderSegmentsPriority(order: Hl7OrderSegments): Hl7Priority {
  const stat =
    (order.orc !== undefined && isStatSegment(order.orc)) ||
    order.tq1s.some(isStatSegment) ||
    order.obrs.some(isStatSegment);
  return stat ? 'stat' : 'routine';
}

/** Stat when any repetition of any OBX-8 is a critical flag (HH, LL, AA). */
export function observationsPriority(obxs: readonly Hl7Segment[]): Hl7Priority {
  return obxs.some(isStatSegment) ? 'stat' : 'routine';
}

/**
 * Priority of a whole raw or parsed HL7 v2 message, for the transport lane (ARCHITECTURE.md
 * "Priority"): stat when any order segment says S or any OBX-8 is critical, whatever the message
 * type, so it is a superset of what the normalizer maps to stat events. Never throws: anything
 * unreadable is routine (the normalizer still refuses and dead-letters it).
 */
export function classifyHl7Priority(
  message: string | Buffer | Hl7Message,
): Hl7Priority {
  try {
    const parsed =
      typeof message === 'string' || Buffer.isBuffer(message)
        ? parseHl7(message)
        : message;
    return parsed.segments.some(isStatSegment) ? 'stat' : 'routine';
  } catch {
    return 'routine';
  }
}
