// The image's HEALTHCHECK: GET /readyz of the Lockstep process in this container, on the port it
// actually listens on. The port is found, not configured: the process's listening sockets are
// read from /proc (its fds name socket inodes; /proc/net/tcp{,6} maps inodes to addresses), so
// it follows lockstep.yaml and LOCKSTEP_* overrides without a copy of how ports are computed.
// Exit 0: ready. Exit 1: not ready, not listening (a one-shot command), or no Lockstep process.
// Plain JavaScript with only what Node ships: it runs every interval and must start fast.
/* global fetch, AbortSignal */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const TIMEOUT_MS = 4000;

function fail(message) {
  console.log(`unhealthy: ${message}`);
  process.exit(1);
}

/** Pids of processes running bin/lockstep.mjs (not this script). */
function lockstepPids() {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('bin/lockstep.mjs'))) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function socketInodes(pid) {
  const inodes = new Set();
  let fds = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** /proc/net/tcp addresses are hex, each 32-bit word in host (little-endian) byte order. */
function hostOf(hex) {
  const words = hex.match(/.{8}/g).map((w) => w.match(/../g).reverse().join(''));
  if (words.length === 1) {
    const ip = words[0]
      .match(/../g)
      .map((b) => parseInt(b, 16))
      .join('.');
    return ip === '0.0.0.0' ? '127.0.0.1' : ip;
  }
  const all = words.join('');
  if (/^0+$/.test(all)) return '127.0.0.1'; // :: (dual stack): loopback answers
  if (all.startsWith('00000000000000000000ffff'))
    return hostOf(all.slice(24).match(/../g).reverse().join('')); // v4-mapped
  return `[${all.match(/.{4}/g).join(':')}]`;
}

function listening(inodes) {
  const out = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue; // 0A: LISTEN
      const [addr, port] = f[1].split(':');
      out.push({ host: hostOf(addr), port: parseInt(port, 16) });
    }
  }
  return out;
}

const pids = lockstepPids();
if (pids.length === 0) fail('no lockstep process in this container');
const addrs = pids.flatMap((pid) => listening(socketInodes(pid)));
if (addrs.length === 0) fail(`lockstep (pid ${pids.join(', ')}) listens on no TCP port (yet)`);
const { host, port } = addrs[0];
const url = `http://${host}:${port}/readyz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const body = (await res.text()).slice(0, 500);
  if (res.status !== 200) fail(`${url} answered ${res.status}: ${body}`);
  console.log(`ready: ${url}`);
} catch (err) {
  fail(`${url}: ${err instanceof Error ? err.message : String(err)}`);
}
