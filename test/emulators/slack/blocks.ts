/**
 * Block Kit checks for a message's `blocks` (chat.postMessage, chat.update), with the limits of
 * Slack's Block Kit reference (docs.slack.dev/reference/block-kit/blocks). Slack answers a
 * violation with `invalid_blocks` and `[ERROR] <what> [json-pointer:<where>]` messages; the
 * pointer form is Slack's, the wording of `<what>` is the emulator's.
 */

export type Blocks = Record<string, unknown>[];

/** Parsed blocks, or the error Slack gives with its messages. */
export type BlocksResult =
  { blocks: Blocks } | { error: 'invalid_blocks' | 'invalid_blocks_format'; messages: string[] };

const MAX_BLOCKS = 50;

/** The block types a message may carry, each with the checks of its reference page. */
const BLOCK_CHECKS: Record<string, (b: Record<string, unknown>, at: string, out: string[]) => void> = {
  section(b, at, out) {
    if (b['text'] === undefined && b['fields'] === undefined)
      out.push(problem('a section needs text or fields', at));
    if (b['text'] !== undefined) textObject(b['text'], `${at}/text`, 3000, out);
    if (b['fields'] !== undefined) {
      const fields = b['fields'];
      if (!Array.isArray(fields) || fields.length === 0)
        out.push(problem('fields must be a non-empty array', `${at}/fields`));
      else if (fields.length > 10) out.push(problem('no more than 10 items allowed', `${at}/fields`));
      else fields.forEach((f, i) => textObject(f, `${at}/fields/${i}`, 2000, out));
    }
    if (b['accessory'] !== undefined) element(b['accessory'], `${at}/accessory`, out);
  },
  header(b, at, out) {
    textObject(b['text'], `${at}/text`, 150, out, 'plain_text');
  },
  context(b, at, out) {
    const els = b['elements'];
    if (!Array.isArray(els) || els.length === 0)
      return void out.push(problem('elements must be a non-empty array', `${at}/elements`));
    if (els.length > 10) return void out.push(problem('no more than 10 items allowed', `${at}/elements`));
    els.forEach((e, i) => {
      const p = `${at}/elements/${i}`;
      if (isObject(e) && e['type'] === 'image') imageFields(e, p, out);
      else textObject(e, p, 3000, out);
    });
  },
  divider() {},
  actions(b, at, out) {
    const els = b['elements'];
    if (!Array.isArray(els) || els.length === 0)
      return void out.push(problem('elements must be a non-empty array', `${at}/elements`));
    if (els.length > 25) return void out.push(problem('no more than 25 items allowed', `${at}/elements`));
    els.forEach((e, i) => element(e, `${at}/elements/${i}`, out));
  },
  image(b, at, out) {
    imageFields(b, at, out);
    if (b['title'] !== undefined) textObject(b['title'], `${at}/title`, 2000, out, 'plain_text');
  },
  rich_text(b, at, out) {
    if (!Array.isArray(b['elements'])) out.push(problem('elements must be an array', `${at}/elements`));
  },
  input(b, at, out) {
    textObject(b['label'], `${at}/label`, 2000, out, 'plain_text');
    element(b['element'], `${at}/element`, out);
    if (b['hint'] !== undefined) textObject(b['hint'], `${at}/hint`, 2000, out, 'plain_text');
  },
  file(b, at, out) {
    if (typeof b['external_id'] !== 'string' || b['external_id'] === '')
      out.push(problem('external_id is required', `${at}/external_id`));
    if (b['source'] !== 'remote') out.push(problem("source must be 'remote'", `${at}/source`));
  },
  video(b, at, out) {
    for (const f of ['alt_text', 'thumbnail_url', 'video_url'])
      if (typeof b[f] !== 'string' || b[f] === '') out.push(problem(`${f} is required`, `${at}/${f}`));
    textObject(b['title'], `${at}/title`, 200, out, 'plain_text');
  },
  markdown(b, at, out) {
    const t = b['text'];
    if (typeof t !== 'string' || t === '') out.push(problem('text is required', `${at}/text`));
    else if (t.length > 12_000) out.push(problem('must be at most 12000 characters', `${at}/text`));
  },
};

/** `blocks` as Slack takes it: a JSON string (form bodies) or the array itself (JSON bodies). */
export function checkBlocks(raw: unknown): BlocksResult {
  let parsed: unknown = raw;
  if (typeof raw === 'string') {
    try {
      parsed = JSON.parse(raw);
    } catch {
      return { error: 'invalid_blocks_format', messages: [problem('blocks is not valid JSON', '/blocks')] };
    }
  }
  if (!Array.isArray(parsed))
    return { error: 'invalid_blocks_format', messages: [problem('blocks must be an array', '/blocks')] };
  if (parsed.length > MAX_BLOCKS)
    return {
      error: 'invalid_blocks',
      messages: [problem(`no more than ${MAX_BLOCKS} items allowed`, '/blocks')],
    };
  const out: string[] = [];
  const ids = new Set<string>();
  parsed.forEach((b: unknown, i) => {
    const at = `/blocks/${i}`;
    if (!isObject(b)) return void out.push(problem('must provide an object', at));
    const id = b['block_id'];
    if (id !== undefined) {
      if (typeof id !== 'string' || id === '' || id.length > 255)
        out.push(problem('block_id must be a string of 1 to 255 characters', `${at}/block_id`));
      else if (ids.has(id))
        out.push(problem(`block_id ${id} is not unique in the message`, `${at}/block_id`));
      else ids.add(id);
    }
    const check = typeof b['type'] === 'string' ? BLOCK_CHECKS[b['type']] : undefined;
    if (!check) return void out.push(problem(`unknown block type: ${String(b['type'])}`, `${at}/type`));
    check(b, at, out);
  });
  return out.length > 0 ? { error: 'invalid_blocks', messages: out } : { blocks: parsed as Blocks };
}

function problem(what: string, pointer: string): string {
  return `[ERROR] ${what} [json-pointer:${pointer}]`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A composition text object: `{type: 'plain_text'|'mrkdwn', text}`, text 1..max characters. */
function textObject(v: unknown, at: string, max: number, out: string[], only?: 'plain_text'): void {
  if (!isObject(v)) return void out.push(problem('must provide a text object', at));
  const allowed = only ? [only] : ['plain_text', 'mrkdwn'];
  if (typeof v['type'] !== 'string' || !allowed.includes(v['type']))
    out.push(problem(`text type must be ${allowed.join(' or ')}`, `${at}/type`));
  const t = v['text'];
  if (typeof t !== 'string' || t === '') out.push(problem('text is required', `${at}/text`));
  else if (t.length > max) out.push(problem(`must be at most ${max} characters`, `${at}/text`));
}

/** Interactive elements are not modelled beyond being typed objects. */
function element(v: unknown, at: string, out: string[]): void {
  if (!isObject(v) || typeof v['type'] !== 'string') out.push(problem('must provide an element object', at));
}

function imageFields(b: Record<string, unknown>, at: string, out: string[]): void {
  const url = b['image_url'];
  if (url === undefined && !isObject(b['slack_file']))
    out.push(problem('image_url or slack_file is required', `${at}/image_url`));
  else if (url !== undefined && (typeof url !== 'string' || url === '' || url.length > 3000))
    out.push(problem('image_url must be a string of 1 to 3000 characters', `${at}/image_url`));
  const alt = b['alt_text'];
  if (typeof alt !== 'string' || alt === '') out.push(problem('alt_text is required', `${at}/alt_text`));
  else if (alt.length > 2000) out.push(problem('must be at most 2000 characters', `${at}/alt_text`));
}
