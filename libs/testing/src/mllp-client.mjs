// Minimal MLLP client (HL7 v2 over TCP): <VT> message <FS><CR> out, the ACK framed the same way back.
// Shared by tools/mesh/send-hl7.mjs and the e2e tests.
import { connect } from 'node:net';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

/** Segments separated by CR, whatever line endings the input had, ending with a CR. */
export function normalizeHl7(text) {
  const segments = text.split(/\r\n|\r|\n/).filter((s) => s.trim() !== '');
  return `${segments.join('\r')}\r`;
}

export function frameMllp(message) {
  return Buffer.concat([Buffer.from([VT]), Buffer.from(message, 'utf8'), Buffer.from([FS, CR])]);
}

/** MSA-1 of an ACK (AA, AE, AR, CA, CE, CR), or undefined when there is no MSA segment. */
export function ackCode(ack) {
  const msa = ack.split('\r').find((s) => s.startsWith('MSA|'));
  return msa?.split('|')[1];
}

/**
 * Sends one message on a fresh connection and resolves with the first framed reply (without framing).
 * Rejects on connection errors, on a close before a full frame and after timeoutMs.
 */
export function sendMllp({ host = '127.0.0.1', port, message, timeoutMs = 10_000 }) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buffer = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no ACK from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    function finish(err, ack) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(ack);
    }
    socket.on('connect', () => socket.write(frameMllp(normalizeHl7(message))));
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`connection to ${host}:${port} closed before a complete ACK`)));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const start = buffer.indexOf(VT);
      const end = buffer.indexOf(FS, start + 1);
      if (start === -1 || end === -1) return;
      finish(undefined, buffer.subarray(start + 1, end).toString('utf8'));
    });
  });
}
