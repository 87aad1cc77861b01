#include "record_keys.hpp"

#include <google/protobuf/io/coded_stream.h>

#include <cstdint>
#include <limits>

namespace wa::signal::detail {
namespace {

using google::protobuf::io::CodedInputStream;

// libsignal-protocol-c's LocalStorageProtocol.proto (docs/PROTOCOL.md §3):
// RecordStructure { 1: currentSession, 2: repeated previousSessions }, both
// SessionStructure { 3: remoteIdentityPublic, 13: aliceBaseKey, ... }.
constexpr uint32_t kCurrentSession = 1;
constexpr uint32_t kPreviousSession = 2;
constexpr uint32_t kRemoteIdentity = 3;
constexpr uint32_t kAliceBaseKey = 13;

constexpr uint32_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

// A length prefix, and only one that fits in what is left: a limit past the
// end would be clamped to it, and a cut field read as whole.
bool read_length(CodedInputStream& in, int& len) {
  uint32_t n = 0;
  if (!in.ReadVarint32(&n)) return false;
  const int left = in.BytesUntilLimit();
  if (left < 0 || n > static_cast<uint32_t>(left)) return false;
  len = static_cast<int>(n);
  return true;
}

bool skip_field(CodedInputStream& in, uint32_t tag) {
  switch (tag & 7) {
    case kVarint: {
      uint64_t ignored = 0;
      return in.ReadVarint64(&ignored);
    }
    case kFixed64:
      return in.Skip(8);
    case kLengthDelimited: {
      int len = 0;
      return read_length(in, len) && in.Skip(len);
    }
    case kFixed32:
      return in.Skip(4);
    default:  // groups (3, 4) are not in this schema; 6 and 7 are invalid
      return false;
  }
}

bool read_bytes(CodedInputStream& in, Bytes& out) {
  int len = 0;
  if (!read_length(in, len)) return false;
  out.resize(static_cast<size_t>(len));
  return in.ReadRaw(out.data(), len);
}

// One length-prefixed SessionStructure. A repeated singular field keeps its
// last value, as protobuf merges.
bool read_session(CodedInputStream& in, Bytes* base, Bytes* remote) {
  int len = 0;
  if (!read_length(in, len)) return false;
  auto limit = in.PushLimit(len);
  while (uint32_t tag = in.ReadTag()) {
    const uint32_t field = tag >> 3;
    const bool bytes = (tag & 7) == kLengthDelimited;
    if (bytes && field == kAliceBaseKey && base) {
      if (!read_bytes(in, *base)) return false;
    } else if (bytes && field == kRemoteIdentity && remote) {
      if (!read_bytes(in, *remote)) return false;
    } else if (!skip_field(in, tag)) {
      return false;
    }
  }
  if (!in.ConsumedEntireMessage()) return false;
  in.PopLimit(limit);
  return true;
}

}  // namespace

std::optional<RecordKeys> read_record_keys(ByteView record) noexcept {
  if (record.size() > static_cast<size_t>(std::numeric_limits<int>::max())) return std::nullopt;
  try {
    CodedInputStream in(record.data(), static_cast<int>(record.size()));
    RecordKeys k;
    while (uint32_t tag = in.ReadTag()) {
      const uint32_t field = tag >> 3;
      const bool nested = (tag & 7) == kLengthDelimited;
      if (nested && field == kCurrentSession) {
        if (!read_session(in, &k.current_base, &k.remote_identity)) return std::nullopt;
      } else if (nested && field == kPreviousSession) {
        Bytes base;
        if (!read_session(in, &base, nullptr)) return std::nullopt;
        k.previous_bases.push_back(std::move(base));
      } else if (!skip_field(in, tag)) {
        return std::nullopt;
      }
    }
    if (!in.ConsumedEntireMessage()) return std::nullopt;
    return k;
  } catch (...) {  // only allocation can throw here; the caller parses instead
    return std::nullopt;
  }
}

}  // namespace wa::signal::detail
