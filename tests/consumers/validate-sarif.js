// validate-sarif.js SCHEMA FILE... - checks SARIF files against the official 2.1.0 JSON schema (draft 2020-12).
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");
const fs = require("fs");
const ajv = new Ajv2020({strict: false, allErrors: true});
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(process.argv[2], "utf8")));
for (const f of process.argv.slice(3)) {
  const ok = validate(JSON.parse(fs.readFileSync(f, "utf8")));
  console.log(f + ": " + (ok ? "valid SARIF 2.1.0" : "INVALID " + JSON.stringify(validate.errors.slice(0, 3))));
}
