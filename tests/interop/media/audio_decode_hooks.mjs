// Module hooks for baileys_probe.mjs: Baileys' getAudioWaveform imports the
// optional package 'audio-decode', which is not installed; point it at
// audio_decode_stub.mjs (FFmpeg-decoded samples) so Baileys' own waveform
// code runs unchanged.
export async function resolve(specifier, context, next) {
  if (specifier === 'audio-decode') {
    return { url: new URL('./audio_decode_stub.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
