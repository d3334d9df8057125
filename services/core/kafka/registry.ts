/**
 * Confluent-compatible schema registry access. Encoding/decoding (wire format: magic 0, 4-byte
 * big-endian schema id, Avro body) goes through @kafkajs/confluent-schema-registry; registration
 * and compatibility calls are plain REST because the library's register() first reads
 * GET /config/{subject} and treats only a 404 as "new subject" — Apicurio's ccompat API answers
 * that call differently, so we set the subject's compatibility explicitly instead.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { LockstepError } from '../errors/index.ts';
import {
  schemaForTopic,
  schemaText,
  valueSubject,
  type SchemaName,
  type SchemaTypes,
  type TopicsConfig,
} from './schemas.ts';

export type Compatibility =
  'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE' | 'NONE';

const CT = 'application/vnd.schemaregistry.v1+json';

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { 'content-type': CT, accept: CT },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new LockstepError(`calling schema registry ${method} ${url}`, { category: 'network', cause: err });
  }
  const text = await res.text();
  if (!res.ok) {
    const category =
      res.status === 404
        ? 'not_found'
        : res.status === 409
          ? 'conflict'
          : res.status === 422
            ? 'validation'
            : res.status >= 500
              ? 'network'
              : 'unknown';
    throw new LockstepError(`calling schema registry ${method} ${url}`, {
      category,
      cause: `HTTP ${res.status} ${text.slice(0, 500)}`,
    });
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface AvroRegistry {
  /** Base URL of the Confluent-compatible API (Apicurio: …/apis/ccompat/v7). */
  readonly url: string;
  /** Set the subject's compatibility, then register the schema (idempotent: same schema → same id). */
  register(subject: string, schema: string, compatibility?: Compatibility): Promise<number>;
  /** Registry answer to "can `schema` be added to `subject`?" — undefined when the subject has no versions. */
  checkCompatibility(
    subject: string,
    schema: string,
  ): Promise<{ compatible: boolean; messages: string[] } | undefined>;
  latest(subject: string): Promise<{ id: number; version: number; schema: string } | undefined>;
  schemaById(id: number): Promise<string>;
  subjects(): Promise<string[]>;
  /** Wire-format encode with the given registered schema id. */
  encode(id: number, value: unknown): Promise<Buffer>;
  /** Wire-format decode; with `readerSchema`, resolves the writer's data into that schema. */
  decode(buf: Buffer, readerSchema?: string): Promise<unknown>;
}

/**
 * A record that can never be decoded, whatever is retried: not the Confluent wire format, a schema
 * id the registry answers 404 for, a schema that is not Avro, a body that does not match its
 * schema. Dead-letter it. Any other decode failure (registry unreachable, 5xx, timeout, auth) is a
 * dependency problem and is retriable.
 */
export function isUndecodable(err: unknown): boolean {
  return err instanceof LockstepError && err.category === 'validation' && !err.retriable;
}

function parseSchema(text: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(text) as avro.Schema);
}

function undecodable(action: string, cause: unknown): LockstepError {
  return new LockstepError(action, { category: 'validation', retriable: false, cause });
}

export function createRegistry(url: string): AvroRegistry {
  const base = url.replace(/\/+$/, '');
  const lib = new SchemaRegistry({ host: base });
  // Writer schemas by id, fetched with our own `call` rather than the library's getSchema: its
  // HTTP layer turns a refused connection into a response with status 400, indistinguishable from
  // a real 400, and we must tell "the registry is down" (wait) from "no such id" (poison).
  const writers = new Map<number, Promise<avro.Type>>();
  function writerSchema(id: number): Promise<avro.Type> {
    let w = writers.get(id);
    if (!w) {
      w = (async () => {
        let text: string;
        let schemaType: string | undefined;
        try {
          ({ schema: text, schemaType } = await call<{ schema: string; schemaType?: string }>(
            'GET',
            `${base}/schemas/ids/${id}`,
          ));
        } catch (err) {
          if (err instanceof LockstepError && err.category === 'not_found')
            throw undecodable(
              `decoding Avro record with schema ${id}`,
              'the registry has no schema with this id',
            );
          // Unreachable, 5xx, auth: the record is fine, the registry is not (yet).
          throw new LockstepError(`decoding Avro record with schema ${id}`, {
            category: 'network',
            retriable: true,
            cause: err,
          });
        }
        if (schemaType !== undefined && schemaType !== 'AVRO')
          throw undecodable(`decoding Avro record with schema ${id}`, `a ${schemaType} schema, not Avro`);
        try {
          return avro.Type.forSchema(JSON.parse(text) as avro.Schema);
        } catch (err) {
          throw undecodable(`decoding Avro record with schema ${id}`, err);
        }
      })();
      writers.set(id, w);
      w.catch(() => writers.delete(id)); // a failed fetch is retried on the next record
    }
    return w;
  }
  // The library's decode() re-parses the reader schema and rebuilds the resolver per message;
  // cache both per (writer id, reader schema) instead.
  const readers = new Map<string, avro.Type>();
  const resolvers = new Map<string, { reader: avro.Type; resolver: avro.Resolver | undefined }>();
  async function decode(buf: Buffer, readerSchema?: string): Promise<unknown> {
    if (buf.length < 5 || buf[0] !== 0)
      throw undecodable('decoding Avro record', `not Confluent wire format (magic byte ${buf[0]})`);
    const id = buf.readInt32BE(1);
    const writer = await writerSchema(id);
    const body = buf.subarray(5);
    try {
      if (!readerSchema) return writer.fromBuffer(body);
      const r = resolverFor(id, writer, readerSchema);
      return r.reader.fromBuffer(body, r.resolver);
    } catch (err) {
      // Truncated or trailing bytes, a bad union index, a writer the reader cannot resolve.
      throw undecodable(`decoding Avro record with schema ${id}`, err);
    }
  }
  function resolverFor(id: number, writer: avro.Type, readerSchema: string) {
    const key = `${id}\0${readerSchema}`;
    let r = resolvers.get(key);
    if (!r) {
      let reader = readers.get(readerSchema);
      if (!reader) readers.set(readerSchema, (reader = parseSchema(readerSchema)));
      r = { reader, resolver: reader.equals(writer) ? undefined : reader.createResolver(writer) };
      resolvers.set(key, r);
    }
    return r;
  }
  const sub = (s: string) => `${base}/subjects/${encodeURIComponent(s)}`;
  return {
    url: base,
    async register(subject, schema, compatibility = 'BACKWARD') {
      await call('PUT', `${base}/config/${encodeURIComponent(subject)}`, { compatibility });
      const { id } = await call<{ id: number }>('POST', `${sub(subject)}/versions`, { schema });
      return id;
    },
    async checkCompatibility(subject, schema) {
      // Apicurio's ccompat API answers is_compatible=true for a subject that does not exist
      // (Confluent answers 404), so look for a latest version first.
      if ((await this.latest(subject)) === undefined) return undefined;
      const r = await call<{ is_compatible: boolean; messages?: string[] }>(
        'POST',
        `${base}/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
        { schema },
      );
      return { compatible: r.is_compatible, messages: r.messages ?? [] };
    },
    async latest(subject) {
      try {
        return await call<{ id: number; version: number; schema: string }>(
          'GET',
          `${sub(subject)}/versions/latest`,
        );
      } catch (err) {
        if (err instanceof LockstepError && err.category === 'not_found') return undefined;
        throw err;
      }
    },
    async schemaById(id) {
      return (await call<{ schema: string }>('GET', `${base}/schemas/ids/${id}`)).schema;
    },
    subjects: () => call<string[]>('GET', `${base}/subjects`),
    encode: (id, value) => lib.encode(id, value),
    decode,
  };
}

/**
 * Topic-aware serde: a topic's value schema comes from the topic table; the schema is registered
 * (under `<topic>-value`, BACKWARD) on first use, so the id on the wire is always that of the exact
 * schema this process was built with, and consumers decode into their own current schema.
 */
export interface AvroSerde {
  readonly registry: AvroRegistry;
  serialize<N extends SchemaName>(topic: string, value: SchemaTypes[N]): Promise<Buffer>;
  deserialize(topic: string, buf: Buffer): Promise<unknown>;
}

export function createSerde(registry: AvroRegistry, topics: TopicsConfig, schemasDir?: string): AvroSerde {
  const ids = new Map<string, Promise<number>>();
  function schemaOf(topic: string): SchemaName {
    const name = schemaForTopic(topics, topic);
    if (!name)
      throw new LockstepError(`serializing to ${topic}: no schema is mapped to this topic`, {
        category: 'validation',
      });
    return name;
  }
  return {
    registry,
    async serialize(topic, value) {
      const text = schemaText(schemaOf(topic), schemasDir);
      let id = ids.get(topic);
      if (!id) {
        id = registry.register(valueSubject(topic), text);
        id.catch(() => ids.delete(topic)); // a failed registration is retried on the next message
        ids.set(topic, id);
      }
      return registry.encode(await id, value);
    },
    deserialize(topic, buf) {
      const name = schemaForTopic(topics, topic);
      return registry.decode(buf, name ? schemaText(name, schemasDir) : undefined);
    },
  };
}
