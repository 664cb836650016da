/**
 * Stream sequence of a delivery from its JetStream ack subject, for a raw (core) message the consume
 * iterator did not wrap: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or
 * the newer form with domain and account hash (`$JS.ACK.<domain>.<hash>.<stream>.…`, 12 tokens).
 */
export function streamSequenceOfAck(reply: string): number | undefined {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined;
  const index = t.length === 9 ? 5 : t.length >= 11 ? 7 : -1;
  const seq = index < 0 ? NaN : Number(t[index]);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}
