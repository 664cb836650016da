// A stand-in for the OpenTelemetry collector: accepts OTLP/HTTP exports and counts their bytes. It runs
// as a process of its own, as a collector does, so the hop's process pays only what a service pays
// (build and send the export), not the collector's side of it.
import { createServer } from 'node:http';

let bytes = 0;
const server = createServer((req, res) => {
  req.on('data', (c) => {
    bytes += c.length;
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'bytes') process.send?.({ bytes });
});
process.on('disconnect', () => process.exit(0));
