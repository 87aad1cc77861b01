// Probing against Baileys' own media helpers on fixtures made with ffmpeg:
// image sizes and thumbnail sizes (extractImageThumb, sharp), audio duration
// (getAudioDuration, music-metadata) and the voice waveform
// (getAudioWaveform, with audio_decode_stub.mjs as its decoder).
// usage: node baileys_probe.mjs <interop dir> <media_tool>
import { execFileSync } from 'child_process';
import fs from 'fs';
import { createRequire, register } from 'module';
import os from 'os';
import path from 'path';

register('./audio_decode_hooks.mjs', import.meta.url);
const [interopDir, tool] = process.argv.slice(2);
const lib = (p) => import(path.join(path.resolve(interopDir), 'node_modules/baileys/lib', p));
const { extractImageThumb, getAudioDuration, getAudioWaveform } = await lib('Utils/messages-media.js');
const sharp = createRequire(path.join(path.resolve(interopDir), 'package.json'))('sharp');

const fail = (m) => { console.error('FAIL: ' + m); process.exit(1); };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-media-probe-'));
const ffmpeg = (...args) => execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
const probe = (file, kind) => {
  const out = execFileSync(tool, kind ? ['probe', file, kind] : ['probe', file]).toString().trim();
  if (out.startsWith('ERROR')) fail(`probe ${path.basename(file)}: ${out}`);
  return JSON.parse(out);
};

let worstWave = 0;
try {
  for (const [name, size] of [['a.jpg', '640x480'], ['tall.png', '100x300'], ['wide.webp', '500x120']]) {
    const file = path.join(dir, name);
    ffmpeg('-f', 'lavfi', '-i', `testsrc=size=${size}`, '-frames:v', '1', file);
    const ours = probe(file);
    const ref = await extractImageThumb(file);
    if (ours.kind !== 'image') fail(`${name}: kind ${ours.kind}`);
    if (ours.width !== ref.original.width || ours.height !== ref.original.height) {
      fail(`${name}: ${ours.width}x${ours.height} vs Baileys ${ref.original.width}x${ref.original.height}`);
    }
    const refThumb = await sharp(ref.buffer).metadata();
    const ourThumb = await sharp(Buffer.from(ours.thumbnail, 'hex')).metadata();
    if (ourThumb.format !== 'jpeg') fail(`${name}: our thumbnail is ${ourThumb.format}`);
    if (ourThumb.width !== refThumb.width || Math.abs(ourThumb.height - refThumb.height) > 1) {
      fail(`${name}: thumbnail ${ourThumb.width}x${ourThumb.height} vs Baileys ${refThumb.width}x${refThumb.height}`);
    }
  }

  // Voice notes: a rising tone, and a stereo file whose channels differ
  // (Baileys reads channel 0 only).
  const voices = [
    ['ramp.ogg', ['-f', 'lavfi', '-i', "aevalsrc=exprs='sin(440*2*PI*t)*t/3':d=3", '-c:a', 'libopus']],
    ['stereo.ogg', ['-f', 'lavfi', '-i', "aevalsrc=exprs='sin(300*2*PI*t)*(1-t/4)|sin(500*2*PI*t)*t/4':d=4", '-c:a', 'libopus']],
    ['burst.ogg', ['-f', 'lavfi', '-i', "aevalsrc=exprs='sin(200*2*PI*t)*gt(mod(t,1),0.5)':d=5.4", '-c:a', 'libopus']]
  ];
  for (const [name, args] of voices) {
    const file = path.join(dir, name);
    ffmpeg(...args, file);
    const ours = probe(file, 'voice');
    const dur = await getAudioDuration(file);
    if (Math.abs(ours.seconds - dur) > 0.5 + 1e-6) fail(`${name}: ${ours.seconds} s vs Baileys ${dur}`);
    const ref = Array.from(await getAudioWaveform(file));
    if (ref.length !== 64 || ours.waveform.length !== 64) fail(`${name}: waveform lengths ${ours.waveform.length}/${ref.length}`);
    const worst = Math.max(...ref.map((v, i) => Math.abs(v - ours.waveform[i])));
    worstWave = Math.max(worstWave, worst);
    if (worst > 1) fail(`${name}: waveform differs by ${worst}\n ours ${ours.waveform}\n ref  ${ref}`);
  }
  const video = path.join(dir, 'v.mp4');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', video);
  const v = probe(video);
  const vdur = await getAudioDuration(video);  // music-metadata reads mp4 durations too
  if (v.kind !== 'video' || Math.abs(v.seconds - vdur) > 0.5 + 1e-6) fail(`video: ${v.kind} ${v.seconds} s vs ${vdur}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`probe: image sizes, thumbnails, durations and waveforms agree with Baileys (waveform max difference ${worstWave})`);
