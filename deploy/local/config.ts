/**
 * Environment of the local stack — the only file under deploy/local that reads process.env.
 * Every variable is optional; deploy/local/README.md lists them.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535).optional();
const flag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .optional()
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const EnvSchema = z.object({
  XDG_CACHE_HOME: z.string().min(1).optional(),
  HOME: z.string().min(1).optional(),
  LOCKSTEP_CACHE_DIR: z.string().min(1).optional(),
  LOCKSTEP_JAVA: z.string().min(1).default('java'),
  /** Java 21+ for Apicurio Registry 3.3 (found under /usr/lib/jvm when unset). */
  LOCKSTEP_REGISTRY_JAVA: z.string().min(1).optional(),
  LOCKSTEP_MVN: z.string().min(1).default('mvn'),
  LOCKSTEP_GO: z.string().min(1).default('go'),
  LOCKSTEP_PG_BINDIR: z.string().min(1).optional(),
  LOCKSTEP_KAFKA_VERSION: z.string().min(1).default('4.4.0'),
  LOCKSTEP_APICURIO_VERSION: z.string().min(1).default('3.3.3'),
  // v2 tags (v2.x.y) cannot be `go install`ed (the module path has no /v2); the paired v1.x tag
  // builds the same cmd/jaeger (the v2 binary). See deploy/local/README.md.
  LOCKSTEP_JAEGER_VERSION: z.string().min(1).default('v1.76.0'),
  LOCKSTEP_KAFKA_PORT: port,
  LOCKSTEP_REGISTRY_PORT: port,
  LOCKSTEP_POSTGRES_PORT: port,
  LOCKSTEP_JAEGER_QUERY_PORT: port,
  LOCKSTEP_JAEGER_OTLP_GRPC_PORT: port,
  LOCKSTEP_JAEGER_OTLP_HTTP_PORT: port,
  LOCKSTEP_TEST_KAFKA_PORT: port,
  LOCKSTEP_TEST_REGISTRY_PORT: port,
  LOCKSTEP_TEST_POSTGRES_PORT: port,
  LOCKSTEP_TEST_JAEGER_QUERY_PORT: port,
  LOCKSTEP_TEST_JAEGER_OTLP_GRPC_PORT: port,
  LOCKSTEP_TEST_JAEGER_OTLP_HTTP_PORT: port,
  /** Leave the test stack running after `npm test` (faster reruns). */
  LOCKSTEP_KEEP_TEST_STACK: flag,
  /** Podman's storage driver for the image test (deploy/image/podman.ts); default: overlay if it works. */
  LOCKSTEP_PODMAN_STORAGE_DRIVER: z.enum(['overlay', 'vfs']).optional(),
});

export interface PortOverrides {
  kafka?: number;
  registry?: number;
  postgres?: number;
  jaegerQuery?: number;
  otlpGrpc?: number;
  otlpHttp?: number;
}

export interface LocalStackEnv {
  cacheDir: string;
  java: string;
  registryJava: string | undefined;
  mvn: string;
  go: string;
  pgBinDir: string | undefined;
  versions: { kafka: string; apicurio: string; jaeger: string };
  devPorts: PortOverrides;
  testPorts: PortOverrides;
  keepTestStack: boolean;
  podmanStorageDriver: 'overlay' | 'vfs' | undefined;
}

let cached: LocalStackEnv | undefined;

/** Parses the environment once; throws listing every invalid variable. */
export function localStackEnv(): LocalStackEnv {
  if (cached) return cached;
  const parsed = EnvSchema.safeParse(process.env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`reading local stack configuration: invalid environment\n${problems}`);
  }
  const e = parsed.data;
  const cacheDir =
    e.LOCKSTEP_CACHE_DIR ?? join(e.XDG_CACHE_HOME ?? join(e.HOME ?? homedir(), '.cache'), 'lockstep');
  cached = {
    cacheDir,
    java: e.LOCKSTEP_JAVA,
    registryJava: e.LOCKSTEP_REGISTRY_JAVA,
    mvn: e.LOCKSTEP_MVN,
    go: e.LOCKSTEP_GO,
    pgBinDir: e.LOCKSTEP_PG_BINDIR,
    versions: {
      kafka: e.LOCKSTEP_KAFKA_VERSION,
      apicurio: e.LOCKSTEP_APICURIO_VERSION,
      jaeger: e.LOCKSTEP_JAEGER_VERSION,
    },
    devPorts: {
      kafka: e.LOCKSTEP_KAFKA_PORT,
      registry: e.LOCKSTEP_REGISTRY_PORT,
      postgres: e.LOCKSTEP_POSTGRES_PORT,
      jaegerQuery: e.LOCKSTEP_JAEGER_QUERY_PORT,
      otlpGrpc: e.LOCKSTEP_JAEGER_OTLP_GRPC_PORT,
      otlpHttp: e.LOCKSTEP_JAEGER_OTLP_HTTP_PORT,
    },
    testPorts: {
      kafka: e.LOCKSTEP_TEST_KAFKA_PORT,
      registry: e.LOCKSTEP_TEST_REGISTRY_PORT,
      postgres: e.LOCKSTEP_TEST_POSTGRES_PORT,
      jaegerQuery: e.LOCKSTEP_TEST_JAEGER_QUERY_PORT,
      otlpGrpc: e.LOCKSTEP_TEST_JAEGER_OTLP_GRPC_PORT,
      otlpHttp: e.LOCKSTEP_TEST_JAEGER_OTLP_HTTP_PORT,
    },
    keepTestStack: e.LOCKSTEP_KEEP_TEST_STACK,
    podmanStorageDriver: e.LOCKSTEP_PODMAN_STORAGE_DRIVER,
  };
  return cached;
}
