// interop.binary.tokens: the checked-in token tables are exactly what
// scripts/gen_tokens.mjs makes from the installed Baileys package, so a
// dictionary change upstream cannot go unnoticed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const generated = execFileSync(process.execPath, [path.join(root, 'scripts', 'gen_tokens.mjs')], { encoding: 'utf8' });
const checkedIn = readFileSync(path.join(root, 'protocol', 'binary', 'src', 'tokens.cpp'), 'utf8');
if (generated !== checkedIn) {
  console.error('protocol/binary/src/tokens.cpp is stale: run node scripts/gen_tokens.mjs > protocol/binary/src/tokens.cpp');
  process.exit(1);
}
console.log('token tables match the installed Baileys dictionaries');
