// The reference: graphql-js (the GraphQL Foundation's implementation) with the repository's SDL and
// resolvers that read the service's own REST API, plus the contract's limits (depth, complexity,
// document size, tokens), so that the conformance test can hold our server to it.
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';
import { buildSchema, parse, validate, execute, specifiedRules, GraphQLError, Kind, getNamedType,
         getNullableType, isListType } from 'graphql';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SDL = fs.readFileSync(path.join(here, '..', '..', 'api', 'graphql', 'schema.graphql'), 'utf8');
export const MAX_DEPTH = 10, MAX_COMPLEXITY = 50000, MAX_DOCUMENT = 65536, MAX_TOKENS = 15000;

function restClient(base, key) {
    return async (p) => {
        const headers = key ? { authorization: `Bearer ${key}` } : {};
        const r = await fetch(base + p, { headers });
        if (r.status === 404 || r.status === 400) return null;
        if (!r.ok) throw new Error(`REST ${p}: ${r.status}`);
        return r.json();
    };
}

const camelJob = (j) => j && ({
    id: j.job_id, fileName: j.file_name, sizeBytes: j.size_bytes, status: j.status.toUpperCase(),
    progress: j.progress, linesTotal: j.lines_total, linesProcessed: j.lines_processed,
    entriesIngested: j.entries_ingested, linesInvalid: j.lines_invalid, createdAt: j.created_at,
    startedAt: j.started_at, completedAt: j.completed_at, error: j.error,
});

export function makeSchema(base, key) {
    const rest = restClient(base, key);
    const schema = buildSchema(SDL);
    const jobFields = schema.getType('Job').getFields();
    const queryFields = schema.getType('Query').getFields();
    queryFields.job.resolve = async (_, { id }) => camelJob(await rest(`/api/v1/jobs/${encodeURIComponent(id)}`));
    queryFields.jobs.resolve = async (_, { status, first, after }) => {
        const q = new URLSearchParams({ limit: String(first) });
        if (status) q.set('status', status.toLowerCase());
        if (after) q.set('cursor', after);
        const page = await rest(`/api/v1/jobs?${q}`);
        if (page === null) throw new Error('bad arguments');
        return { nodes: page.jobs.map(camelJob), pageInfo: { hasNextPage: page.next_cursor !== null,
                 endCursor: page.next_cursor } };
    };
    jobFields.errors.resolve = async (job, { first }) => {
        const page = await rest(`/api/v1/jobs/${job.id}/errors?limit=${first}`);
        if (page === null) throw new Error('no such job');
        return { nodes: page.errors.map((e) => ({ lineNo: e.line_no, reason: e.reason })), totalCount: page.total,
                 pageInfo: { hasNextPage: page.errors.length < page.total && page.errors.length === first,
                             endCursor: null } };
    };
    jobFields.entries.resolve = async (job, { first, after, levels, since, until, search }) => {
        const q = new URLSearchParams({ limit: String(first) });
        if (after) q.set('cursor', after);
        if (levels) q.set('level', levels.join(','));
        if (since) q.set('since', since);
        if (until) q.set('until', until);
        if (search) q.set('q', search);
        const page = await rest(`/api/v1/jobs/${job.id}/entries?${q}`);
        if (page === null) throw new Error('bad arguments');
        return { nodes: page.entries.map((e) => ({ lineNo: e.line_no, timestamp: e.timestamp, level: e.level,
                 message: e.message, service: e.service, attributes: JSON.stringify(e.attributes) })),
                 pageInfo: { hasNextPage: page.next_cursor !== null, endCursor: page.next_cursor } };
    };
    return schema;
}

// Depth in fields, introspection fields and what they select not counted (the contract's rule).
function depthRule(context) {
    const doc = context.getDocument();
    const frags = Object.fromEntries(doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]));
    const depth = (set, guard) => {
        if (!set || guard > 128) return 0;
        let max = 0;
        for (const s of set.selections) {
            let d = 0;
            if (s.kind === Kind.FIELD) { if (s.name.value.startsWith('__')) continue; d = 1 + depth(s.selectionSet, guard + 1); }
            else if (s.kind === Kind.INLINE_FRAGMENT) d = depth(s.selectionSet, guard + 1);
            else d = frags[s.name.value] ? depth(frags[s.name.value].selectionSet, guard + 1) : 0;
            max = Math.max(max, d);
        }
        return max;
    };
    return {
        OperationDefinition(op) {
            const d = depth(op.selectionSet, 0);
            if (d > MAX_DEPTH) context.reportError(new GraphQLError(`The query is ${d} levels deep.`, { nodes: op }));
        },
    };
}

// Cost: every field 1, plus `first` times what a field with a `first` argument selects.
export function cost(schema, doc, op, variables) {
    const frags = Object.fromEntries(doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]));
    const valueOf = (node) => node.kind === Kind.VARIABLE ? variables[node.name.value] : node.kind === Kind.INT
        ? parseInt(node.value, 10) : undefined;
    const walk = (set, type, guard) => {
        if (!set || !type || guard > 128) return 0;
        let total = 0;
        for (const s of set.selections) {
            if (s.kind === Kind.FIELD) {
                const f = type.getFields ? type.getFields()[s.name.value] : undefined;
                if (!f) { total += 1; continue; }
                let c = 1;
                if (s.selectionSet) {
                    let mult = 1;
                    const argDef = f.args.find((a) => a.name === 'first');
                    if (argDef) {
                        const arg = (s.arguments || []).find((a) => a.name.value === 'first');
                        let v = arg ? valueOf(arg.value) : undefined;
                        if (v === undefined || v === null) v = argDef.defaultValue;
                        if (Number.isInteger(v) && v > 1) mult = v;
                    }
                    c += mult * walk(s.selectionSet, getNamedType(f.type), guard + 1);
                }
                total += c;
            } else if (s.kind === Kind.INLINE_FRAGMENT) total += walk(s.selectionSet, type, guard + 1);
            else if (frags[s.name.value]) total += walk(frags[s.name.value].selectionSet, type, guard + 1);
        }
        return total;
    };
    return walk(op.selectionSet, schema.getQueryType(), 0);
}

// Runs one request the way the contract says: {errors} without data when refused, else {data[, errors]}.
export async function run(schema, { query, variables, operationName }) {
    if (Buffer.byteLength(query) > MAX_DOCUMENT) return { errors: [{ message: 'document too large' }] };
    let doc;
    try { doc = parse(query, { maxTokens: MAX_TOKENS }); } catch (e) { return { errors: [{ message: e.message }] }; }
    const errors = validate(schema, doc, [...specifiedRules, depthRule]);
    if (errors.length) return { errors: errors.map((e) => ({ message: e.message })) };
    const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    const op = operationName ? ops.find((o) => o.name && o.name.value === operationName) : ops.length === 1 ? ops[0] : null;
    if (op) {
        const c = cost(schema, doc, op, variables || {});
        if (c > MAX_COMPLEXITY) return { errors: [{ message: `cost ${c}` }] };
    }
    const r = await execute({ schema, document: doc, variableValues: variables, operationName });
    return JSON.parse(JSON.stringify(r));
}
