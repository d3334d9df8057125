/**
 * The configuration `lockstep start` generates when no platform is configured: the demo flow
 * Linear team ENG ↔ Jira project ENG against the EMULATORS started by `lockstep sandbox`
 * (test/emulators). The credentials below are the emulators' demo tokens — they open nothing real.
 */
import type { StackEndpoints } from '../../deploy/local/stack.ts';

export interface SandboxEndpoints {
  linear: { apiUrl: string };
  jira: { baseUrl: string };
  asana: { baseUrl: string };
  slack: { apiUrl: string };
}

/** The emulators' demo credentials (test/emulators/<platform>/index.ts demoSeed). */
export const SANDBOX_CREDENTIALS = {
  LOCKSTEP_SANDBOX_LINEAR_API_KEY: 'lin_api_emulator_lockstep_bot',
  LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET: 'sandbox-linear-webhook-secret',
  LOCKSTEP_SANDBOX_JIRA_API_TOKEN: 'sandbox-jira-token-lockstep-bot',
  LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET: 'sandbox-jira-webhook-secret',
} as const;

export const SANDBOX_JIRA_EMAIL = 'lockstep-bot@example.com';

/** The status names of the emulators' default workflows, mapped through flow-level names. */
export const DEMO_STATUS_MAP = [
  // The Jira emulator's workflow has no Backlog status: an item moved to Backlog in Linear stays
  // where it is in Jira, and egress reports the status as unresolvable there.
  { name: 'Backlog', category: 'backlog' },
  { name: 'Todo', category: 'todo', jira: 'To Do' },
  { name: 'In Progress', category: 'in_progress' },
  { name: 'Done', category: 'done' },
  { name: 'Canceled', category: 'canceled', jira: 'Canceled' },
];

export function sandboxConfig(
  stack: StackEndpoints,
  sandbox: SandboxEndpoints,
  opts: { ingestPort?: number; pollIntervalMs?: number } = {},
): Record<string, unknown> {
  return {
    kafka: { brokers: [stack.kafka.bootstrap] },
    registry: { url: stack.registry.url },
    postgres: { url: stack.postgres.url },
    telemetry: { otlpHttpEndpoint: `${stack.jaeger.otlpHttp.replace(/\/$/, '')}/v1/traces` },
    connectors: {
      linear: {
        apiKey: { env: 'LOCKSTEP_SANDBOX_LINEAR_API_KEY' },
        webhookSecret: { env: 'LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET' },
        apiUrl: sandbox.linear.apiUrl,
        teams: ['ENG'],
      },
      jira: {
        host: sandbox.jira.baseUrl,
        email: SANDBOX_JIRA_EMAIL,
        apiToken: { env: 'LOCKSTEP_SANDBOX_JIRA_API_TOKEN' },
        webhookSecret: { env: 'LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET' },
        projects: ['ENG'],
      },
    },
    flows: [
      {
        id: 'sandbox-eng',
        sides: [
          { platform: 'linear', workspace: 'ENG' },
          { platform: 'jira', workspace: 'ENG' },
        ],
        fields: { default: 'last-write-wins', labels: 'merge' },
        statusMap: DEMO_STATUS_MAP,
      },
    ],
    ingest: {
      ...(opts.ingestPort ? { port: opts.ingestPort } : {}),
      pollIntervalMs: opts.pollIntervalMs ?? 30_000,
    },
  };
}
