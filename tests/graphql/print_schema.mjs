// Prints two schemas with graphql-js printSchema: ours as buildClientSchema rebuilds it from our
// introspection answer (the full introspection query GraphiQL and codegen send), and the repository's
// SDL. Usage: node tests/graphql/print_schema.mjs <graphql-url> [key]  ->  {"ours": "...", "repo": "..."}
import { getIntrospectionQuery, buildClientSchema, printSchema, buildSchema } from 'graphql';
import { SDL } from './reference.mjs';

const [url, key] = process.argv.slice(2);
const headers = { 'content-type': 'application/json' };
if (key) headers.authorization = `Bearer ${key}`;
const query = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
                                      schemaDescription: true, inputValueDeprecation: true });
const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query }) });
const body = await r.json();
if (!body.data) { console.log(JSON.stringify({ errors: body.errors })); process.exit(0); }
console.log(JSON.stringify({ ours: printSchema(buildClientSchema(body.data)), repo: printSchema(buildSchema(SDL)) }));
