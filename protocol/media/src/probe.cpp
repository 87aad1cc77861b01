// Content probing for sending media: libmagic names the type, libvips reads
// images and stickers (sizes, the 32 px JPEG thumbnail), FFmpeg reads video
// and audio (sizes, duration, a first-frame thumbnail, the voice waveform).
// Every library error becomes an Error; their logging is silenced once.
//
// Kind rules: the mimetype suggests the kind (image/*, video/*, audio/*,
// else document). image/webp is an image unless the caller forces sticker
// (Baileys sends stickers as image/webp too: only the caller knows), and a
// sticker must be WebP. voice is only ever forced (it is audio with ptt).
// A detected kind whose content does not decode falls back to document; a
// forced one fails with unsupported_media.
#include "wa/media/media.hpp"

#include <glib.h>
#include <magic.h>
#include <sys/stat.h>
#include <vips/vips.h>

#include <cmath>
#include <functional>
#include <mutex>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace wa::media {

namespace {

constexpr int kThumbWidth = 32;   // Baileys' extractImageThumb / ffmpeg scale=32:-1
constexpr int kThumbQuality = 50;
constexpr size_t kWaveformBuckets = 64;
constexpr int kMaxPacketsForFirstFrame = 5000;

// ---- one-time library setup ----

void quiet_log(const gchar*, GLogLevelFlags, const gchar*, gpointer) {}

bool libraries_ready() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_QUIET);
    ok = vips_init("wa-media") == 0;
    if (ok) {
      // No operation cache: it would keep decoded images (and open files) alive between calls.
      vips_cache_set_max(0);
      g_log_set_handler("VIPS", static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO),
                        &quiet_log, nullptr);
    }
  });
  return ok;
}

Error unsupported(const std::string& what) { return Error{"unsupported_media", what}; }

// ---- RAII around the C handles ----

struct MagicClose {
  void operator()(magic_set* m) const noexcept { magic_close(m); }
};
struct GUnref {
  void operator()(VipsImage* i) const noexcept { g_object_unref(i); }
};
struct GFree {
  void operator()(void* p) const noexcept { g_free(p); }
};
struct FormatClose {
  void operator()(AVFormatContext* f) const noexcept { avformat_close_input(&f); }
};
struct CodecFree {
  void operator()(AVCodecContext* c) const noexcept { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const noexcept { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
struct SwsFree {
  void operator()(SwsContext* s) const noexcept { sws_freeContext(s); }
};
struct SwrFree {
  void operator()(SwrContext* s) const noexcept { swr_free(&s); }
};
using Image = std::unique_ptr<VipsImage, GUnref>;
using Format = std::unique_ptr<AVFormatContext, FormatClose>;
using Codec = std::unique_ptr<AVCodecContext, CodecFree>;
using Frame = std::unique_ptr<AVFrame, FrameFree>;
using Packet = std::unique_ptr<AVPacket, PacketFree>;

std::string vips_reason() {
  std::string s = vips_error_buffer();
  vips_error_clear();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// ---- libmagic ----

std::string mimetype_of(const std::string& path) {
  // One handle per thread: loading the database costs more than a probe.
  thread_local std::unique_ptr<magic_set, MagicClose> m;
  if (!m) {
    m.reset(magic_open(MAGIC_MIME_TYPE | MAGIC_SYMLINK));
    if (m && magic_load(m.get(), nullptr) != 0) m.reset();
  }
  const char* t = m ? magic_file(m.get(), path.c_str()) : nullptr;
  return t ? std::string(t) : std::string("application/octet-stream");
}

Kind kind_of_mimetype(std::string_view mt) {
  if (mt.rfind("image/", 0) == 0) return Kind::image;
  if (mt.rfind("video/", 0) == 0) return Kind::video;
  if (mt.rfind("audio/", 0) == 0) return Kind::audio;
  return Kind::document;
}

// ---- libvips ----

Result<Bytes> jpeg_of(VipsImage* img) {
  void* buf = nullptr;
  size_t len = 0;
  if (vips_jpegsave_buffer(img, &buf, &len, "Q", kThumbQuality, "strip", TRUE, nullptr) != 0) {
    return Unexpected<Error>{unsupported("thumbnail: " + vips_reason())};
  }
  std::unique_ptr<void, GFree> owned(buf);
  const auto* p = static_cast<const uint8_t*>(buf);
  return Bytes(p, p + len);
}

Status probe_image(const std::string& path, Probe& out, bool sticker) {
  Image img(vips_image_new_from_file(path.c_str(), "access", VIPS_ACCESS_SEQUENTIAL, nullptr));
  if (!img) return Unexpected<Error>{unsupported("not an image: " + vips_reason())};
  out.width = static_cast<uint32_t>(vips_image_get_width(img.get()));
  out.height = static_cast<uint32_t>(vips_image_get_page_height(img.get()));
  if (out.width == 0 || out.height == 0) return Unexpected<Error>{unsupported("an image without pixels")};
  if (sticker) {
    out.animated = vips_image_get_n_pages(img.get()) > 1;
    return {};
  }
  // Width 32, height as the aspect gives (the height bound only keeps vips
  // from fitting the image into a 32x32 box).
  VipsImage* raw = nullptr;
  if (vips_thumbnail(path.c_str(), &raw, kThumbWidth, "height", VIPS_MAX_COORD, nullptr) != 0) {
    return Unexpected<Error>{unsupported("cannot decode the image: " + vips_reason())};
  }
  Image thumb(raw);
  auto jpeg = jpeg_of(thumb.get());
  if (!jpeg) return Unexpected<Error>{jpeg.error()};
  out.jpeg_thumbnail = std::move(*jpeg);
  return {};
}

void probe_pdf_pages(const std::string& path, Probe& out) {
  // Optional: pdfload exists only when libvips was built with poppler/pdfium.
  Image img(vips_image_new_from_file(path.c_str(), "access", VIPS_ACCESS_SEQUENTIAL, nullptr));
  if (!img) {
    vips_error_clear();
    return;
  }
  const int n = vips_image_get_n_pages(img.get());
  out.pages = n > 0 ? static_cast<uint32_t>(n) : 0;
}

// ---- FFmpeg ----

struct Media {
  Format fmt;
  int stream = -1;
  Codec codec;
};

// Opens `path` and a decoder for its best stream of `type`.
Result<Media> open_media(const std::string& path, AVMediaType type) {
  Media m;
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, path.c_str(), nullptr, nullptr) < 0) {
    return Unexpected<Error>{unsupported("not a media container FFmpeg can read")};
  }
  m.fmt.reset(raw);
  if (avformat_find_stream_info(m.fmt.get(), nullptr) < 0) return Unexpected<Error>{unsupported("unreadable streams")};
  const AVCodec* dec = nullptr;
  m.stream = av_find_best_stream(m.fmt.get(), type, -1, -1, &dec, 0);
  if (m.stream < 0 || !dec) {
    return Unexpected<Error>{unsupported(type == AVMEDIA_TYPE_VIDEO ? "no video stream" : "no audio stream")};
  }
  m.codec.reset(avcodec_alloc_context3(dec));
  if (!m.codec || avcodec_parameters_to_context(m.codec.get(), m.fmt->streams[m.stream]->codecpar) < 0 ||
      avcodec_open2(m.codec.get(), dec, nullptr) < 0) {
    return Unexpected<Error>{unsupported("cannot open the decoder")};
  }
  return m;
}

uint32_t seconds_of(const Media& m) {
  double s = 0;
  if (m.fmt->duration != AV_NOPTS_VALUE && m.fmt->duration > 0) {
    s = static_cast<double>(m.fmt->duration) / AV_TIME_BASE;
  } else {
    const AVStream* st = m.fmt->streams[m.stream];
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) s = static_cast<double>(st->duration) * av_q2d(st->time_base);
  }
  return static_cast<uint32_t>(std::lround(s));
}

// Feeds every decoded frame of the stream to `on_frame` (false stops).
Status decode(Media& m, const std::function<bool(const AVFrame&)>& on_frame, int max_packets = 0) {
  Packet pkt(av_packet_alloc());
  Frame frame(av_frame_alloc());
  if (!pkt || !frame) return fail("unsupported_media", "out of memory");
  int packets = 0, frames = 0;
  bool more = true, draining = false;
  while (more) {
    if (!draining) {
      const int r = av_read_frame(m.fmt.get(), pkt.get());
      if (r < 0) {
        draining = true;
        if (avcodec_send_packet(m.codec.get(), nullptr) < 0) break;
      } else {
        const bool ours = pkt->stream_index == m.stream;
        const int s = ours ? avcodec_send_packet(m.codec.get(), pkt.get()) : 0;
        av_packet_unref(pkt.get());
        if (!ours) continue;
        // One damaged packet is skipped, as players do; other errors end it.
        if (s < 0 && s != AVERROR_INVALIDDATA) return fail("unsupported_media", "the stream does not decode");
        if (max_packets != 0 && ++packets > max_packets && frames == 0) {
          return fail("unsupported_media", "no frame decoded");
        }
      }
    }
    for (;;) {
      const int r = avcodec_receive_frame(m.codec.get(), frame.get());
      if (r == AVERROR(EAGAIN)) {
        if (draining) return frames > 0 ? Status{} : fail("unsupported_media", "nothing decoded");
        break;
      }
      if (r == AVERROR_EOF) return frames > 0 ? Status{} : fail("unsupported_media", "nothing decoded");
      if (r == AVERROR_INVALIDDATA) continue;
      if (r < 0) return fail("unsupported_media", "the stream does not decode");
      ++frames;
      more = on_frame(*frame);
      av_frame_unref(frame.get());
      if (!more) break;
    }
  }
  return frames > 0 ? Status{} : fail("unsupported_media", "nothing decoded");
}

// The first frame as a JPEG, 32 px wide.
Result<Bytes> first_frame_jpeg(Media& m) {
  Bytes rgb;
  int tw = 0, th = 0;
  std::optional<Error> err;
  auto st = decode(
      m,
      [&](const AVFrame& f) {
        if (f.width <= 0 || f.height <= 0) return true;
        tw = kThumbWidth;
        th = std::max(1, static_cast<int>(std::lround(static_cast<double>(f.height) * kThumbWidth / f.width)));
        std::unique_ptr<SwsContext, SwsFree> sws(sws_getContext(f.width, f.height, static_cast<AVPixelFormat>(f.format), tw,
                                                                 th, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
        if (!sws) {
          err = unsupported("cannot convert the video frame");
          return false;
        }
        rgb.assign(static_cast<size_t>(tw) * static_cast<size_t>(th) * 3, 0);
        uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
        const int dst_stride[4] = {tw * 3, 0, 0, 0};
        if (sws_scale(sws.get(), f.data, f.linesize, 0, f.height, dst, dst_stride) != th) {
          err = unsupported("cannot convert the video frame");
        }
        return false;
      },
      kMaxPacketsForFirstFrame);
  if (!st) return Unexpected<Error>{st.error()};
  if (err) return Unexpected<Error>{*err};
  if (rgb.empty()) return Unexpected<Error>{unsupported("the video has no frame")};
  Image img(vips_image_new_from_memory(rgb.data(), rgb.size(), tw, th, 3, VIPS_FORMAT_UCHAR));
  if (!img) return Unexpected<Error>{unsupported("thumbnail: " + vips_reason())};
  return jpeg_of(img.get());
}

Status probe_video(const std::string& path, Probe& out) {
  auto m = open_media(path, AVMEDIA_TYPE_VIDEO);
  if (!m) return Unexpected<Error>{m.error()};
  const AVCodecParameters* par = m->fmt->streams[m->stream]->codecpar;
  if (par->width <= 0 || par->height <= 0) return fail("unsupported_media", "a video without a size");
  out.width = static_cast<uint32_t>(par->width);
  out.height = static_cast<uint32_t>(par->height);
  out.seconds = seconds_of(*m);
  auto jpeg = first_frame_jpeg(*m);
  if (!jpeg) return Unexpected<Error>{jpeg.error()};
  out.jpeg_thumbnail = std::move(*jpeg);
  return {};
}

// Calls on_samples with the first channel of every decoded frame as floats
// (the channel Baileys' getAudioWaveform reads).
Status for_each_sample_block(const std::string& path, const std::function<void(const float*, size_t)>& on_samples) {
  auto m = open_media(path, AVMEDIA_TYPE_AUDIO);
  if (!m) return Unexpected<Error>{m.error()};
  std::unique_ptr<SwrContext, SwrFree> swr;
  std::vector<std::vector<float>> planes;
  std::vector<uint8_t*> ptrs;
  std::optional<Error> err;
  auto convert = [&](const uint8_t** in, int in_samples) {
    const int cap = swr_get_out_samples(swr.get(), in_samples);
    if (cap <= 0) return;
    for (auto& p : planes) p.resize(static_cast<size_t>(cap));
    for (size_t i = 0; i < planes.size(); ++i) ptrs[i] = reinterpret_cast<uint8_t*>(planes[i].data());
    const int n = swr_convert(swr.get(), ptrs.data(), cap, in, in_samples);
    if (n < 0) {
      err = unsupported("cannot convert the audio samples");
      return;
    }
    if (n > 0) on_samples(planes[0].data(), static_cast<size_t>(n));
  };
  auto st = decode(*m, [&](const AVFrame& f) {
    if (!swr) {
      // Planar float at the stream's own rate and layout: plane 0 is channel 0.
      // (FFmpeg 5.1 takes the layouts as non-const pointers: pass a copy.)
      AVChannelLayout layout{};
      if (av_channel_layout_copy(&layout, &f.ch_layout) < 0 || layout.nb_channels <= 0) {
        av_channel_layout_uninit(&layout);
        err = unsupported("audio without channels");
        return false;
      }
      SwrContext* raw = nullptr;
      const int r = swr_alloc_set_opts2(&raw, &layout, AV_SAMPLE_FMT_FLTP, f.sample_rate, &layout,
                                        static_cast<AVSampleFormat>(f.format), f.sample_rate, 0, nullptr);
      av_channel_layout_uninit(&layout);
      if (r < 0 || !raw) {
        swr_free(&raw);
        err = unsupported("cannot convert the audio samples");
        return false;
      }
      swr.reset(raw);
      if (swr_init(swr.get()) < 0) {
        err = unsupported("cannot convert the audio samples");
        return false;
      }
      planes.resize(static_cast<size_t>(std::max(1, f.ch_layout.nb_channels)));
      ptrs.resize(planes.size());
    }
    convert(const_cast<const uint8_t**>(f.extended_data), f.nb_samples);
    return !err;
  });
  if (!st) return st;
  if (err) return Unexpected<Error>{*err};
  if (swr) convert(nullptr, 0);  // what the resampler still holds
  if (err) return Unexpected<Error>{*err};
  return {};
}

// 64 buckets of the mean absolute amplitude, the loudest 100 (Baileys'
// getAudioWaveform: the block size is floor(samples / 64), the tail is
// dropped, values are floored). Two decoding passes keep memory flat: the
// first counts the samples, the second sums the buckets.
Result<Bytes> waveform_of(const std::string& path) {
  uint64_t total = 0;
  WA_TRY(for_each_sample_block(path, [&](const float*, size_t n) { total += n; }));
  Bytes wave(kWaveformBuckets, 0);
  const uint64_t block = total / kWaveformBuckets;
  if (block == 0) return wave;
  std::vector<double> sums(kWaveformBuckets, 0.0);
  uint64_t i = 0;
  WA_TRY(for_each_sample_block(path, [&](const float* s, size_t n) {
    for (size_t k = 0; k < n; ++k, ++i) {
      const uint64_t b = i / block;
      if (b >= kWaveformBuckets) return;
      sums[b] += std::fabs(static_cast<double>(s[k]));
    }
  }));
  double loudest = 0;
  for (double& s : sums) {
    s /= static_cast<double>(block);
    loudest = std::max(loudest, s);
  }
  if (loudest <= 0) return wave;  // silence (Baileys' NaN becomes 0 too)
  for (size_t b = 0; b < kWaveformBuckets; ++b) {
    wave[b] = static_cast<uint8_t>(std::clamp(std::floor(100.0 * sums[b] / loudest), 0.0, 100.0));
  }
  return wave;
}

Status probe_audio(const std::string& path, Probe& out, bool voice) {
  {
    auto m = open_media(path, AVMEDIA_TYPE_AUDIO);
    if (!m) return Unexpected<Error>{m.error()};
    out.seconds = seconds_of(*m);
    // WhatsApp's own mimetype for Opus in Ogg (voice notes): name the codec.
    if (m->fmt->streams[m->stream]->codecpar->codec_id == AV_CODEC_ID_OPUS && out.mimetype == "audio/ogg") {
      out.mimetype = "audio/ogg; codecs=opus";
    }
  }
  if (voice) {
    auto w = waveform_of(path);
    if (!w) return Unexpected<Error>{w.error()};
    out.waveform = std::move(*w);
  }
  return {};
}

}  // namespace

Result<Probe> probe_file(const std::string& path, std::optional<Kind> forced) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail("io_error", "cannot stat " + path);
  if (!S_ISREG(st.st_mode)) return fail("io_error", path + " is not a regular file");
  if (::access(path.c_str(), R_OK) != 0) return fail("io_error", "cannot read " + path);
  if (!libraries_ready()) return fail("unsupported_media", "libvips did not initialise");

  Probe p;
  p.mimetype = mimetype_of(path);
  const std::string detected_mimetype = p.mimetype;
  const Kind detected = kind_of_mimetype(p.mimetype);
  p.kind = forced.value_or(detected);
  if (p.kind == Kind::sticker && p.mimetype != "image/webp") {
    return fail("unsupported_media", "a sticker is a WebP image, not " + p.mimetype);
  }
  Status s;
  switch (p.kind) {
    case Kind::image: s = probe_image(path, p, false); break;
    case Kind::sticker: s = probe_image(path, p, true); break;
    case Kind::video: s = probe_video(path, p); break;
    case Kind::audio: s = probe_audio(path, p, false); break;
    case Kind::voice: s = probe_audio(path, p, true); break;
    case Kind::document:
      if (p.mimetype == "application/pdf") probe_pdf_pages(path, p);
      break;
  }
  if (s) return p;
  if (forced) return Unexpected<Error>{s.error()};
  // The content only looked like media: send it as a document.
  Probe doc;
  doc.mimetype = detected_mimetype;
  doc.kind = Kind::document;
  return doc;
}

}  // namespace wa::media
