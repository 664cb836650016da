import { describe, expect, it } from '@jest/globals';

import { streamSequenceOfAck } from './ack-subject.util.js';

describe('streamSequenceOfAck', () => {
  it('reads the stream sequence of the 2.9 form (9 tokens)', () => {
    expect(streamSequenceOfAck('$JS.ACK.T1_CLINICAL.t1_orders-x.3.1234.17.1732450000000000000.5')).toBe(1234);
  });

  it('reads the stream sequence of the form with domain and account hash (12 tokens)', () => {
    expect(streamSequenceOfAck('$JS.ACK.hub.ACCHASH.CLINICAL.orders-x.1.99.7.1732450000000000000.0.tok')).toBe(99);
  });

  it('refuses what is not an ack subject or has no usable sequence', () => {
    expect(streamSequenceOfAck('_INBOX.abc.1')).toBeUndefined();
    expect(streamSequenceOfAck('$JS.ACK.S.c.1')).toBeUndefined();
    expect(streamSequenceOfAck('$JS.ACK.S.c.1.x.2.3.4')).toBeUndefined();
    expect(streamSequenceOfAck('$JS.ACK.S.c.1.0.2.3.4')).toBeUndefined();
  });
});
