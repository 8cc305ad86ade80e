/**
 * An independent codec for records in the Confluent wire format, for the Schema Registry tests:
 * it uses none of our src/ code. Schemas go to and come from a registry through its REST API;
 * payloads are encoded and decoded with avsc (Avro), protobufjs (Protobuf) and ajv + JSON.parse
 * (JSON Schema); records are produced and read with Kafka's own Java client (./peers.ts).
 * The wire format itself is in ./sr-wire.ts (re-exported here).
 *
 * The test schemas, per topic T (TopicRecordNameStrategy for values, TopicNameStrategy for keys,
 * one subject shared by every topic for the referenced .proto):
 *
 *   T-key                Avro   kb.test.RecordKey {id: string}              every record's key
 *   T-kb.test.Payment    Avro   record with a nested record, an enum, a [null, string] union,
 *                               decimal bytes, an array, a map, a double
 *   kb.common.proto      Protobuf  package kb.common: Money, enum Status    (referenced, as the
 *                               import kb/common.proto)
 *   T-kb.test.Order      Protobuf  imports kb/common.proto; messages OrderLine (index [0]),
 *                               Order ([1]) and Order.Audit ([1, 0])
 *   T-kb.test.Shipment   JSON Schema (draft-07) object with a nested object, an enum, a nullable
 */
import AjvModule from 'ajv';
import avsc from 'avsc';
import protobuf from 'protobufjs';
import { KAFKA_BOOTSTRAP } from './kafka.ts';
import { dumpTopic, produceSpec, type SpecRecord } from './peers.ts';
import { registryRequest } from './schema-registry.ts';
import { canonical, encodeConfluent, parseConfluent, readMessageIndexes } from './sr-wire.ts';

export { canonical, encodeConfluent, parseConfluent, readMessageIndexes, type WireRecord } from './sr-wire.ts';

export type SchemaFormat = 'AVRO' | 'PROTOBUF' | 'JSON';

/** The import path of the referenced .proto: the reference's name. */
export const COMMON_PROTO_IMPORT = 'kb/common.proto';
/**
 * Its subject by default. Confluent's default reference naming would use the import path, but
 * AxonOps Schema Registry v0.2.1 (the IMPORT-capable test registry) keeps a percent-escaped
 * subject escaped (`kb%2Fcommon.proto`), so a reference to `kb/common.proto` never resolves
 * there; registerTestSchemas takes another subject (e.g. the import path) for srfake.
 */
export const COMMON_PROTO_SUBJECT = 'kb.common.proto';

const KEY_SCHEMA = {
  type: 'record',
  name: 'RecordKey',
  namespace: 'kb.test',
  fields: [{ name: 'id', type: 'string' }],
};

const PAYMENT_SCHEMA = {
  type: 'record',
  name: 'Payment',
  namespace: 'kb.test',
  fields: [
    { name: 'id', type: 'long' },
    {
      name: 'customer',
      type: {
        type: 'record',
        name: 'Customer',
        fields: [
          { name: 'name', type: 'string' },
          { name: 'tier', type: { type: 'enum', name: 'Tier', symbols: ['GOLD', 'SILVER', 'BRONZE'] } },
        ],
      },
    },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'attempts', type: { type: 'map', values: 'int' } },
    { name: 'ratio', type: 'double' },
  ],
};

const COMMON_PROTO = `syntax = "proto3";
package kb.common;

message Money {
  string currency = 1;
  int64 units = 2;
  int32 nanos = 3;
}

enum Status {
  STATUS_UNKNOWN = 0;
  STATUS_OPEN = 1;
  STATUS_SHIPPED = 2;
}
`;

const ORDER_PROTO = `syntax = "proto3";
package kb.test;

import "${COMMON_PROTO_IMPORT}";

message OrderLine {
  string sku = 1;
  int32 quantity = 2;
  kb.common.Money price = 3;
}

message Order {
  message Audit {
    string by = 1;
    int64 at_ms = 2;
  }
  string id = 1;
  repeated OrderLine lines = 2;
  kb.common.Money total = 3;
  kb.common.Status status = 4;
  Audit audit = 5;
  map<string, string> labels = 6;
}
`;

const SHIPMENT_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'kb.test.Shipment',
  type: 'object',
  properties: {
    id: { type: 'string' },
    weightGrams: { type: 'integer' },
    express: { type: 'boolean' },
    dims: {
      type: 'object',
      properties: { w: { type: 'number' }, h: { type: 'number' } },
      required: ['w', 'h'],
      additionalProperties: false,
    },
    carrier: { enum: ['ups', 'dhl', 'post'] },
    notes: { type: ['string', 'null'] },
  },
  required: ['id', 'weightGrams', 'express', 'dims', 'carrier', 'notes'],
  additionalProperties: false,
};

export interface TestSchemas {
  topic: string;
  subjects: { key: string; avro: string; protobufCommon: string; protobuf: string; json: string };
  ids: { key: number; avro: number; protobufCommon: number; protobuf: number; json: number };
}

interface SchemaReference {
  name: string;
  subject: string;
  version: number;
}

interface RegistrySchema {
  schema: string;
  schemaType?: SchemaFormat;
  references?: SchemaReference[];
}

/** POST /subjects/{subject}/versions; returns the id the registry gave (or already had). */
export async function registerSchema(registryUrl: string, subject: string, schema: RegistrySchema): Promise<number> {
  const body: RegistrySchema = { schema: schema.schema };
  if (schema.schemaType !== undefined && schema.schemaType !== 'AVRO') body.schemaType = schema.schemaType;
  if (schema.references !== undefined && schema.references.length > 0) body.references = schema.references;
  const res = await registryRequest<{ id: number }>(
    registryUrl,
    'POST',
    `/subjects/${encodeURIComponent(subject)}/versions`,
    body,
  );
  return res.id;
}

/** The latest version number of a subject. */
async function latestVersion(registryUrl: string, subject: string): Promise<number> {
  const v = await registryRequest<{ version: number }>(
    registryUrl,
    'GET',
    `/subjects/${encodeURIComponent(subject)}/versions/latest`,
  );
  return v.version;
}

/**
 * Registers the test schemas for a topic (see the header; references first): the Avro key, the
 * Avro value, kb/common.proto (under options.commonSubject, default COMMON_PROTO_SUBJECT), the
 * Protobuf value that imports it, the JSON Schema value. Registering again is idempotent (same
 * ids). On an empty registry the ids are 1..5 in that order.
 */
export async function registerTestSchemas(
  registryUrl: string,
  topic: string,
  options: { commonSubject?: string } = {},
): Promise<TestSchemas> {
  const subjects = {
    key: `${topic}-key`,
    avro: `${topic}-kb.test.Payment`,
    protobufCommon: options.commonSubject ?? COMMON_PROTO_SUBJECT,
    protobuf: `${topic}-kb.test.Order`,
    json: `${topic}-kb.test.Shipment`,
  };
  const key = await registerSchema(registryUrl, subjects.key, { schema: JSON.stringify(KEY_SCHEMA) });
  const avro = await registerSchema(registryUrl, subjects.avro, { schema: JSON.stringify(PAYMENT_SCHEMA) });
  const protobufCommon = await registerSchema(registryUrl, subjects.protobufCommon, {
    schema: COMMON_PROTO,
    schemaType: 'PROTOBUF',
  });
  const commonVersion = await latestVersion(registryUrl, subjects.protobufCommon);
  const protobufId = await registerSchema(registryUrl, subjects.protobuf, {
    schema: ORDER_PROTO,
    schemaType: 'PROTOBUF',
    references: [{ name: COMMON_PROTO_IMPORT, subject: subjects.protobufCommon, version: commonVersion }],
  });
  const json = await registerSchema(registryUrl, subjects.json, {
    schema: JSON.stringify(SHIPMENT_SCHEMA),
    schemaType: 'JSON',
  });
  return { topic, subjects, ids: { key, avro, protobufCommon, protobuf: protobufId, json } };
}

/**
 * Registers n schemas that have nothing to do with the test schemas, under subjects
 * `unrelated-<tag>-<i>`, cycling JSON Schema, Protobuf, Avro: on an empty target its ids 1..n
 * then name other schemas (of other formats) than the same ids on the source. Returns the ids.
 */
export async function registerUnrelatedSchemas(registryUrl: string, n: number): Promise<number[]> {
  const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const subject = `unrelated-${tag}-${i}`;
    const name = `Unrelated${tag}N${i}`;
    let schema: RegistrySchema;
    if (i % 3 === 0) {
      schema = {
        schemaType: 'JSON',
        schema: JSON.stringify({
          title: name,
          type: 'object',
          properties: { [`u${i}`]: { type: 'integer' } },
          required: [`u${i}`],
          additionalProperties: false,
        }),
      };
    } else if (i % 3 === 1) {
      schema = {
        schemaType: 'PROTOBUF',
        schema: `syntax = "proto3";\npackage kb.unrelated;\nmessage ${name} { sint64 u${i} = 7; }\n`,
      };
    } else {
      schema = {
        schema: JSON.stringify({
          type: 'record',
          name,
          namespace: 'kb.unrelated',
          fields: [{ name: `u${i}`, type: 'int' }],
        }),
      };
    }
    ids.push(await registerSchema(registryUrl, subject, schema));
  }
  return ids;
}

/** Two's complement big-endian bytes of an Avro decimal's unscaled value. */
function decimalBytes(unscaled: bigint): Buffer {
  let len = 1;
  while (unscaled < -(1n << BigInt(8 * len - 1)) || unscaled >= 1n << BigInt(8 * len - 1)) len++;
  const mod = unscaled < 0n ? (1n << BigInt(8 * len)) + unscaled : unscaled;
  return Buffer.from(mod.toString(16).padStart(2 * len, '0'), 'hex');
}

// ---------------------------------------------------------------------------------------------
// Producing

/** What a produced record decodes to; compare with `comparable(decoded)`. */
export interface SchemaRecordView {
  key: unknown;
  value: unknown;
  format: SchemaFormat;
  /** Avro full name, Protobuf message full name, JSON Schema title. */
  messageType: string;
  /** Protobuf only, else null. */
  messageIndexes: number[] | null;
}

export interface ExpectedSchemaRecord extends SchemaRecordView {
  keySchemaId: number;
  valueSchemaId: number;
}

function protoRoot(files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  for (const f of files) protobuf.parse(f, root, { keepCase: true });
  root.resolveAll();
  return root;
}

const PROTO_TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/**
 * Produces `perFormat` records of each format (Avro, Protobuf, JSON Schema) to the topic with
 * Kafka's Java producer, keys in Avro (`{id: "<format>-<n>"}`), spread over `partitions`
 * partitions (the topic must exist with at least that many). Protobuf records cycle Order
 * ([1]), Order.Audit ([1, 0]) and OrderLine ([0]), Order first. Returns what every record decodes
 * to, by its key's id.
 */
export async function produceSchemaRecords(
  topic: string,
  schemas: TestSchemas,
  options: { perFormat?: number; partitions?: number; bootstrap?: string } = {},
): Promise<Map<string, ExpectedSchemaRecord>> {
  const perFormat = options.perFormat ?? 10;
  const partitions = options.partitions ?? 1;
  const keyType = avsc.Type.forSchema(KEY_SCHEMA as avsc.Schema);
  const paymentType = avsc.Type.forSchema(PAYMENT_SCHEMA as avsc.Schema);
  const root = protoRoot([COMMON_PROTO, ORDER_PROTO]);
  const expected = new Map<string, ExpectedSchemaRecord>();
  const spec: SpecRecord[] = [];
  const add = (id: string, view: Omit<ExpectedSchemaRecord, 'key' | 'keySchemaId'>, value: Buffer): void => {
    const key = { id };
    expected.set(id, { ...view, key: canonical(key), keySchemaId: schemas.ids.key });
    spec.push({
      partition: spec.length % partitions,
      key: encodeConfluent(schemas.ids.key, keyType.toBuffer(key)),
      value,
    });
  };
  const pad = (i: number) => String(i).padStart(4, '0');

  for (let i = 0; i < perFormat; i++) {
    const unscaled = BigInt(i * 12345 + 7) * (i % 2 === 0 ? 1n : -1n);
    const payment = {
      id: 1_000_000_000_000 + i,
      customer: { name: `customer ${i} ü`, tier: ['GOLD', 'SILVER', 'BRONZE'][i % 3] },
      note: i % 2 === 0 ? null : `note ${i}`,
      amount: decimalBytes(unscaled),
      tags: Array.from({ length: i % 4 }, (_, t) => `tag${t}`),
      attempts: i % 3 === 0 ? {} : { first: i, second: -i },
      ratio: i / 8,
    };
    add(
      `avro-${pad(i)}`,
      {
        value: canonical(payment),
        format: 'AVRO',
        messageType: 'kb.test.Payment',
        messageIndexes: null,
        valueSchemaId: schemas.ids.avro,
      },
      encodeConfluent(schemas.ids.avro, paymentType.toBuffer(payment)),
    );
  }

  for (let i = 0; i < perFormat; i++) {
    const money = { currency: i % 2 === 0 ? 'EUR' : 'USD', units: String(10n ** 12n + BigInt(i)), nanos: i * 1000 };
    const line = { sku: `sku-${i}`, quantity: i + 1, price: money };
    let messageType: string;
    let indexes: number[];
    let value: Record<string, unknown>;
    if (i % 3 === 0) {
      messageType = 'kb.test.Order';
      indexes = [1];
      value = {
        id: `order-${i}`,
        lines: [line, { sku: `sku-${i}-b`, quantity: 0, price: null }],
        total: money,
        status: i % 2 === 0 ? 'STATUS_OPEN' : 'STATUS_SHIPPED',
        audit: { by: `user${i}`, at_ms: String(1_700_000_000_000 + i) },
        labels: { region: 'eu', n: String(i) },
      };
    } else if (i % 3 === 1) {
      messageType = 'kb.test.Order.Audit';
      indexes = [1, 0];
      value = { by: `auditor${i}`, at_ms: String(-i) };
    } else {
      messageType = 'kb.test.OrderLine';
      indexes = [0];
      value = line;
    }
    const type = root.lookupType(messageType);
    // no verify(): it wants Long objects for int64; a misspelt field would not encode and the
    // decoded default would differ from the expected value
    const message = type.fromObject(value);
    add(
      `protobuf-${pad(i)}`,
      {
        // the full object with defaults, as the decoder reports it, written out here (not
        // re-derived from the encoded bytes) so a wrong decoding cannot agree with itself
        value: canonical(protoExpected(messageType, value)),
        format: 'PROTOBUF',
        messageType,
        messageIndexes: indexes,
        valueSchemaId: schemas.ids.protobuf,
      },
      encodeConfluent(schemas.ids.protobuf, type.encode(message).finish(), indexes),
    );
  }

  for (let i = 0; i < perFormat; i++) {
    const shipment = {
      id: `shipment-${i}`,
      weightGrams: 250 * i,
      express: i % 2 === 1,
      dims: { w: i + 0.5, h: 2 * i },
      carrier: ['ups', 'dhl', 'post'][i % 3],
      notes: i % 2 === 0 ? null : `fragile ${i} ✓`,
    };
    add(
      `json-${pad(i)}`,
      {
        value: canonical(shipment),
        format: 'JSON',
        messageType: 'kb.test.Shipment',
        messageIndexes: null,
        valueSchemaId: schemas.ids.json,
      },
      encodeConfluent(schemas.ids.json, Buffer.from(JSON.stringify(shipment), 'utf8')),
    );
  }

  await produceSpec(topic, spec, { bootstrap: options.bootstrap ?? KAFKA_BOOTSTRAP });
  return expected;
}

/** The test value with proto3 defaults filled in, as protobufjs's toObject(defaults) reports it. */
function protoExpected(messageType: string, value: Record<string, unknown>): Record<string, unknown> {
  const money = (m: unknown) => (m === null ? null : m);
  const line = (l: Record<string, unknown>) => ({ sku: l['sku'], quantity: l['quantity'], price: money(l['price']) });
  if (messageType === 'kb.test.OrderLine') return line(value);
  if (messageType === 'kb.test.Order.Audit') return { by: value['by'], at_ms: value['at_ms'] };
  return { ...value, lines: (value['lines'] as Record<string, unknown>[]).map(line) };
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface DecodedSchemaRecord extends SchemaRecordView {
  partition: number;
  offset: number;
  keySchemaId: number | null;
  valueSchemaId: number | null;
}

export interface DecodeFailure {
  partition: number;
  offset: number;
  part: 'key' | 'value';
  schemaId: number | null;
  error: string;
}

export interface DecodedTopic {
  /** By the key's id field (`raw:<base64>` when the key does not decode to one). */
  records: Map<string, DecodedSchemaRecord>;
  /** Every schema id seen in keys and values, ascending. */
  ids: number[];
  failures: DecodeFailure[];
  /** Records read, decoded or not. */
  count: number;
}

/** The parts of a record that must survive a backup and restore unchanged (ids may change). */
export function comparable(r: SchemaRecordView): SchemaRecordView {
  return { key: r.key, value: r.value, format: r.format, messageType: r.messageType, messageIndexes: r.messageIndexes };
}

interface FetchedSchema {
  id: number;
  format: SchemaFormat;
  schema: string;
  references: SchemaReference[];
}

interface ResolvedReference {
  name: string;
  format: SchemaFormat;
  schema: string;
}

type Decoder = (body: Buffer) => {
  value: unknown;
  format: SchemaFormat;
  messageType: string;
  messageIndexes: number[] | null;
};

/** Reads a registry's schemas (and what they reference) by id, once each, and builds decoders. */
class RegistryDecoders {
  private readonly decoders = new Map<number, Promise<Decoder>>();
  private readonly url: string;

  constructor(url: string) {
    this.url = url;
  }

  decoder(id: number): Promise<Decoder> {
    let d = this.decoders.get(id);
    if (d === undefined) {
      d = this.build(id);
      this.decoders.set(id, d);
    }
    return d;
  }

  private async build(id: number): Promise<Decoder> {
    const s = await registryRequest<RegistrySchema>(this.url, 'GET', `/schemas/ids/${id}`);
    const fetched: FetchedSchema = {
      id,
      format: s.schemaType ?? 'AVRO',
      schema: s.schema,
      references: s.references ?? [],
    };
    const refs = await this.references(fetched.references, new Set());
    if (fetched.format === 'AVRO') return avroDecoder(fetched, refs);
    if (fetched.format === 'PROTOBUF') return protobufDecoder(fetched, refs);
    return jsonDecoder(fetched, refs);
  }

  /** The referenced schemas, depth first, dependencies before their dependants. */
  private async references(refs: SchemaReference[], seen: Set<string>): Promise<ResolvedReference[]> {
    const out: ResolvedReference[] = [];
    for (const ref of refs) {
      const key = `${ref.subject}/${ref.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const v = await registryRequest<RegistrySchema>(
        this.url,
        'GET',
        `/subjects/${encodeURIComponent(ref.subject)}/versions/${ref.version}`,
      );
      out.push(...(await this.references(v.references ?? [], seen)));
      out.push({ name: ref.name, format: v.schemaType ?? 'AVRO', schema: v.schema });
    }
    return out;
  }
}

function avroDecoder(s: FetchedSchema, refs: ResolvedReference[]): Decoder {
  const registry = {};
  for (const r of refs) avsc.Type.forSchema(JSON.parse(r.schema), { registry });
  const type = avsc.Type.forSchema(JSON.parse(s.schema), { registry });
  const name = type.name ?? type.typeName;
  return (body) => ({
    value: canonical(type.fromBuffer(body)),
    format: 'AVRO',
    messageType: name,
    messageIndexes: null,
  });
}

function protobufDecoder(s: FetchedSchema, refs: ResolvedReference[]): Decoder {
  const root = protoRoot([...refs.map((r) => r.schema), s.schema]);
  // the file's own message types, in declaration order: what message indexes count
  const own = protobuf.parse(s.schema, new protobuf.Root(), { keepCase: true });
  const top = own.package === undefined ? own.root : own.root.lookup(own.package);
  if (!(top instanceof protobuf.Namespace)) throw new Error(`schema ${s.id}: no package namespace`);
  const messagesOf = (ns: protobuf.NamespaceBase) => ns.nestedArray.filter((n) => n instanceof protobuf.Type);
  return (body) => {
    const { indexes, payload } = readMessageIndexes(body);
    let level: protobuf.NamespaceBase = top;
    let type: protobuf.Type | undefined;
    for (const i of indexes) {
      type = messagesOf(level)[i];
      if (type === undefined) throw new Error(`message index ${indexes.join(',')} names no message of schema ${s.id}`);
      level = type;
    }
    if (type === undefined) throw new Error(`no message indexes in a record of schema ${s.id}`);
    const fullName = type.fullName.replace(/^\./, '');
    const resolved = root.lookupType(fullName);
    const message = resolved.decode(payload);
    return {
      value: canonical(resolved.toObject(message, PROTO_TO_OBJECT)),
      format: 'PROTOBUF',
      messageType: fullName,
      messageIndexes: indexes,
    };
  };
}

function jsonDecoder(s: FetchedSchema, refs: ResolvedReference[]): Decoder {
  const ajv = new AjvModule.default({ strict: false, allErrors: true });
  for (const r of refs) ajv.addSchema(JSON.parse(r.schema), r.name);
  const schema = JSON.parse(s.schema) as { title?: string };
  const validate = ajv.compile(schema);
  return (body) => {
    const value = JSON.parse(body.toString('utf8'));
    if (!validate(value)) throw new Error(`does not match JSON schema ${s.id}: ${ajv.errorsText(validate.errors)}`);
    return { value: canonical(value), format: 'JSON', messageType: schema.title ?? '', messageIndexes: null };
  };
}

/**
 * Reads every record of the topic with Kafka's Java consumer and decodes keys and values in the
 * wire format with the schemas the given registry holds under their ids (references followed
 * through /subjects/{s}/versions/{v}). A key that is not in the wire format is kept as bytes
 * ({"$bytes": hex}, keySchemaId null). A record that does not decode (unknown id, wrong schema, a
 * value not in the wire format) is listed in failures, not thrown, so a test can assert on them.
 */
export async function decodeTopicWithRegistry(
  bootstrap: string,
  topic: string,
  registryUrl: string,
): Promise<DecodedTopic> {
  const dumped = await dumpTopic(topic, { bootstrap });
  const decoders = new RegistryDecoders(registryUrl);
  const ids = new Set<number>();
  const records = new Map<string, DecodedSchemaRecord>();
  const failures: DecodeFailure[] = [];

  const decodePart = async (
    b64: string | null,
    part: 'key' | 'value',
    at: { partition: number; offset: number },
  ): Promise<{ schemaId: number | null; decoded: ReturnType<Decoder> | null } | undefined> => {
    if (b64 === null) return { schemaId: null, decoded: null };
    const wire = parseConfluent(Buffer.from(b64, 'base64'));
    if (wire === null && part === 'key') {
      // plain keys (a string, a number) are common next to wire-format values: kept as bytes
      const raw = canonical(Buffer.from(b64, 'base64'));
      return { schemaId: null, decoded: { value: raw, format: 'JSON', messageType: '', messageIndexes: null } };
    }
    if (wire === null) {
      failures.push({ ...at, part, schemaId: null, error: 'not in the Confluent wire format' });
      return undefined;
    }
    ids.add(wire.schemaId);
    try {
      const decoder = await decoders.decoder(wire.schemaId);
      return { schemaId: wire.schemaId, decoded: decoder(wire.body) };
    } catch (e) {
      failures.push({ ...at, part, schemaId: wire.schemaId, error: (e as Error).message });
      return undefined;
    }
  };

  for (const r of dumped) {
    const at = { partition: r.partition, offset: r.offset };
    const key = await decodePart(r.key, 'key', at);
    const value = await decodePart(r.value, 'value', at);
    if (key === undefined || value === undefined) continue;
    const keyValue = key.decoded?.value ?? null;
    const id =
      keyValue !== null && typeof keyValue === 'object' && typeof (keyValue as { id?: unknown }).id === 'string'
        ? (keyValue as { id: string }).id
        : `raw:${r.key ?? 'null'}`;
    records.set(id, {
      partition: r.partition,
      offset: r.offset,
      key: keyValue,
      keySchemaId: key.schemaId,
      value: value.decoded?.value ?? null,
      valueSchemaId: value.schemaId,
      // a tombstone has no format; it decodes to null under any
      format: value.decoded?.format ?? 'JSON',
      messageType: value.decoded?.messageType ?? '',
      messageIndexes: value.decoded?.messageIndexes ?? null,
    });
  }
  return { records, ids: [...ids].sort((a, b) => a - b), failures, count: dumped.length };
}
