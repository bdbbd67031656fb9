// validate_speedscope.mjs FILE - checks a speedscope file against the file
// format schema speedscope publishes in its npm package (installed in
// web/node_modules by scripts/setup), with ajv. Prints "valid" and exits 0,
// or prints the schema's complaints and exits 1.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'web', 'package.json'));
const Ajv = require('ajv');
const schemaPath = path.join(root, 'web', 'node_modules', 'speedscope', 'dist', 'release', 'file-format-schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
const doc = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
if (validate(doc)) {
    console.log('valid');
} else {
    console.log(JSON.stringify(validate.errors.slice(0, 10)));
    process.exit(1);
}
