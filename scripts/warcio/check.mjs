// check.mjs reads WARC files with warcio.js, a reader independent of Trawl's, and prints
// one JSON line per record: where it is, what it is, and whether its digests verify. It
// exits non-zero when a file does not parse to its end. Used by cmd/crawler's
// TestWARCReadByWarcio; run it by hand as: node scripts/warcio/check.mjs FILE.warc.gz ...
import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { WARCParser } from "warcio";

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(buf) {
  let bits = 0, value = 0, out = "";
  for (const b of buf) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

// digest formats a WARC digest of data in the algorithm and encoding of want ("sha1:BASE32").
function digest(want, data) {
  const [algo, value] = want.split(":", 2);
  const sum = createHash(algo === "sha1" ? "sha1" : algo).update(data).digest();
  const hex = /^[0-9a-f]+$/i.test(value) && value.length === sum.length * 2;
  return algo + ":" + (hex ? sum.toString("hex") : base32(sum));
}

function verify(want, data) {
  if (!want) return null;
  return digest(want, data).toLowerCase() === want.toLowerCase();
}

function headerEnd(block) {
  for (let i = 0; i + 3 < block.length; i++) {
    if (block[i] === 13 && block[i + 1] === 10 && block[i + 2] === 13 && block[i + 3] === 10) return i + 4;
  }
  return -1;
}

async function check(path) {
  const file = basename(path);
  // Pass 1: parse every record with its HTTP headers, as a replay tool would.
  const statuses = [];
  const parsed = new WARCParser(createReadStream(path), { parseHttp: true });
  for await (const record of parsed) {
    await record.readFully(true); // decode the body (chunked, gzip) as a replay tool would
    statuses.push(record.httpHeaders ? record.httpHeaders.statusCode : null);
  }
  // Pass 2: the raw blocks, for the digests.
  const raw = new WARCParser(createReadStream(path), { parseHttp: false });
  let i = 0;
  for await (const record of raw) {
    const block = Buffer.from(await record.readFully(false));
    const type = record.warcType;
    const out = {
      file, offset: raw.offset, type, uri: record.warcTargetURI || null, id: record.warcHeader("WARC-Record-ID"),
      concurrentTo: record.warcConcurrentTo, status: statuses[i++],
      profile: record.warcHeader("WARC-Profile") || null,
      date: record.warcDate || null, truncated: record.warcHeader("WARC-Truncated") || null,
      payloadDigest: record.warcPayloadDigest || null, refersTo: record.warcHeader("WARC-Refers-To") || null,
      refersToTargetURI: record.warcHeader("WARC-Refers-To-Target-URI") || null,
      refersToDate: record.warcHeader("WARC-Refers-To-Date") || null,
      length: block.length, contentLength: record.warcContentLength,
      blockDigestOK: verify(record.warcBlockDigest, block), payloadDigestOK: null,
    };
    if ((type === "response" || type === "request") && record.warcPayloadDigest) {
      const end = headerEnd(block);
      out.payloadDigestOK = end >= 0 && verify(record.warcPayloadDigest, block.subarray(end));
    }
    console.log(JSON.stringify(out));
  }
  if (i !== statuses.length) throw new Error(`${file}: ${statuses.length} records with HTTP parsing, ${i} raw`);
}

for (const path of process.argv.slice(2)) {
  try {
    await check(path);
  } catch (err) {
    console.error(`${path}: ${err.stack || err}`);
    process.exit(1);
  }
}
