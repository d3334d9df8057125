/**
 * Who acts: the token in the request decides. The token Lockstep is configured with maps to the
 * platform's bot user and a seeded token to its person; a token never issued (or revoked through
 * the control API) is refused with the platform's 401, as the platforms refuse it. A test makes a
 * "human" edit with the official SDKs and a seeded person's token, or adds a person first.
 */

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

  /**
   * The user a token acts as; undefined for a token that was never issued or was revoked: the
   * platforms answer such a request 401, and so do the emulators.
   */
  byToken(token: string): EmulatedUser | undefined {
    return this.byTokenMap.get(token);
  }

  /** Revokes a token (as a person deleting an API key): its requests are answered 401 from now on. */
  revoke(token: string): boolean {
    const user = this.byTokenMap.get(token);
    if (!user) return false;
    this.byTokenMap.delete(token);
    user.tokens = user.tokens.filter((t) => t !== token);
    return true;
  }

  /** Issues a token to an existing user (an API key made again after a revocation). */
  issue(userId: string, token: string): boolean {
    const user = this.users.get(userId);
    if (!user) return false;
    if (!user.tokens.includes(token)) user.tokens.push(token);
    this.byTokenMap.set(token, user);
    return true;
  }
}
