#include "wa/binary/frame.hpp"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <string>

namespace wa::binary {
namespace {

void put24(Bytes& out, std::size_t n) {
  out.push_back(static_cast<uint8_t>(n >> 16));
  out.push_back(static_cast<uint8_t>(n >> 8));
  out.push_back(static_cast<uint8_t>(n));
}

std::size_t get24(const uint8_t* p) { return std::size_t{p[0]} << 16 | std::size_t{p[1]} << 8 | p[2]; }

// zlib streams own heap state; these make sure it is released on every path.
struct InflateStream {
  z_stream z{};
  bool ok = false;
  InflateStream() { ok = inflateInit(&z) == Z_OK; }
  ~InflateStream() {
    if (ok) inflateEnd(&z);
  }
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
};

struct DeflateStream {
  z_stream z{};
  bool ok = false;
  DeflateStream() { ok = deflateInit(&z, Z_DEFAULT_COMPRESSION) == Z_OK; }
  ~DeflateStream() {
    if (ok) deflateEnd(&z);
  }
  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;
};

// zlib's API is not const-correct for input buffers.
Bytef* zin(ByteView in) { return const_cast<Bytef*>(in.data()); }

}  // namespace

Result<Bytes> make_intro(ByteView routing_info) {
  Bytes out;
  if (!routing_info.empty()) {
    if (routing_info.size() > kMaxRoutingInfo) return fail("too_large", "routing info does not fit 24 bits");
    out.reserve(7 + routing_info.size() + kIntroHeader.size());
    out.insert(out.end(), {'E', 'D', 0, 1});
    put24(out, routing_info.size());
    out.insert(out.end(), routing_info.begin(), routing_info.end());
  }
  out.insert(out.end(), kIntroHeader.begin(), kIntroHeader.end());
  return out;
}

Status append_frame(Bytes& out, ByteView payload) {
  if (payload.size() > kMaxFramePayload) {
    return fail("too_large", "frame of " + std::to_string(payload.size()) + " bytes exceeds 2^24-1");
  }
  put24(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  return {};
}

Result<Bytes> make_frame(ByteView payload) {
  Bytes out;
  out.reserve(3 + payload.size());
  if (auto st = append_frame(out, payload); !st) return Unexpected<Error>{st.error()};
  return out;
}

Result<std::optional<Intro>> parse_intro(ByteView data, std::size_t max_routing_info) {
  Intro intro;
  std::size_t pos = 0;
  if (!data.empty() && data[0] == 'E') {
    if (data.size() >= 2 && data[1] != 'D') return fail("bad_intro", "stream starts with 'E' but not 'ED'");
    if (data.size() < 7) return std::optional<Intro>{};
    if (data[2] != 0 || data[3] != 1) return fail("bad_intro", "unknown ED routing prefix version");
    const std::size_t len = get24(data.data() + 4);
    if (len > max_routing_info) return fail("too_large", "routing info of " + std::to_string(len) + " bytes");
    if (data.size() < 7 + len) return std::optional<Intro>{};
    intro.routing_info.assign(data.begin() + 7, data.begin() + static_cast<std::ptrdiff_t>(7 + len));
    pos = 7 + len;
  }
  const std::size_t have = std::min(data.size() - pos, kIntroHeader.size());
  if (!std::equal(kIntroHeader.begin(), kIntroHeader.begin() + static_cast<std::ptrdiff_t>(have),
                  data.begin() + static_cast<std::ptrdiff_t>(pos))) {
    return fail("bad_intro", "stream does not start with the WA 6.3 header");
  }
  if (have < kIntroHeader.size()) return std::optional<Intro>{};
  intro.size = pos + kIntroHeader.size();
  return std::optional<Intro>{std::move(intro)};
}

void FrameSplitter::feed(ByteView chunk) {
  if (error_) return;
  // Drop consumed bytes before growing, so a long-lived stream stays small.
  if (start_ > 0 && (start_ == buf_.size() || start_ >= 64 * 1024)) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buf_.insert(buf_.end(), chunk.begin(), chunk.end());
}

Result<std::optional<Bytes>> FrameSplitter::next() {
  if (error_) return Unexpected<Error>{*error_};
  ByteView avail(buf_.data() + start_, buf_.size() - start_);
  if (options_.expect_intro && !intro_) {
    auto r = parse_intro(avail, options_.max_routing_info);
    if (!r) {
      error_ = r.error();
      return Unexpected<Error>{*error_};
    }
    if (!*r) return std::optional<Bytes>{};
    start_ += (*r)->size;
    intro_ = std::move(**r);
    avail = avail.subspan(intro_->size);
  }
  if (avail.size() < 3) return std::optional<Bytes>{};
  const std::size_t len = get24(avail.data());
  if (len > options_.max_frame) {
    error_ = Error{"frame_too_large", "frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                                          std::to_string(options_.max_frame)};
    return Unexpected<Error>{*error_};
  }
  if (avail.size() < 3 + len) return std::optional<Bytes>{};
  Bytes frame(avail.begin() + 3, avail.begin() + static_cast<std::ptrdiff_t>(3 + len));
  start_ += 3 + len;
  return std::optional<Bytes>{std::move(frame)};
}

Result<Bytes> zlib_deflate(ByteView in) {
  DeflateStream s;
  if (!s.ok) return fail("bad_zlib", "deflateInit failed");
  Bytes out(deflateBound(&s.z, static_cast<uLong>(in.size())));
  s.z.next_in = zin(in);
  s.z.avail_in = static_cast<uInt>(in.size());
  s.z.next_out = out.data();
  s.z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s.z, Z_FINISH) != Z_STREAM_END) return fail("bad_zlib", "deflate did not finish");
  out.resize(s.z.total_out);
  return out;
}

Result<Bytes> zlib_inflate(ByteView in, std::size_t max_out) {
  if (in.size() > UINT32_MAX) return fail("too_large", "compressed payload too large");
  InflateStream s;
  if (!s.ok) return fail("bad_zlib", "inflateInit failed");
  s.z.next_in = zin(in);
  s.z.avail_in = static_cast<uInt>(in.size());
  // Grow geometrically but never past max_out + 1: one byte over the cap is
  // enough to know the payload is too large.
  Bytes out;
  std::size_t cap = std::min<std::size_t>(std::max<std::size_t>(in.size() * 4, 1024), max_out + 1);
  for (;;) {
    out.resize(cap);
    s.z.next_out = out.data() + s.z.total_out;
    s.z.avail_out = static_cast<uInt>(cap - s.z.total_out);
    const uLong in_before = s.z.total_in;
    const uLong out_before = s.z.total_out;
    const int rc = inflate(&s.z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (s.z.total_out > max_out) return fail("too_large", "inflated payload exceeds " + std::to_string(max_out) + " bytes");
    if (rc == Z_BUF_ERROR && s.z.avail_in == 0) return fail("bad_zlib", "truncated zlib stream");
    if (rc != Z_OK && rc != Z_BUF_ERROR) return fail("bad_zlib", "corrupt zlib stream");
    if (s.z.avail_out == 0) {
      if (cap > max_out) return fail("too_large", "inflated payload exceeds " + std::to_string(max_out) + " bytes");
      cap = std::min(cap * 2, max_out + 1);
    } else if (s.z.avail_in == 0) {
      return fail("bad_zlib", "truncated zlib stream");
    } else if (s.z.total_in == in_before && s.z.total_out == out_before) {
      return fail("bad_zlib", "zlib stream makes no progress");
    }
  }
  if (s.z.total_out > max_out) return fail("too_large", "inflated payload exceeds " + std::to_string(max_out) + " bytes");
  out.resize(s.z.total_out);
  return out;
}

Result<Bytes> encode_frame_payload(const Node& node) {
  Bytes out{0x00};
  if (auto st = encode_to(node, out); !st) return Unexpected<Error>{st.error()};
  return out;
}

Result<Bytes> encode_frame_payload_compressed(const Node& node) {
  auto raw = encode(node);
  if (!raw) return raw;
  auto z = zlib_deflate(*raw);
  if (!z) return z;
  Bytes out{kFlagCompressed};
  out.insert(out.end(), z->begin(), z->end());
  return out;
}

Result<Node> decode_frame_payload(ByteView payload, const PayloadLimits& limits) {
  if (payload.empty()) return fail("truncated", "empty frame payload");
  if (payload[0] & kFlagCompressed) {
    auto inflated = zlib_inflate(payload.subspan(1), limits.max_inflated);
    if (!inflated) return Unexpected<Error>{std::move(inflated).error()};
    return decode(*inflated, limits.node);
  }
  return decode(payload.subspan(1), limits.node);
}

}  // namespace wa::binary
