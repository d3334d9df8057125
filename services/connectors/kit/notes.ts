/**
 * How Lockstep's own notes (egress/notes.ts) are told from people's comments, on every platform.
 * A note's last paragraph is its marker, `lockstep-note:<noteId>` in plain text: plain text
 * survives every platform's body format (markdown, ADF, html) and its round trip through the
 * connector's normalize, so a webhook or a poll that sees the note's comment can drop it before
 * it becomes a change event — a note is never mirrored to the other side as a comment, whatever
 * the bot user lookup said. A person's comment that quotes the marker is dropped too; the marker
 * is said to be Lockstep's in the note itself.
 */

const MARKER_PREFIX = 'lockstep-note:';
const MARKER = /lockstep-note:([0-9a-f]{16,64})/;

/** The marker text a note's body ends with. */
export function noteMarkerText(noteId: string): string {
  return `${MARKER_PREFIX}${noteId}`;
}

/** The note id a comment body carries, or null for a comment that is not a Lockstep note. */
export function noteIdIn(body: string | null | undefined): string | null {
  if (!body) return null;
  return MARKER.exec(body)?.[1] ?? null;
}

/** The comment create marker a note's comment carries (Jira property, Linear client id seed). */
export function noteCreateMarker(noteId: string): string {
  return `note:${noteId}`;
}

/**
 * True for a comment that is Lockstep's own note: it carries the marker and was not written by
 * someone known not to be Lockstep's bot user (a person quoting a note keeps their comment).
 */
export function isLockstepNote(
  body: string | null | undefined,
  authorId: string | null | undefined,
  botUserId: string | null,
): boolean {
  if (noteIdIn(body) === null) return false;
  return !(authorId && botUserId && authorId !== botUserId);
}
