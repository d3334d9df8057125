/**
 * Ports for the chaos worlds, taken by binding, never guessed — but below the kernel's ephemeral
 * range. Port 0 hands out ephemeral ports, and a chaos scenario kills and restarts services and
 * brokers on the ports they had: in the seconds a killed process's port is free, any outgoing
 * connection on the machine (Toxiproxy opens one per proxied connection) may get it as its local
 * port, and the restart then fails with EADDRINUSE (seen: egress-jira restarted on its own port).
 * The kernel never picks a port below the ephemeral range for an outgoing connection.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 12_000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

const LOW = 10_000;
const HIGH = ephemeralStart() - 1;
const taken = new Set<number>();
let next = LOW + ((process.pid * 7919) % (HIGH - LOW));

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function take(count: number): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    next = next + count > HIGH ? LOW : next;
    const base = next;
    next += count;
    const ports = Array.from({ length: count }, (_, k) => base + k);
    if (ports.some((p) => taken.has(p))) continue;
    const free = await Promise.all(ports.map(canBind));
    if (free.every(Boolean)) {
      for (const p of ports) taken.add(p);
      return base;
    }
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
