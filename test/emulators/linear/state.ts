/**
 * The Linear emulator's in-memory workspace: one organization with teams, workflow states,
 * labels, issues, comments, attachments and webhooks. Users live in the shell's ActorDirectory
 * (the token decides who acts); the extra Linear-only facts about them (admin, createdAt) live here.
 */
import { randomUUID } from 'node:crypto';
import type { ActorDirectory, EmulatedUser } from '../common/actors.ts';

export type StateType = 'triage' | 'backlog' | 'unstarted' | 'started' | 'completed' | 'canceled';

export interface Organization {
  id: string;
  name: string;
  urlKey: string;
  createdAt: string;
}
export interface Team {
  id: string;
  key: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  /** Last issue number handed out; identifiers are `${key}-${number}`. */
  issueCount: number;
}
export interface WorkflowState {
  id: string;
  teamId: string;
  name: string;
  type: StateType;
  position: number;
  color: string;
  createdAt: string;
  updatedAt: string;
}
export interface IssueLabel {
  id: string;
  name: string;
  color: string;
  description: string | null;
  /** null: a workspace label, usable in every team. */
  teamId: string | null;
  creatorId: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface UserMeta {
  admin: boolean;
  createdAt: string;
  updatedAt: string;
}
export interface Issue {
  id: string;
  teamId: string;
  number: number;
  title: string;
  description: string | null;
  priority: number;
  stateId: string;
  assigneeId: string | null;
  creatorId: string | null;
  labelIds: string[];
  dueDate: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  completedAt: string | null;
  canceledAt: string | null;
  archivedAt: string | null;
  trashed: boolean;
}
export interface Comment {
  id: string;
  issueId: string;
  userId: string;
  parentId: string | null;
  body: string;
  createdAt: string;
  updatedAt: string;
  editedAt: string | null;
  archivedAt: string | null;
}
export interface Attachment {
  id: string;
  issueId: string;
  url: string;
  title: string;
  subtitle: string | null;
  metadata: Record<string, unknown>;
  creatorId: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface Webhook {
  id: string;
  url: string;
  label: string | null;
  secret: string;
  teamId: string | null;
  allPublicTeams: boolean;
  resourceTypes: string[];
  enabled: boolean;
  creatorId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The seed document accepted by `/_emulator/seed`; it adds to the current workspace. */
export interface LinearSeed {
  organization?: { id?: string; name?: string; urlKey?: string };
  users?: {
    id?: string;
    name: string;
    email: string;
    tokens?: string[];
    /** The user Lockstep's configured token acts as. */
    bot?: boolean;
    admin?: boolean;
  }[];
  /** Teams without `states` get Linear's default five: Backlog, Todo, In Progress, Done, Canceled. */
  teams?: {
    id?: string;
    key: string;
    name: string;
    states?: { id?: string; name: string; type: StateType }[];
  }[];
  labels?: { id?: string; name: string; color?: string; teamKey?: string }[];
  issues?: {
    id?: string;
    teamKey: string;
    title: string;
    description?: string;
    priority?: number;
    /** State name; defaults to the team's first backlog state. */
    state?: string;
    assigneeEmail?: string;
    creatorEmail?: string;
    labels?: string[];
    dueDate?: string;
    createdAt?: string;
    updatedAt?: string;
  }[];
  comments?: { id?: string; issue: string; userEmail: string; body: string; createdAt?: string }[];
  webhooks?: {
    id?: string;
    url: string;
    secret?: string;
    teamKey?: string;
    allPublicTeams?: boolean;
    resourceTypes: string[];
    label?: string;
  }[];
}

export const DEFAULT_STATES: { name: string; type: StateType; color: string }[] = [
  { name: 'Backlog', type: 'backlog', color: '#bec2c8' },
  { name: 'Todo', type: 'unstarted', color: '#e2e2e2' },
  { name: 'In Progress', type: 'started', color: '#f2c94c' },
  { name: 'Done', type: 'completed', color: '#5e6ad2' },
  { name: 'Canceled', type: 'canceled', color: '#95a2b3' },
];

export class LinearState {
  org: Organization;
  teams = new Map<string, Team>();
  states = new Map<string, WorkflowState>();
  labels = new Map<string, IssueLabel>();
  userMeta = new Map<string, UserMeta>();
  issues = new Map<string, Issue>();
  comments = new Map<string, Comment>();
  attachments = new Map<string, Attachment>();
  webhooks = new Map<string, Webhook>();
  /** Linear's `lastSyncId`: grows with every change in the workspace. */
  syncId = 1000;
  private lastMs = 0;

  readonly actors: ActorDirectory;

  constructor(actors: ActorDirectory) {
    this.actors = actors;
    const now = this.now();
    this.org = {
      id: randomUUID(),
      name: 'Lockstep Sandbox (emulated)',
      urlKey: 'lockstep-sandbox',
      createdAt: now,
    };
  }

  /**
   * A strictly increasing clock, so `updatedAt` advances on every change even within one
   * millisecond (pollers rely on `updatedAt > cursor` never missing a change).
   */
  now(): string {
    this.lastMs = Math.max(Date.now(), this.lastMs + 1);
    return new Date(this.lastMs).toISOString();
  }

  users(): EmulatedUser[] {
    return this.actors.all();
  }

  meta(userId: string): UserMeta {
    let m = this.userMeta.get(userId);
    if (!m) {
      const now = this.now();
      m = { admin: false, createdAt: now, updatedAt: now };
      this.userMeta.set(userId, m);
    }
    return m;
  }

  teamByIdOrKey(idOrKey: string): Team | undefined {
    return this.teams.get(idOrKey) ?? [...this.teams.values()].find((t) => t.key === idOrKey);
  }

  /** `issue(id:)` and `issueUpdate(id:)` take either the UUID or the identifier (ENG-12). */
  issueByIdOrIdentifier(idOrIdentifier: string): Issue | undefined {
    const byId = this.issues.get(idOrIdentifier);
    if (byId) return byId;
    const m = /^([A-Za-z0-9]+)-(\d+)$/.exec(idOrIdentifier);
    if (!m) return undefined;
    const team = [...this.teams.values()].find((t) => t.key.toUpperCase() === m[1]!.toUpperCase());
    if (!team) return undefined;
    const n = Number(m[2]);
    return [...this.issues.values()].find((i) => i.teamId === team.id && i.number === n);
  }

  identifier(issue: Issue): string {
    return `${this.teams.get(issue.teamId)!.key}-${issue.number}`;
  }

  issueUrl(issue: Issue): string {
    const slug = issue.title
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 60);
    return `https://linear.app/${this.org.urlKey}/issue/${this.identifier(issue)}${slug ? `/${slug}` : ''}`;
  }

  teamStates(teamId: string): WorkflowState[] {
    return [...this.states.values()]
      .filter((s) => s.teamId === teamId)
      .sort((a, b) => a.position - b.position);
  }

  /** Where a new issue lands without `stateId`: the first Backlog state, else Triage, else the first. */
  defaultState(teamId: string): WorkflowState {
    const states = this.teamStates(teamId);
    const s =
      states.find((x) => x.type === 'backlog') ?? states.find((x) => x.type === 'triage') ?? states[0];
    if (!s) throw new Error(`seeding team ${teamId}: it has no workflow states`);
    return s;
  }

  addTeam(t: {
    id?: string;
    key: string;
    name: string;
    states?: { id?: string; name: string; type: StateType }[];
  }): Team {
    const now = this.now();
    const team: Team = {
      id: t.id ?? randomUUID(),
      key: t.key,
      name: t.name,
      createdAt: now,
      updatedAt: now,
      issueCount: 0,
    };
    this.teams.set(team.id, team);
    const states = t.states ?? DEFAULT_STATES;
    states.forEach((s, i) => {
      const color = 'color' in s && typeof s.color === 'string' ? s.color : '#bec2c8';
      const st: WorkflowState = {
        id: ('id' in s && s.id) || randomUUID(),
        teamId: team.id,
        name: s.name,
        type: s.type,
        position: i,
        color,
        createdAt: now,
        updatedAt: now,
      };
      this.states.set(st.id, st);
    });
    return team;
  }

  seed(doc: LinearSeed): void {
    if (doc.organization) Object.assign(this.org, stripUndefined(doc.organization));
    for (const u of doc.users ?? []) {
      const id = u.id ?? randomUUID();
      this.actors.add({ id, name: u.name, email: u.email, isBot: u.bot ?? false, tokens: u.tokens ?? [] });
      const now = this.now();
      this.userMeta.set(id, { admin: u.admin ?? false, createdAt: now, updatedAt: now });
    }
    for (const t of doc.teams ?? []) this.addTeam(t);
    for (const l of doc.labels ?? []) {
      const now = this.now();
      const team = l.teamKey ? this.mustTeam(l.teamKey) : null;
      const label: IssueLabel = {
        id: l.id ?? randomUUID(),
        name: l.name,
        color: l.color ?? '#5e6ad2',
        description: null,
        teamId: team?.id ?? null,
        creatorId: null,
        createdAt: now,
        updatedAt: now,
      };
      this.labels.set(label.id, label);
    }
    for (const i of doc.issues ?? []) {
      const team = this.mustTeam(i.teamKey);
      const state = i.state
        ? this.teamStates(team.id).find((s) => s.name === i.state)
        : this.defaultState(team.id);
      if (!state) throw new Error(`seeding issue "${i.title}": team ${team.key} has no state "${i.state}"`);
      const createdAt = i.createdAt ?? this.now();
      const issue: Issue = {
        id: i.id ?? randomUUID(),
        teamId: team.id,
        number: ++team.issueCount,
        title: i.title,
        description: i.description ?? null,
        priority: i.priority ?? 0,
        stateId: state.id,
        assigneeId: i.assigneeEmail ? this.mustUser(i.assigneeEmail).id : null,
        creatorId: i.creatorEmail ? this.mustUser(i.creatorEmail).id : null,
        labelIds: (i.labels ?? []).map((n) => this.mustLabel(n, team.id).id),
        dueDate: i.dueDate ?? null,
        createdAt,
        updatedAt: i.updatedAt ?? createdAt,
        startedAt: state.type === 'started' ? createdAt : null,
        completedAt: state.type === 'completed' ? createdAt : null,
        canceledAt: state.type === 'canceled' ? createdAt : null,
        archivedAt: null,
        trashed: false,
      };
      this.issues.set(issue.id, issue);
    }
    for (const c of doc.comments ?? []) {
      const issue = this.issueByIdOrIdentifier(c.issue);
      if (!issue) throw new Error(`seeding comment: no issue ${c.issue}`);
      const createdAt = c.createdAt ?? this.now();
      const comment: Comment = {
        id: c.id ?? randomUUID(),
        issueId: issue.id,
        userId: this.mustUser(c.userEmail).id,
        parentId: null,
        body: c.body,
        createdAt,
        updatedAt: createdAt,
        editedAt: null,
        archivedAt: null,
      };
      this.comments.set(comment.id, comment);
    }
    for (const w of doc.webhooks ?? []) {
      const now = this.now();
      const hook: Webhook = {
        id: w.id ?? randomUUID(),
        url: w.url,
        label: w.label ?? null,
        secret: w.secret ?? newSecret(),
        teamId: w.teamKey ? this.mustTeam(w.teamKey).id : null,
        allPublicTeams: w.allPublicTeams ?? !w.teamKey,
        resourceTypes: w.resourceTypes,
        enabled: true,
        creatorId: null,
        createdAt: now,
        updatedAt: now,
      };
      this.webhooks.set(hook.id, hook);
    }
    this.syncId++;
  }

  snapshot(): unknown {
    return {
      organization: this.org,
      users: this.users().map((u) => ({ ...u, ...this.meta(u.id) })),
      teams: [...this.teams.values()],
      workflowStates: [...this.states.values()],
      labels: [...this.labels.values()],
      issues: [...this.issues.values()].map((i) => ({ ...i, identifier: this.identifier(i) })),
      comments: [...this.comments.values()],
      attachments: [...this.attachments.values()],
      webhooks: [...this.webhooks.values()],
      lastSyncId: this.syncId,
    };
  }

  private mustTeam(key: string): Team {
    const t = this.teamByIdOrKey(key);
    if (!t) throw new Error(`seeding: no team ${key}`);
    return t;
  }
  private mustUser(email: string): EmulatedUser {
    const u = this.actors.byEmail(email);
    if (!u) throw new Error(`seeding: no user ${email}`);
    return u;
  }
  private mustLabel(name: string, teamId: string): IssueLabel {
    const l = [...this.labels.values()].find(
      (x) => x.name === name && (x.teamId === null || x.teamId === teamId),
    );
    if (!l) throw new Error(`seeding: no label ${name}`);
    return l;
  }
}

/** Linear generates a signing secret when `webhookCreate` gets none. */
export function newSecret(): string {
  return `lin_wh_${randomUUID().replace(/-/g, '')}`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
