// Checks that every message, field and enum value in our .proto subset
// (protocol/proto/wa/proto/*.proto) exists in Baileys' WAProto.proto (or, for
// the Signal wire messages, in the npm libsignal) with the same number, type
// and label. Field numbers are protocol facts: one typo silently breaks
// interop, so this runs in ctest.
// usage: node proto_schema.mjs <our proto dir> <interop dir (node_modules parent)>
import { createRequire } from 'module';
import path from 'path';
import fs from 'fs';

const [ourDir, interopDir] = process.argv.slice(2);
const require = createRequire(path.join(interopDir, 'package.json'));
const protobuf = require('protobufjs');

const waRoot = protobuf.loadSync(path.join(interopDir, 'node_modules/baileys/WAProto/WAProto.proto'));
const libsignalProto = require('libsignal/src/WhisperTextProtocol.js');

const ours = new protobuf.Root();
ours.resolvePath = (origin, target) => (target.startsWith('wa/proto/') ? path.join(ourDir, '..', '..', target) : target);
for (const f of fs.readdirSync(ourDir).filter((f) => f.endsWith('.proto'))) {
  ours.loadSync(path.join(ourDir, f), { keepCase: true });
}
ours.resolveAll();

let errors = 0;
let checked = 0;
const err = (msg) => { console.error('MISMATCH: ' + msg); errors++; };

// Our package is wa.proto, Baileys' is proto; names below the package match.
const SIGNAL_WIRE = new Set(['WhisperMessage', 'PreKeyWhisperMessage']);

function compareType(ourType, relName) {
  if (SIGNAL_WIRE.has(relName)) {
    // The JS libsignal ships compiled code, not a schema: compare field ids via
    // an encode of a message with every field set, decoded by our definition.
    const js = libsignalProto.textsecure[relName];
    const obj = {};
    for (const f of ourType.fieldsArray) obj[f.name] = f.type === 'bytes' ? Buffer.from([f.id]) : f.id;
    const bytes = js.encode(js.create(obj)).finish();
    const back = ourType.decode(bytes);
    for (const f of ourType.fieldsArray) {
      checked++;
      const v = back[f.name];
      const ok = f.type === 'bytes' ? Buffer.from(v).equals(Buffer.from([f.id])) : v === f.id;
      if (!ok) err(`${relName}.${f.name} (#${f.id}) does not match libsignal's encoding`);
    }
    return;
  }
  const theirs = waRoot.lookup('proto.' + relName);
  if (!theirs) return err(`${relName} missing from WAProto.proto`);
  if (ourType instanceof protobuf.Enum) {
    for (const [name, value] of Object.entries(ourType.values)) {
      checked++;
      if (theirs.values[name] !== value) err(`enum ${relName}.${name} = ${value}, WAProto has ${theirs.values[name]}`);
    }
    return;
  }
  for (const f of ourType.fieldsArray) {
    checked++;
    const t = theirs.fields[f.name];
    if (!t) { err(`${relName}.${f.name} missing in WAProto`); continue; }
    if (t.id !== f.id) err(`${relName}.${f.name} is #${f.id}, WAProto #${t.id}`);
    if (t.repeated !== f.repeated) err(`${relName}.${f.name} repeated mismatch`);
    // Compare resolved type names relative to each package.
    const ourT = f.resolvedType ? f.resolvedType.fullName.replace(/^\.wa\.proto\./, '') : f.type;
    const theirT = t.resolvedType ? t.resolvedType.fullName.replace(/^\.proto\./, '') : t.type;
    if (ourT !== theirT) err(`${relName}.${f.name} type ${ourT}, WAProto ${theirT}`);
    if (f.repeated && t.packed !== f.packed) err(`${relName}.${f.name} packed mismatch`);
  }
  for (const nested of ourType.nestedArray) compareType(nested, relName + '.' + nested.name);
}

const pkg = ours.lookup('wa.proto');
for (const t of pkg.nestedArray) compareType(t, t.name);
console.log(`checked ${checked} fields/enum values, ${errors} mismatches`);
process.exit(errors === 0 && checked > 200 ? 0 : 1);
