/**
 * Who acts: the token in the request decides. Any token is accepted. The token Lockstep is
 * configured with maps to the platform's bot user; a seeded token maps to its person; any other
 * token becomes a new person, so a test can make "human" edits with the official SDKs.
 */
import { createHash } from 'node:crypto';

export interface EmulatedUser {
  id: string;
  name: string;
  email: string | null;
  isBot: boolean;
  /** Tokens that act as this user. */
  tokens: string[];
}

export class ActorDirectory {
  private users = new Map<string, EmulatedUser>();
  private byTokenMap = new Map<string, EmulatedUser>();

  private readonly idPrefix: string;

  constructor(idPrefix: string) {
    this.idPrefix = idPrefix;
  }

  reset(): void {
    this.users.clear();
    this.byTokenMap.clear();
  }

  add(user: EmulatedUser): EmulatedUser {
    this.users.set(user.id, user);
    for (const t of user.tokens) this.byTokenMap.set(t, user);
    return user;
  }

  get(id: string): EmulatedUser | undefined {
    return this.users.get(id);
  }

  all(): EmulatedUser[] {
    return [...this.users.values()];
  }

  byEmail(email: string): EmulatedUser | undefined {
    const e = email.toLowerCase();
    return this.all().find((u) => u.email?.toLowerCase() === e);
  }

  /** Maps any token to a user, creating a person for a token never seen before. */
  byToken(token: string): EmulatedUser {
    const known = this.byTokenMap.get(token);
    if (known) return known;
    const digest = createHash('sha256').update(token).digest('hex').slice(0, 10);
    return this.add({
      id: `${this.idPrefix}${digest}`,
      name: `Person ${digest}`,
      email: null,
      isBot: false,
      tokens: [token],
    });
  }
}
