/**
 * Ports for test worlds (e2e, chaos, private stacks), taken by binding, never guessed — but below the kernel's ephemeral
 * range. Port 0 hands out ephemeral ports, and a chaos scenario kills and restarts services and
 * brokers on the ports they had: in the seconds a killed process's port is free, any outgoing
 * connection on the machine (Toxiproxy opens one per proxied connection) may get it as its local
 * port, and the restart then fails with EADDRINUSE (seen: egress-jira restarted on its own port).
 * The kernel never picks a port below the ephemeral range for an outgoing connection.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devStack, testStack } from '../../deploy/local/stack.ts';

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 12_000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * 10000–19999, clear of the stacks' preset ports (the test stack's 2xxxx, the dev stack's 9092,
 * 8081, 5433, 4317/4318 and 7070–7073) except the dev Jaeger's 16685/16686, which are skipped
 * together with every port the dev and test stacks are configured with (LOCKSTEP_*_PORT
 * overrides included): a stack started after a test took its port would fail to bind it.
 */
const LOW = 10_000;
const HIGH = Math.min(19_999, ephemeralStart() - 1);
const STACK_PORTS = new Set<number>(
  [devStack(), testStack()].flatMap((o) => Object.values(o.ports) as number[]),
);
const taken = new Set<number>(STACK_PORTS);
let next = LOW + ((process.pid * 7919) % (HIGH - LOW));

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port found free is handed to a process that binds it seconds later (a JVM on a loaded machine:
 * 10–20 s), and a killed service's port stays free until its restart; in that window another test
 * process walking the same range found it free too (seen: the private broker's EXTERNAL listener
 * failed with "Address already in use"). So every test process reserves the ports it hands out in
 * a machine-wide directory (one file per port, created exclusively, holding the owner's pid) and
 * skips ports another live process holds; a dead owner's reservation is stale and taken over.
 */
const RESERVATIONS = join(tmpdir(), 'lockstep-test-ports');
const mine: string[] = [];
process.once('exit', () => {
  for (const f of mine) {
    try {
      unlinkSync(f);
    } catch {
      // already gone
    }
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function reserve(port: number): boolean {
  mkdirSync(RESERVATIONS, { recursive: true });
  const f = join(RESERVATIONS, String(port));
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(f, String(process.pid), { flag: 'wx' });
      mine.push(f);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(f, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
      try {
        unlinkSync(f);
      } catch {
        // another process took the stale reservation over first
      }
    }
  }
  return false;
}

async function take(count: number): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    next = next + count > HIGH ? LOW : next;
    const base = next;
    next += count;
    const ports = Array.from({ length: count }, (_, k) => base + k);
    if (ports.some((p) => taken.has(p))) continue;
    const free = await Promise.all(ports.map(canBind));
    if (!free.every(Boolean)) continue;
    for (const p of ports) taken.add(p);
    // Taken either way: a port another process holds is not tried again by this one.
    if (ports.every(reserve)) return base;
  }
  throw new Error(`finding ${count} adjacent free ports in ${LOW}–${HIGH}: none in 2000 tries`);
}

/** A port that was free when bound (below the ephemeral range; see above). */
export function freePort(): Promise<number> {
  return take(1);
}

/** Two adjacent free ports: egress takes base + platform index (linear 0, jira 1). */
export function freePortPair(): Promise<number> {
  return take(2);
}

/** `count` adjacent free ports: egress takes base + platform index (registry order). */
export function freePortRun(count: number): Promise<number> {
  return take(count);
}
