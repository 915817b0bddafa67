// Palisade captcha worker: finds the number that solves an ALTCHA-style SHA-256 challenge.
//
// Receives {algorithm, challenge, salt, maxnumber, start, step} and tries start, start + step,
// start + 2 * step, ... up to maxnumber (several workers share the search that way). Answers
// {number, took}, with number null when none of its share solves the challenge, or {error}.
'use strict';

const BATCH = 64;
const encoder = new TextEncoder();

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  }
  return bytes;
}

function sameBytes(buffer, expected) {
  const actual = new Uint8Array(buffer);
  if (actual.length !== expected.length) {
    return false;
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      return false;
    }
  }
  return true;
}

async function solve(challenge, salt, maxnumber, first, step) {
  const expected = hexToBytes(challenge);
  for (let start = first; start <= maxnumber; start += BATCH * step) {
    const numbers = [];
    for (let n = start; n <= maxnumber && numbers.length < BATCH; n += step) {
      numbers.push(n);
    }
    const results = await Promise.all(
      numbers.map((n) => crypto.subtle.digest('SHA-256', encoder.encode(salt + n)))
    );
    for (let i = 0; i < results.length; i++) {
      if (sameBytes(results[i], expected)) {
        return numbers[i];
      }
    }
  }
  return null;
}

self.addEventListener('message', async (event) => {
  const data = event.data || {};
  const valid = data.algorithm === 'SHA-256'
    && typeof data.challenge === 'string' && /^[0-9a-f]{64}$/.test(data.challenge)
    && typeof data.salt === 'string'
    && Number.isSafeInteger(data.maxnumber) && data.maxnumber >= 0;
  const first = Number.isSafeInteger(data.start) && data.start >= 0 ? data.start : 0;
  const step = Number.isSafeInteger(data.step) && data.step >= 1 ? data.step : 1;
  if (!valid) {
    self.postMessage({ error: 'unsupported challenge' });
    return;
  }
  try {
    const started = Date.now();
    const number = await solve(data.challenge, data.salt, data.maxnumber, first, step);
    self.postMessage({ number, took: Date.now() - started });
  } catch (err) {
    self.postMessage({ error: String(err) });
  }
});
