import { createHash } from 'node:crypto';

import { SUBJECTS, idempotencyKey } from '@lifeline/contracts';
import type { Observation, ResultReceivedV1 } from '@lifeline/contracts';
import { hl7DateTimeToIso, observationsPriority, orderSegmentsPriority } from '@lifeline/hl7';
import type { Hl7Message, Hl7Segment } from '@lifeline/hl7';

import { refuse } from './hl7-mapping.errors.js';
import type { MappingRefusal } from './hl7-mapping.errors.js';
import {
  codedConcept,
  isRefusal,
  nonEmpty,
  orderIdOf,
  placerOf,
  readPatient,
  sourceSystemOf,
  validated,
} from './hl7-mapping.util.js';
import type {
  MappedEvent,
  MappingContext,
  MappingOutcome,
} from './hl7-mapping.util.js';

/** One OBR with the ORC just before it (ORU_R01 ORDER_OBSERVATION) and its result OBXs. */
export interface ResultGroup {
  orc?: Hl7Segment;
  obr: Hl7Segment;
  obxs: Hl7Segment[];
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * Groups by OBR. OBXs after an SPM belong to the specimen (v2.5+ SPECIMEN group), not to the
 * results, and OBXs before the first OBR to the patient; both are left out.
 */
export function resultGroups(msg: Hl7Message): ResultGroup[] {
  const groups: ResultGroup[] = [];
  let pendingOrc: Hl7Segment | undefined;
  let current: ResultGroup | undefined;
  let inSpecimen = false;
  for (const seg of msg.segments) {
    if (seg.name === 'ORC') {
      pendingOrc = seg;
      current = undefined;
    } else if (seg.name === 'OBR') {
      current = { orc: pendingOrc, obr: seg, obxs: [] };
      groups.push(current);
      pendingOrc = undefined;
      inSpecimen = false;
    } else if (seg.name === 'SPM') {
      inSpecimen = true;
    } else if (seg.name === 'OBX' && current !== undefined && !inSpecimen) {
      current.obxs.push(seg);
    }
  }
  return groups;
}

/** OBX-5: repetitions joined with '~', components with '^', subcomponents with '&' (unescaped). */
function observationValue(obx: Hl7Segment): string | undefined {
  const reps: string[] = [];
  for (let rep = 1; rep <= obx.repetitionCount(5); rep += 1) {
    const comps = obx.parts(5, rep).map((subs) => subs.join('&'));
    while (comps.length > 0 && comps[comps.length - 1] === '') comps.pop();
    reps.push(comps.join('^'));
  }
  return nonEmpty(reps.join('~'));
}

/** NM, or SN without comparator other than '=' and without a range: anything else is not one number. */
function numericValue(
  valueType: string | undefined,
  obx: Hl7Segment,
): number | undefined {
  if (obx.repetitionCount(5) !== 1) return undefined;
  let text: string | undefined;
  if (valueType === 'NM') text = obx.value(5);
  if (valueType === 'SN') {
    const [comparator = '', num1 = '', separator = '', num2 = ''] = obx
      .parts(5)
      .map((c) => c[0] ?? '');
    if (
      (comparator === '' || comparator === '=') &&
      separator === '' &&
      num2 === ''
    )
      text = num1;
  }
  const trimmed = text?.trim() ?? '';
  return NUMBER.test(trimmed) ? Number(trimmed) : undefined;
}

function observation(obx: Hl7Segment): Observation | MappingRefusal {
  const code = codedConcept(obx, 3);
  if (code === undefined) return refuse('HL7_REQUIRED_FIELD_MISSING', 'OBX-3');
  const valueType = nonEmpty(obx.value(2))?.toUpperCase();
  const abnormalFlags: string[] = [];
  for (let rep = 1; rep <= obx.repetitionCount(8); rep += 1) {
    const flag = nonEmpty(obx.value(8, rep, 1));
    if (flag !== undefined) abnormalFlags.push(flag);
  }
  return {
    setId: nonEmpty(obx.value(1)),
    code,
    valueType,
    value: observationValue(obx),
    numericValue: numericValue(valueType, obx),
    units: nonEmpty(obx.value(6, 1, 1)),
    referenceRange: nonEmpty(obx.value(7)),
    abnormalFlags,
    status: nonEmpty(obx.value(11)),
    observedAt: hl7DateTimeToIso(obx.value(14)),
  };
}

// A resend hashes the same; a correction (new status or new values) does not.
function contentHash(test: string, observations: Observation[]): string {
  return createHash('sha256')
    .update(JSON.stringify({ test, observations }))
    .digest('hex')
    .slice(0, 16);
}

interface GroupInput {
  group: ResultGroup;
  msg: Hl7Message;
  ctx: MappingContext;
  patient: ResultReceivedV1['patient'];
}

function mapGroup({
  group,
  msg,
  ctx,
  patient,
}: GroupInput): MappedEvent | MappingRefusal {
  const placer = placerOf(group.obr, group.orc);
  if (placer.number === undefined)
    return refuse('HL7_REQUIRED_FIELD_MISSING', 'OBR-2/ORC-2');
  const observations: Observation[] = [];
  for (const obx of group.obxs) {
    const obs = observation(obx);
    if (isRefusal(obs)) return obs;
    observations.push(obs);
  }
  // OBR-25 is optional in the corpus (LAB-ORU-1 omits it); absent means final, as most LIS senders intend.
  const resultStatus = nonEmpty(group.obr.value(25))?.toUpperCase() ?? 'F';
  const orderId = orderIdOf({
    number: placer.number,
    namespace: placer.namespace,
  });
  const sourceSystem = sourceSystemOf(msg);
  const type = SUBJECTS.clinical.resultReceived;
  return validated({
    type,
    idempotencyKey: idempotencyKey({
      sourceSystem: placer.namespace ?? sourceSystem,
      businessId: orderId,
      type,
      discriminator: `${resultStatus}:${contentHash(group.obr.value(4), observations)}`,
    }),
    patientKey: patient.key,
    // critical (OBX-8 HH/LL/AA) is stat: the libs/hl7 rule the gateway also uses for the INGEST lane
    // stat when critical, or when the LIS echoes the stat order's priority (OBR-5 / OBR-27.6 / ORC-7.6)
    priority:
      observationsPriority(group.obxs) === 'stat' || orderSegmentsPriority({ orc: group.orc, obrs: [group.obr], tq1s: [] }) === 'stat' ? 'stat' : 'routine',
    data: {
      orderId,
      placerOrderNumber: placer.number,
      fillerOrderNumber:
        nonEmpty(group.obr.value(3, 1, 1)) ??
        nonEmpty(group.orc?.value(3, 1, 1)),
      sourceSystem,
      sourceMessageId: ctx.sourceMessageId,
      patient,
      resultStatus,
      observations,
      observedAt: hl7DateTimeToIso(group.obr.value(7)),
    },
  });
}

/**
 * ORU^R01 → one `clinical.result.received.v1` per OBR that has result OBXs (an OBR without any,
 * e.g. a cancelled test, has nothing to report and is skipped). All or nothing, like orders.
 */
export function mapResultMessage(
  msg: Hl7Message,
  ctx: MappingContext,
): MappingOutcome {
  const groups = resultGroups(msg);
  if (groups.length === 0) return refuse('HL7_NO_ORDER_GROUP', 'OBR');
  const withResults = groups.filter((g) => g.obxs.length > 0);
  if (withResults.length === 0)
    return refuse('HL7_REQUIRED_FIELD_MISSING', 'OBX');
  const patient = readPatient(msg, ctx.patientKeySecret);
  if (isRefusal(patient)) return patient;
  const events: MappedEvent[] = [];
  for (const group of withResults) {
    const event = mapGroup({ group, msg, ctx, patient });
    if (isRefusal(event)) return event;
    events.push(event);
  }
  return { kind: 'events', events };
}
