// Runs graphql-http's GraphQL-over-HTTP audit (serverAudits) against a /graphql URL.
// Prints one JSON object: {"results": [{"id", "name", "status", "response"?}]}; the pytest decides.
// Usage: node tests/graphql/audit.mjs <url> [bearer-key]
import { serverAudits } from 'graphql-http';

const [url, key] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
    if (key) {
        const headers = new Headers(init.headers || {});
        headers.set('authorization', `Bearer ${key}`);
        init = { ...init, headers };
    }
    return fetch(input, init);
};
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
    const r = await audit.fn();
    const row = { id: audit.id, name: audit.name, status: r.status };
    if (r.status !== 'ok') {
        row.reason = r.reason;
        if (r.response) row.response = { status: r.response.status, body: (await r.response.text()).slice(0, 300) };
    }
    results.push(row);
}
console.log(JSON.stringify({ results }));
