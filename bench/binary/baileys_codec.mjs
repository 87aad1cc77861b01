// Baileys' side of the node codec benchmark: encodeBinaryNode + the
// synchronous decoder (decodeBinaryNode minus its async inflate wrapper).
// Two sets from the interop corpus (without its two >1 MiB nodes):
//   all   - every node, incl. a 1 MiB byte content and a 70 kB string
//   small - nodes whose encoding is at most 4 KiB (stanza-sized)
// Each set is also dumped as JSON lines for bench_node_codec.
//
//   node baileys_codec.mjs out-prefix [seconds]   -> out-prefix.all.jsonl, out-prefix.small.jsonl
import { writeFileSync } from 'node:fs';
import { buildCorpus, toJsonNode, encodeBinaryNode, decodeDecompressedBinaryNode, constants } from '../../tests/interop/binary/corpus_lib.mjs';

const prefix = process.argv[2];
const seconds = Number(process.argv[3] ?? 2);
const all = buildCorpus({ huge: false });
const sets = { all, small: all.filter((n) => encodeBinaryNode(n).length <= 4096) };

for (const [name, corpus] of Object.entries(sets)) {
  writeFileSync(`${prefix}.${name}.jsonl`, corpus.map((n) => JSON.stringify(toJsonNode(n))).join('\n') + '\n');
  let check = 0;
  for (let warm = 0; warm < 3; warm++) for (const n of corpus) decodeDecompressedBinaryNode(encodeBinaryNode(n).subarray(1), constants);
  // Best of several rounds of CPU time (the machine is shared; V8's GC
  // threads count too, which favours neither side much on a 2-core box).
  const rounds = 5;
  let best = 0;
  let bestMb = 0;
  for (let round = 0; round < rounds; round++) {
    let done = 0;
    let bytes = 0;
    const cpu0 = process.cpuUsage();
    const cpu = () => { const u = process.cpuUsage(cpu0); return (u.user + u.system) / 1e6; };
    while (cpu() < seconds / rounds) {
      for (const n of corpus) {
        const b = encodeBinaryNode(n);
        const back = decodeDecompressedBinaryNode(b.subarray(1), constants);
        check += Object.keys(back.attrs).length;
        bytes += b.length - 1;
      }
      done += corpus.length;
    }
    const t = cpu();
    if (done / t > best) { best = done / t; bestMb = bytes / t / 1e6; }
  }
  console.log(`baileys ${name}: ${corpus.length} nodes, ${Math.round(best)} nodes/s encode+decode, ${bestMb.toFixed(1)} MB/s (best of ${rounds}, CPU time; check ${check % 10})`);
}
