#!/usr/bin/env node
// Sends HL7 v2 messages to the MLLP listener and prints each ACK (segments on their own lines).
// Usage: node tools/mesh/send-hl7.mjs <file.hl7|-> [more files] [--host 127.0.0.1] [--port 2575] [--timeout ms]
// A file may hold several messages, each starting with an MSH line. Exit code: 0 when every ACK is
// AA/CA, 2 when one is AE/AR/CE/CR, 1 on connection errors or timeouts.
import { readFileSync } from 'node:fs';

import { ackCode, normalizeHl7, sendMllp } from '../../libs/testing/src/mllp-client.mjs';

const USAGE = 'usage: node tools/mesh/send-hl7.mjs <file.hl7|-> [...] [--host 127.0.0.1] [--port 2575] [--timeout 10000]';

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 2575, timeoutMs: 10_000, files: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--host') opts.host = argv[++i];
    else if (arg === '--port') opts.port = Number(argv[++i]);
    else if (arg === '--timeout') opts.timeoutMs = Number(argv[++i]);
    else if (arg === '-h' || arg === '--help') opts.help = true;
    else opts.files.push(arg);
  }
  return opts;
}

/** Splits a file into messages at each MSH segment. */
function messagesOf(text) {
  const segments = normalizeHl7(text).split('\r').filter((s) => s !== '');
  const messages = [];
  for (const segment of segments) {
    if (segment.startsWith('MSH') || messages.length === 0) messages.push([]);
    messages.at(-1).push(segment);
  }
  return messages.map((m) => `${m.join('\r')}\r`);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.help || opts.files.length === 0 || !Number.isInteger(opts.port)) {
  console.error(USAGE);
  process.exit(opts.help ? 0 : 1);
}

let exitCode = 0;
for (const file of opts.files) {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  for (const message of messagesOf(text)) {
    const controlId = message.split('\r')[0].split('|')[9] ?? '?';
    try {
      const ack = await sendMllp({ host: opts.host, port: opts.port, message, timeoutMs: opts.timeoutMs });
      const code = ackCode(ack);
      console.log(`--- ${file} MSH-10 ${controlId}: ${code ?? 'no MSA'}`);
      console.log(ack.replace(/\r/g, '\n').trimEnd());
      if (!['AA', 'CA'].includes(code ?? '')) exitCode = Math.max(exitCode, 2);
    } catch (err) {
      console.error(`--- ${file} MSH-10 ${controlId}: ${err.message}`);
      exitCode = 1;
    }
  }
}
process.exit(exitCode);
