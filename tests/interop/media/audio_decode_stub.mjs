// Stand-in for the 'audio-decode' package (see audio_decode_hooks.mjs):
// decodes with the ffmpeg CLI to 32-bit float, keeping every channel at the
// file's own rate, and exposes getChannelData like an AudioBuffer.
import { execFileSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';

export default async function decode(buffer) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-audio-decode-'));
  try {
    const input = path.join(dir, 'in');
    fs.writeFileSync(input, buffer);
    const channels = Number(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries',
      'stream=channels', '-of', 'csv=p=0', input]).toString().trim());
    const raw = execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', input, '-f', 'f32le', '-acodec', 'pcm_f32le', '-'],
      { maxBuffer: 1 << 30 });
    const all = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    const frames = all.length / channels;
    return {
      numberOfChannels: channels,
      length: frames,
      getChannelData(c) {
        const out = new Float32Array(frames);
        for (let i = 0; i < frames; i++) out[i] = all[i * channels + c];
        return out;
      }
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
