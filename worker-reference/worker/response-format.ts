/**
 * OpenAI's `response_format`: plain text, any JSON object (`json_object`) or JSON matching a
 * schema (`json_schema`). JSON is enforced while the model samples, by a llama.cpp grammar
 * (node-llama-cpp's JSON grammar, or the grammar it builds for a JSON schema). A schema may use
 * only the keywords that grammar enforces: anything else is refused with a 400 naming it, never
 * accepted and left unenforced.
 */
import { ApiError } from '../common/http';

/** A JSON schema in the subset node-llama-cpp turns into a grammar (its `GbnfJsonSchema`). */
export type GrammarSchema = { readonly [key: string]: unknown };

export type ResponseFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name: string; schema: GrammarSchema };

const bad = (message: string) => new ApiError(400, message, 'invalid_request_error', 'unsupported_parameter', 'response_format');

/** Keywords that constrain nothing (annotations). */
const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', '$comment', '$schema', '$id']);
const PRIMITIVES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const FORMATS = new Set(['date-time', 'time', 'date']);
const KEYWORDS: Record<string, Set<string>> = {
    object: new Set(['type', 'properties', 'additionalProperties', 'required', 'minProperties', 'maxProperties', '$defs']),
    array: new Set(['type', 'items', 'prefixItems', 'minItems', 'maxItems', '$defs']),
    string: new Set(['type', 'minLength', 'maxLength', 'format']),
    primitive: new Set(['type']),
    // `type` beside const / enum is common ({type: "string", enum: [...]}); the values decide.
    const: new Set(['const', 'type']),
    enum: new Set(['enum', 'type']),
    oneOf: new Set(['oneOf', 'anyOf', '$defs']),
    ref: new Set(['$ref', '$defs']),
};
/** Schemas nested at most this deep (node-llama-cpp refuses deep nesting too). */
const MAX_DEPTH = 32;
/**
 * A schema's bounds: its JSON size and the number of schemas in it (every property, item,
 * branch and definition counts; OpenAI allows 5,000 properties). Building the grammar runs on
 * the worker's main thread: measured here, 5,000 properties (234 KB) take ~60 ms and 20,000
 * (949 KB) ~220 ms, during which every other answer waits.
 */
export const MAX_SCHEMA_BYTES = 256 * 1024;
export const MAX_SCHEMA_NODES = 5000;

const isLiteral = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Checks `schema` against what the grammar enforces and returns the schema to build the
 * grammar from (`anyOf` becomes `oneOf`: the grammar generates one branch, which satisfies
 * either). Throws a 400 naming the first keyword or value it cannot enforce, with its path.
 */
export function grammarSchema(schema: unknown, at = '', defs: ReadonlySet<string> = new Set(), depth = 0, seen = { nodes: 0 }): GrammarSchema {
    const where = at === '' ? 'the schema' : at;
    if (depth > MAX_DEPTH) throw bad(`response_format: the json_schema nests deeper than ${MAX_DEPTH} levels`);
    if (++seen.nodes > MAX_SCHEMA_NODES) throw bad(`response_format: the json_schema holds more than ${MAX_SCHEMA_NODES} schemas (properties, items, branches and definitions)`);
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw bad(`response_format: ${where} must be a JSON schema object`);
    const s = schema as Record<string, unknown>;
    const localDefs = new Set(defs);
    let convertedDefs: Record<string, GrammarSchema> | undefined;
    if (s.$defs !== undefined) {
        if (typeof s.$defs !== 'object' || s.$defs === null || Array.isArray(s.$defs)) throw bad(`response_format: ${where}/$defs must be an object`);
        for (const name of Object.keys(s.$defs)) localDefs.add(name);
        convertedDefs = Object.fromEntries(Object.entries(s.$defs).map(([k, v]) => [k, grammarSchema(v, `${at}/$defs/${k}`, localDefs, depth + 1, seen)]));
    }
    const kind = schemaKind(s, where);
    const allowed = KEYWORDS[kind];
    for (const key of Object.keys(s))
        if (!allowed.has(key) && !ANNOTATIONS.has(key))
            throw bad(`response_format: the json_schema keyword "${key}" at ${where} is not supported (a ${kind} schema may use ${[...allowed].join(', ')}); the answer could not be held to it`);
    const out: Record<string, unknown> = {};
    if (typeof s.description === 'string') out.description = s.description;
    if (convertedDefs) out.$defs = convertedDefs;
    const sub = (v: unknown, path: string) => grammarSchema(v, path, localDefs, depth + 1, seen);
    switch (kind) {
        case 'ref': {
            const m = typeof s.$ref === 'string' ? /^#\/\$defs\/(.+)$/.exec(s.$ref) : null;
            if (!m || !localDefs.has(m[1])) throw bad(`response_format: $ref at ${where} must be "#/$defs/<name>" of a defined name`);
            return { ...out, $ref: s.$ref };
        }
        case 'const':
            if (!isLiteral(s.const)) throw bad(`response_format: const at ${where} must be a string, number, boolean or null`);
            return { ...out, const: s.const };
        case 'enum':
            if (!Array.isArray(s.enum) || s.enum.length === 0 || !s.enum.every(isLiteral)) throw bad(`response_format: enum at ${where} must be a non-empty array of strings, numbers, booleans or nulls`);
            return { ...out, enum: s.enum };
        case 'oneOf': {
            if (s.oneOf !== undefined && s.anyOf !== undefined) throw bad(`response_format: ${where} has both oneOf and anyOf`);
            const key = s.oneOf !== undefined ? 'oneOf' : 'anyOf';
            const list = s[key];
            if (!Array.isArray(list) || list.length === 0) throw bad(`response_format: ${key} at ${where} must be a non-empty array`);
            return { ...out, oneOf: list.map((v, i) => sub(v, `${at}/${key}/${i}`)) };
        }
        case 'object': {
            const props = s.properties ?? {};
            if (typeof props !== 'object' || props === null || Array.isArray(props)) throw bad(`response_format: properties at ${where} must be an object`);
            const properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, sub(v, `${at}/properties/${k}`)]));
            if (s.required !== undefined && (!Array.isArray(s.required) || s.required.some((k) => typeof k !== 'string')))
                throw bad(`response_format: required at ${where} must be an array of property names`);
            const additional = s.additionalProperties;
            // The grammar writes every listed property: a required one that is not listed could only come as an additional one.
            for (const k of (s.required as string[] | undefined) ?? [])
                if (!(k in properties)) throw bad(`response_format: "${k}" at ${where} is required but not among its properties`);
            for (const k of ['minProperties', 'maxProperties']) if (s[k] !== undefined && !isCount(s[k])) throw bad(`response_format: ${k} at ${where} must be a non-negative integer`);
            return {
                ...out,
                type: 'object',
                properties,
                ...(s.required !== undefined ? { required: s.required } : {}),
                ...(additional === undefined || typeof additional === 'boolean' ? (additional === undefined ? {} : { additionalProperties: additional }) : { additionalProperties: sub(additional, `${at}/additionalProperties`) }),
                ...(s.minProperties !== undefined ? { minProperties: s.minProperties } : {}),
                ...(s.maxProperties !== undefined ? { maxProperties: s.maxProperties } : {}),
            };
        }
        case 'array': {
            for (const k of ['minItems', 'maxItems']) if (s[k] !== undefined && !isCount(s[k])) throw bad(`response_format: ${k} at ${where} must be a non-negative integer`);
            if (s.prefixItems !== undefined && !Array.isArray(s.prefixItems)) throw bad(`response_format: prefixItems at ${where} must be an array`);
            return {
                ...out,
                type: 'array',
                ...(s.items !== undefined ? { items: sub(s.items, `${at}/items`) } : {}),
                ...(s.prefixItems !== undefined ? { prefixItems: (s.prefixItems as unknown[]).map((v, i) => sub(v, `${at}/prefixItems/${i}`)) } : {}),
                ...(s.minItems !== undefined ? { minItems: s.minItems } : {}),
                ...(s.maxItems !== undefined ? { maxItems: s.maxItems } : {}),
            };
        }
        case 'string': {
            for (const k of ['minLength', 'maxLength']) if (s[k] !== undefined && !isCount(s[k])) throw bad(`response_format: ${k} at ${where} must be a non-negative integer`);
            if (s.format !== undefined && !FORMATS.has(s.format as string)) throw bad(`response_format: format ${JSON.stringify(s.format)} at ${where} is not supported (date-time, time, date)`);
            return {
                ...out,
                type: 'string',
                ...(s.format !== undefined ? { format: s.format } : {}),
                ...(s.minLength !== undefined ? { minLength: s.minLength } : {}),
                ...(s.maxLength !== undefined ? { maxLength: s.maxLength } : {}),
            };
        }
        default:
            return { ...out, type: s.type };
    }
}

/** Which kind of schema `s` is, by its keywords. */
function schemaKind(s: Record<string, unknown>, where: string): keyof typeof KEYWORDS {
    if (s.$ref !== undefined) return 'ref';
    if (s.const !== undefined) return 'const';
    if (s.enum !== undefined) return 'enum';
    if (s.oneOf !== undefined || s.anyOf !== undefined) return 'oneOf';
    const t = s.type;
    if (t === 'object' || t === 'array' || t === 'string') return t;
    if (typeof t === 'string' && PRIMITIVES.has(t)) return 'primitive';
    if (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string' && PRIMITIVES.has(x))) return 'primitive';
    throw bad(`response_format: ${where} needs a type (object, array, string, number, integer, boolean, null, or a list of the last five), or const, enum, oneOf / anyOf or $ref`);
}

/** Parses `response_format`; undefined for none or plain text. */
export function parseResponseFormat(v: unknown): ResponseFormat | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad('response_format must be an object with a type');
    const rf = v as { type?: unknown; json_schema?: unknown };
    if (rf.type === 'text') return undefined;
    if (rf.type === 'json_object') return { type: 'json_object' };
    if (rf.type !== 'json_schema') throw bad(`response_format type ${JSON.stringify(rf.type)} is not supported (text, json_object, json_schema)`);
    const js = rf.json_schema as { name?: unknown; schema?: unknown } | undefined;
    if (typeof js !== 'object' || js === null || typeof js.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(js.name))
        throw bad('response_format json_schema needs json_schema.name (1-64 letters, digits, _ or -) and json_schema.schema');
    const size = Buffer.byteLength(JSON.stringify(js.schema) ?? '');
    if (size > MAX_SCHEMA_BYTES) throw bad(`response_format: the json_schema is ${size} bytes as JSON; at most ${MAX_SCHEMA_BYTES} are accepted`);
    return { type: 'json_schema', name: js.name, schema: grammarSchema(js.schema) };
}
