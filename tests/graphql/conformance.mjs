// The conformance run: every request of the corpus goes to graphql-js (reference.mjs) and to our
// /graphql. A valid request must give both the same `data` (compared as JSON, key order included)
// and no request error; an invalid one must be refused by both ({errors} without data).
// Usage: node tests/graphql/conformance.mjs <graphql-url> <rest-base> <corpus.json> <substitutions-json> [key]
// Prints {"valid": n, "invalid": n, "failures": [...]}.
import fs from 'fs';
import { isDeepStrictEqual } from 'util';
import { makeSchema, run } from './reference.mjs';

const [url, base, corpusPath, substJson, key] = process.argv.slice(2);
const subst = JSON.parse(substJson);
const fill = (v) => {
    if (typeof v === 'string') return v.replace(/\{\{(\w+)\}\}/g, (_, k) => subst[k] ?? `{{${k}}}`);
    if (Array.isArray(v)) return v.map(fill);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
    return v;
};
const schema = makeSchema(base, key);
const corpus = JSON.parse(fs.readFileSync(corpusPath, 'utf8'));
const out = { valid: 0, invalid: 0, failures: [] };
const keyed = (o) => JSON.stringify(o); // order-sensitive
for (const c of corpus) {
    const req = { query: fill(c.query), variables: fill(c.variables), operationName: c.operationName };
    const ref = await run(schema, req);
    const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
    if (key) headers.authorization = `Bearer ${key}`;
    const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(req) });
    const ours = await r.json();
    if (c.valid) {
        out.valid++;
        const problem = ref.errors && !ref.data ? 'the reference refused it'
            : !('data' in ours) ? `we refused it (${r.status}): ${JSON.stringify(ours.errors)}`
            : !isDeepStrictEqual(ours.data, ref.data) || keyed(ours.data) !== keyed(ref.data) ? 'data differs'
            : Boolean(ours.errors) !== Boolean(ref.errors) ? 'field errors differ' : null;
        if (problem) out.failures.push({ name: c.name, problem, ours, ref });
    } else {
        out.invalid++;
        const problem = !(ref.errors && (ref.data === undefined || ref.data === null)) ? 'the reference accepted it'
            : 'data' in ours || !ours.errors ? `we accepted it (${r.status})`
            : r.status !== 400 ? `status ${r.status}, expected 400 for graphql-response+json` : null;
        if (problem) out.failures.push({ name: c.name, problem, ours, ref: ref.errors ? { errors: ref.errors } : ref });
    }
}
console.log(JSON.stringify(out));
