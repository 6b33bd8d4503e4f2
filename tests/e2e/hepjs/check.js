#!/usr/bin/env node
// HEP receiver for tests/e2e/hepjs.sh: a UDP server on 127.0.0.1 (free port)
// that decodes every datagram with hep-js (npm, pinned in package.json) and
// writes one JSON line per datagram:
//   {"n": 1, "datagram_len": 571, "hep_len": 571, "ok": true,
//    "rcinfo": {...as hep-js returns it...}, "payload": "INVITE ..."}
// or, when hep-js cannot decode it, {"n": .., "ok": false, "error": "...", "hex": "..."}.
//
// Usage: node check.js --port-file FILE --out FILE [--timeout SECONDS]
// The port is written to --port-file (atomically) once the socket listens.
// SIGTERM/SIGINT: close and exit 0. After --timeout seconds (default 60) it exits 3.
'use strict';

const dgram = require('dgram');
const fs = require('fs');
const hep = require('hep-js');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (dflt === undefined) {
    console.error(`check.js: missing ${name}`);
    process.exit(2);
  }
  return dflt;
}

const portFile = arg('--port-file');
const outFile = arg('--out');
const timeout = Number(arg('--timeout', '60'));

const out = fs.openSync(outFile, 'w');
let n = 0;

// hep-js walks chunks by their length without checking it: a chunk length
// below 6 makes it loop forever (0) or misparse. Check the framing first so a
// malformed packet is reported instead of hanging the receiver.
function framingError(buf) {
  if (buf.length < 6) return `datagram of ${buf.length} bytes`;
  if (buf.toString('latin1', 0, 4) !== 'HEP3') return `magic ${buf.slice(0, 4).toString('hex')}`;
  const total = buf.readUInt16BE(4);
  if (total > buf.length) return `HEP length ${total} > datagram ${buf.length}`;
  for (let off = 6; off < total;) {
    if (off + 6 > total) return `truncated chunk header at offset ${off}`;
    const len = buf.readUInt16BE(off + 4);
    if (len < 6) return `chunk length ${len} at offset ${off}`;
    if (off + len > total) return `chunk at offset ${off} (length ${len}) runs past ${total}`;
    off += len;
  }
  return null;
}

function record(buf) {
  n += 1;
  const rec = {
    n,
    datagram_len: buf.length,
    hep_len: buf.length >= 6 ? buf.readUInt16BE(4) : null,
  };
  const bad = framingError(buf);
  let decoded = false;
  if (bad) {
    rec.error = bad;
  } else {
    try {
      decoded = hep.decapsulate(buf);
    } catch (e) {
      rec.error = `hep-js threw: ${e && e.message}`;
    }
    if (!decoded && !rec.error) rec.error = `hep-js returned ${JSON.stringify(decoded)}`;
  }
  rec.ok = !!decoded;
  if (decoded) {
    rec.rcinfo = decoded.rcinfo;
    rec.payload = decoded.payload;
  } else {
    rec.hex = buf.toString('hex');
  }
  fs.writeSync(out, JSON.stringify(rec) + '\n');
}

const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
sock.on('message', (msg) => record(msg));
sock.on('error', (err) => {
  console.error(`check.js: socket error: ${err.message}`);
  process.exit(1);
});
sock.on('listening', () => {
  const { port } = sock.address();
  fs.writeFileSync(portFile + '.tmp', `${port}\n`);
  fs.renameSync(portFile + '.tmp', portFile);
});
sock.bind(0, '127.0.0.1');

function stop(code) {
  try { sock.close(); } catch (e) { /* already closed */ }
  fs.closeSync(out);
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
setTimeout(() => {
  console.error(`check.js: no SIGTERM within ${timeout} s, exiting`);
  stop(3);
}, timeout * 1000);
