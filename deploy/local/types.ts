import type { LocalStackEnv } from './config.ts';

export interface StackPorts {
  kafka: number;
  kafkaController: number;
  registry: number;
  /** Quarkus management interface of the registry (kept off the common 9000). */
  registryManagement: number;
  postgres: number;
  jaegerQuery: number;
  jaegerQueryGrpc: number;
  otlpGrpc: number;
  otlpHttp: number;
}

export interface StackOptions {
  /** Instance name: `dev` or `test`; state lives in `<stateRoot>/<instance>`. */
  instance: string;
  /** `<checkout>/.lockstep/<instance>` — data, logs, pid files. */
  stateDir: string;
  /** Downloads and builds shared by all instances. */
  cacheDir: string;
  ports: StackPorts;
  env: LocalStackEnv;
  /** Progress lines (downloads, builds, starts). */
  log: (line: string) => void;
}

export type ComponentName = 'kafka' | 'registry' | 'postgres' | 'jaeger';

export interface ComponentStatus {
  healthy: boolean;
  running: boolean;
  pid: number | null;
  log: string;
  detail?: string;
}

export interface Component {
  name: ComponentName;
  /** Downloads/builds into the cache once; a second call is a cheap check. */
  install(o: StackOptions): Promise<void>;
  /** Starts if not already running, waits until healthy. */
  start(o: StackOptions): Promise<void>;
  healthy(o: StackOptions): Promise<boolean>;
  /** Returns whether something was running. */
  stop(o: StackOptions): Promise<boolean>;
  pid(o: StackOptions): number | undefined;
  logFile(o: StackOptions): string;
}
