import { SUBJECTS, idempotencyKey } from '@lifeline/contracts';
import type { OrderPlacedV1, Priority } from '@lifeline/contracts';
import { hl7DateTimeToIso, orderSegmentsPriority } from '@lifeline/hl7';
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

export type OrderMessageType = OrderPlacedV1['messageType'];

/** One order: an ORC with the OBRs (tests) and TQ1s that follow it, or a lone OBR without ORC. */
export interface OrderGroup {
  orc?: Hl7Segment;
  obrs: Hl7Segment[];
  tq1s: Hl7Segment[];
}

type OrderAction = 'placed' | 'cancel';

function orderMessageTypeOf(msg: Hl7Message): OrderMessageType | undefined {
  const type = `${msg.field('MSH', 9, 1, 1).trim()}^${msg.field('MSH', 9, 1, 2).trim()}`;
  return type === 'ORM^O01' || type === 'OML^O21' ? type : undefined;
}

/**
 * ORC-1 → action. Only NW (new) and CA (cancel request) are mapped. DC (discontinue), OC (filler
 * cancelled), XO (change), SC (status) and the rest are refused rather than guessed at: each asks the
 * saga for something different, and a wrong cancel would compensate a live order.
 * An empty ORC-1 (or no ORC) with an OBR reads as a new order, as old ORM senders do.
 */
function orderAction(group: OrderGroup): OrderAction | undefined {
  switch (nonEmpty(group.orc?.value(1))?.toUpperCase()) {
    case undefined:
    case 'NW':
      return 'placed';
    case 'CA':
      return 'cancel';
    default:
      return undefined;
  }
}

/** Splits the message into order groups: each ORC opens one; an OBR with no open ORC is its own. */
export function orderGroups(msg: Hl7Message): OrderGroup[] {
  const groups: OrderGroup[] = [];
  let current: OrderGroup | undefined;
  for (const seg of msg.segments) {
    if (seg.name === 'ORC') {
      current = { orc: seg, obrs: [], tq1s: [] };
      groups.push(current);
    } else if (seg.name === 'OBR') {
      if (current?.orc === undefined) {
        current = { obrs: [], tq1s: [] };
        groups.push(current);
      }
      current.obrs.push(seg);
    } else if (seg.name === 'TQ1' && current !== undefined) {
      current.tq1s.push(seg);
    }
  }
  return groups;
}

/**
 * Stat when ORC-7.6 (TQ priority), any TQ1-9, OBR-5 or OBR-27.6 says S: the libs/hl7 rule the
 * gateway also uses to pick the INGEST lane.
 */
export function orderPriority(group: OrderGroup): Priority {
  return orderSegmentsPriority(group);
}

interface GroupInput {
  group: OrderGroup;
  index: number;
  msg: Hl7Message;
  ctx: MappingContext;
  messageType: OrderMessageType;
  patient: OrderPlacedV1['patient'];
}

interface OrderBasics {
  orderId: string;
  placerOrderNumber: string;
  placerNamespace?: string;
  sourceSystem: string;
  meta: { patientKey: string; priority: Priority };
  keyFor: (type: string) => string;
}

function mapCancel(
  { group, ctx, patient }: GroupInput,
  basics: OrderBasics,
): MappedEvent | MappingRefusal {
  const type = SUBJECTS.clinical.orderCancelRequested;
  return validated({
    ...basics.meta,
    type,
    idempotencyKey: basics.keyFor(type),
    data: {
      orderId: basics.orderId,
      placerOrderNumber: basics.placerOrderNumber,
      sourceSystem: basics.sourceSystem,
      sourceMessageId: ctx.sourceMessageId,
      patient,
      // ORC-16 order control code reason: its text, else its code.
      reason:
        nonEmpty(group.orc?.value(16, 1, 2)) ??
        nonEmpty(group.orc?.value(16, 1, 1)),
    },
  });
}

function mapPlaced(
  { group, index, ctx, messageType, patient }: GroupInput,
  basics: OrderBasics,
): MappedEvent | MappingRefusal {
  const tests = group.obrs.map((obr) => codedConcept(obr, 4));
  if (tests.length === 0 || tests.includes(undefined)) {
    return refuse(
      'HL7_REQUIRED_FIELD_MISSING',
      'OBR-4',
      `order group ${index + 1}`,
    );
  }
  const { orc } = group;
  const obr = group.obrs[0];
  const type = SUBJECTS.clinical.orderPlaced;
  return validated({
    ...basics.meta,
    type,
    idempotencyKey: basics.keyFor(type),
    data: {
      orderId: basics.orderId,
      placerOrderNumber: basics.placerOrderNumber,
      placerNamespace: basics.placerNamespace,
      fillerOrderNumber:
        nonEmpty(orc?.value(3, 1, 1)) ?? nonEmpty(obr?.value(3, 1, 1)),
      sourceSystem: basics.sourceSystem,
      sourceMessageId: ctx.sourceMessageId,
      messageType,
      patient,
      tests: tests.filter((t) => t !== undefined),
      priority: basics.meta.priority,
      orderedAt:
        hl7DateTimeToIso(orc?.value(9) ?? '') ??
        hl7DateTimeToIso(obr?.value(6) ?? ''),
      orderingProviderId:
        nonEmpty(orc?.value(12, 1, 1)) ?? nonEmpty(obr?.value(16, 1, 1)),
    },
  });
}

function mapGroup(input: GroupInput): MappedEvent | MappingRefusal {
  const { group, index, msg, patient } = input;
  const where = `order group ${index + 1}`;
  const action = orderAction(group);
  if (action === undefined) {
    // ORC-1 is a table 0119 code, not patient data, so it may appear in the reason.
    const control = (group.orc?.value(1) ?? '')
      .trim()
      .slice(0, 2)
      .replace(/[^A-Za-z]/g, '?');
    return refuse(
      'HL7_UNSUPPORTED_ORDER_CONTROL',
      'ORC-1',
      `${where}: ${control}`,
    );
  }
  const placer = placerOf(group.orc, group.obrs[0]);
  if (placer.number === undefined) {
    return refuse('HL7_REQUIRED_FIELD_MISSING', 'ORC-2/OBR-2', where);
  }
  const orderId = orderIdOf({
    number: placer.number,
    namespace: placer.namespace,
  });
  const sourceSystem = sourceSystemOf(msg);
  const basics: OrderBasics = {
    orderId,
    placerOrderNumber: placer.number,
    placerNamespace: placer.namespace,
    sourceSystem,
    meta: { patientKey: patient.key, priority: orderPriority(group) },
    keyFor: (type) =>
      idempotencyKey({
        sourceSystem: placer.namespace ?? sourceSystem,
        businessId: orderId,
        type,
      }),
  };
  return action === 'cancel'
    ? mapCancel(input, basics)
    : mapPlaced(input, basics);
}

/**
 * ORM^O01 / OML^O21 → one `clinical.order.placed.v1` (ORC-1 NW or empty) or
 * `clinical.order.cancel-requested.v1` (CA) per order group. All or nothing: one bad group refuses
 * the whole message, so a partner never gets half an order set accepted.
 */
export function mapOrderMessage(
  msg: Hl7Message,
  ctx: MappingContext,
): MappingOutcome {
  const messageType = orderMessageTypeOf(msg);
  if (messageType === undefined)
    return refuse('HL7_UNSUPPORTED_MESSAGE_TYPE', 'MSH-9');
  const groups = orderGroups(msg);
  if (groups.length === 0) return refuse('HL7_NO_ORDER_GROUP', 'ORC/OBR');
  const patient = readPatient(msg, ctx.patientKeySecret);
  if (isRefusal(patient)) return patient;
  const events: MappedEvent[] = [];
  for (const [index, group] of groups.entries()) {
    const event = mapGroup({ group, index, msg, ctx, messageType, patient });
    if (isRefusal(event)) return event;
    events.push(event);
  }
  return { kind: 'events', events };
}
