// Sends HL7 files over MLLP and prints each ACK's MSA-1/MSA-2 (never message content: PHI).
// Usage: node libs/hl7/dist/mllp-send.cli.js --host 127.0.0.1 --port 2575 [--timeout 30000] a.hl7 ...
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { describeError } from '@lifeline/errors';

import { parseHl7 } from './hl7-parse.util.js';
import { MllpClient } from './mllp-client.js';

const { values, positionals } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '2575' },
    timeout: { type: 'string', default: '30000' },
  },
  allowPositionals: true,
});

const client = new MllpClient({ timeoutMs: Number(values.timeout) });
let failures = 0;
try {
  await client.connect(values.host, Number(values.port));
  for (const file of positionals) {
    // Files often use LF; MLLP peers expect CR between segments.
    const text = (await readFile(file, 'utf8'))
      .replace(/^\uFEFF/, '')
      .split(/\r\n|\r|\n/)
      .join('\r');
    try {
      const ack = parseHl7(await client.send(text));
      const code = ack.field('MSA', 1);
      if (code !== 'AA' && code !== 'CA') failures += 1;
      process.stdout.write(
        `${file}: MSA-1=${code} MSA-2=${ack.field('MSA', 2)}\n`,
      );
    } catch (err) {
      failures += 1;
      process.stdout.write(
        `${file}: ${describeError(err).code} ${describeError(err).message}\n`,
      );
      if (!client.connected)
        await client.connect(values.host, Number(values.port));
    }
  }
} finally {
  await client.close();
}
process.exitCode = failures === 0 ? 0 : 1;
