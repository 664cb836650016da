import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

import { envelopeFromHeaders, envelopeToHeaders, type Envelope } from '@lifeline/contracts';
import type { HeaderSource } from '@lifeline/observability';

/** Content type of raw HL7 v2 (ER7) bodies on INGEST; anything else is JSON. */
export const CONTENT_TYPE_HEADER = 'ce-datacontenttype';
export const HL7V2_CONTENT_TYPE = 'application/hl7-v2+er7';

export function toNatsHeaders(map: Record<string, string>): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(map)) h.set(k, v);
  return h;
}

/** NATS headers → plain map (first value of each key). */
export function headersToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/** Adapts NATS headers to the trace carrier; nats.js returns '' for a missing key. */
export function headerSource(h: MsgHdrs | undefined): HeaderSource {
  return {
    get: (k) => (h ? h.get(k) || undefined : undefined),
    keys: () => (h ? h.keys() : []),
  };
}

export function encodeEnvelope(env: Envelope<unknown>): { headers: Record<string, string>; body: Uint8Array } {
  return { headers: envelopeToHeaders(env), body: new TextEncoder().encode(JSON.stringify(env.data)) };
}

export function decodeEnvelopeHeaders<T>(h: MsgHdrs | undefined, data: T): Envelope<T> {
  return envelopeFromHeaders((k) => (h ? h.get(k) || undefined : undefined), data);
}
