// Binary node codec.
//
// Encoding rules follow the reference client (Baileys 7 lib/WABinary/encode.js),
// because the server and every peer implementation were built against the
// same bytes:
//   - every string (tag, key, value, string content) is tried as: "" -> BINARY_8
//     length 0; token -> 1 or 2 bytes; nibble-packable -> NIBBLE_8;
//     hex-packable (uppercase) -> HEX_8; contains '@' -> JID; else raw BINARY_x.
//   - a JID with a ":device" part is written as AD_JID (even ":0"), else as
//     JID_PAIR; an empty user is a single LIST_EMPTY byte.
//   - byte content is always raw BINARY_x, never a token.
// Deliberate differences, all of them cases where Baileys' bytes would not
// decode back to the string it was given:
//   - JID-like strings Baileys mangles (agent without device, device that is not
//     a canonical 0..255 number, agent on lid/hosted, a device on a server that
//     AD_JID cannot express, an empty server, a second '@') are written raw.
//   - "user:D@msgr" is written as FB_JID and "I-user:D@interop" as
//     INTEROP_JID (Baileys squeezes both into a lossy AD_JID); Baileys' decoder
//     reads them back to the same strings.
//   - strings that collide with JavaScript's Object.prototype names
//     ("constructor", "__proto__", ...) are written raw (Baileys emits 0x00).
//   - more than 65535 attributes/children is an error (Baileys truncates).
#include "wa/binary/codec.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "wa/binary/tokens.hpp"

namespace wa::binary {
namespace {

constexpr uint64_t kMaxBinary = 0xFFFFFFFFull;

// Character classes for the packed alphabets, so one pass over a string
// decides both: bit 0 = nibble ("0-9-."), bit 1 = hex ("0-9A-F").
constexpr uint8_t kNibbleClass = 1;
constexpr uint8_t kHexClass = 2;
constexpr std::array<uint8_t, 256> kCharClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = kNibbleClass | kHexClass;
  t['-'] = t['.'] = kNibbleClass;
  for (int c = 'A'; c <= 'F'; ++c) t[static_cast<std::size_t>(c)] = kHexClass;
  return t;
}();

// Which packed alphabets hold all of `s` (0 when too long or empty).
uint8_t packable(std::string_view s) noexcept {
  if (s.empty() || s.size() > tag::kPackedMax) return 0;
  uint8_t cls = kNibbleClass | kHexClass;
  for (char c : s) {
    cls &= kCharClass[static_cast<uint8_t>(c)];
    if (cls == 0) break;
  }
  return cls;
}

// Packed code of a character: the two alphabets only share the digits, so one
// table serves both ('-' 10, '.' 11 for nibbles; 'A'..'F' 10..15 for hex).
constexpr std::array<uint8_t, 256> kPackCode = [] {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = static_cast<uint8_t>(c - '0');
  t['-'] = 10;
  t['.'] = 11;
  for (int c = 'A'; c <= 'F'; ++c) t[static_cast<std::size_t>(c)] = static_cast<uint8_t>(c - 'A' + 10);
  return t;
}();

// Canonical decimal (no sign, no leading zero except "0") not above `max`.
bool parse_decimal(std::string_view s, uint32_t max, uint32_t& out) noexcept {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

// The first key that appears twice, or nullptr. Two values for one key would
// let two layers read different values, so neither side accepts that.
const std::string* duplicate_key(const Attrs& attrs) {
  if (attrs.size() < 2) return nullptr;
  if (attrs.size() <= 16) {
    for (std::size_t i = 1; i < attrs.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (attrs[i].first == attrs[j].first) return &attrs[i].first;
      }
    }
    return nullptr;
  }
  std::vector<const std::string*> keys;
  keys.reserve(attrs.size());
  for (const auto& a : attrs) keys.push_back(&a.first);
  std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  auto it = std::adjacent_find(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a == *b; });
  return it == keys.end() ? nullptr : *it;
}

class Encoder {
 public:
  Encoder(Bytes& out, const Limits& limits) : out_(out), limits_(limits) {}

  Status node(const Node& n, std::size_t depth) {
    if (depth > limits_.max_depth) return fail("too_deep", "node nesting exceeds the limit");
    if (n.tag.empty()) return fail("bad_node", "node tag is empty");
    if (const auto* dup = duplicate_key(n.attrs)) return fail("duplicate_attr", "duplicate attribute '" + *dup + "'");
    std::size_t items = 2 * n.attrs.size() + 1 + (n.has_content() ? 1 : 0);
    if (auto st = list_start(items); !st) return st;
    if (auto st = string(n.tag); !st) return st;
    for (const auto& [k, v] : n.attrs) {
      if (auto st = string(k); !st) return st;
      if (auto st = string(v); !st) return st;
    }
    if (const auto* s = std::get_if<std::string>(&n.content)) return string(*s);
    if (const auto* b = std::get_if<Bytes>(&n.content)) {
      if (auto st = length(b->size()); !st) return st;
      out_.insert(out_.end(), b->begin(), b->end());
      return {};
    }
    if (const auto* c = std::get_if<Children>(&n.content)) {
      if (auto st = list_start(c->size()); !st) return st;
      for (const Node& child : *c) {
        if (auto st = node(child, depth + 1); !st) return st;
      }
    }
    return {};
  }

 private:
  void byte(uint8_t b) { out_.push_back(b); }

  Status list_start(std::size_t n) {
    if (n == 0) {
      byte(tag::kListEmpty);
    } else if (n < 256) {
      byte(tag::kList8);
      byte(static_cast<uint8_t>(n));
    } else if (n <= 0xFFFF) {
      byte(tag::kList16);
      byte(static_cast<uint8_t>(n >> 8));
      byte(static_cast<uint8_t>(n));
    } else {
      return fail("too_large", "list of " + std::to_string(n) + " items exceeds 65535");
    }
    return {};
  }

  Status length(std::size_t n) {
    if (n > kMaxBinary) return fail("too_large", "string of " + std::to_string(n) + " bytes exceeds 2^32-1");
    if (n >= (1u << 20)) {
      byte(tag::kBinary32);
      byte(static_cast<uint8_t>(n >> 24));
      byte(static_cast<uint8_t>(n >> 16));
      byte(static_cast<uint8_t>(n >> 8));
      byte(static_cast<uint8_t>(n));
    } else if (n >= 256) {
      byte(tag::kBinary20);
      byte(static_cast<uint8_t>((n >> 16) & 0x0F));
      byte(static_cast<uint8_t>(n >> 8));
      byte(static_cast<uint8_t>(n));
    } else {
      byte(tag::kBinary8);
      byte(static_cast<uint8_t>(n));
    }
    return {};
  }

  Status raw(std::string_view s) {
    if (auto st = length(s.size()); !st) return st;
    const auto b = as_bytes(s);
    out_.insert(out_.end(), b.begin(), b.end());
    return {};
  }

  void packed(std::string_view s, uint8_t type) {
    const std::size_t pairs = s.size() / 2;
    const std::size_t n = (s.size() + 1) / 2;
    const std::size_t at = out_.size();
    out_.resize(at + 2 + n);
    uint8_t* p = out_.data() + at;
    p[0] = type;
    p[1] = static_cast<uint8_t>(n | (s.size() % 2 ? 0x80 : 0));
    auto code = [](char c) { return kPackCode[static_cast<uint8_t>(c)]; };
    for (std::size_t i = 0; i < pairs; ++i) p[2 + i] = static_cast<uint8_t>(code(s[2 * i]) << 4 | code(s[2 * i + 1]));
    if (n > pairs) p[2 + pairs] = static_cast<uint8_t>(code(s.back()) << 4 | 0x0F);
  }

  Status string(std::string_view s) {
    if (s.empty()) return raw(s);
    if (auto t = tokens::find(s)) {
      if (t->dict >= 0) byte(static_cast<uint8_t>(tag::kDictionary0 + t->dict));
      byte(t->index);
      return {};
    }
    if (const uint8_t cls = packable(s)) {
      packed(s, (cls & kNibbleClass) ? tag::kNibble8 : tag::kHex8);
      return {};
    }
    if (s.find('@') != std::string_view::npos && jid(s)) return {};
    return raw(s);
  }

  // Parts never contain '@' (the JID is split at its only '@'), so these
  // nested string() calls cannot recurse into jid() again.
  void part(std::string_view s) { (void)string(s); }

  void u16(uint32_t v) {
    byte(static_cast<uint8_t>(v >> 8));
    byte(static_cast<uint8_t>(v));
  }

  // Writes `s` as a JID when that is lossless; false = caller writes it raw.
  bool jid(std::string_view s) {
    const auto at = s.find('@');
    const std::string_view server = s.substr(at + 1);
    const std::string_view combined = s.substr(0, at);
    if (server.empty() || server.find('@') != std::string_view::npos) return false;

    std::string_view user_agent = combined;
    uint32_t device = 0;
    bool has_device = false;
    if (auto c = combined.find(':'); c != std::string_view::npos) {
      user_agent = combined.substr(0, c);
      if (!parse_decimal(combined.substr(c + 1), 0xFFFF, device)) return false;
      has_device = true;
    }
    std::string_view user = user_agent;
    uint32_t agent = 0;
    bool has_agent = false;
    if (auto u = user_agent.find('_'); u != std::string_view::npos) {
      user = user_agent.substr(0, u);
      if (!parse_decimal(user_agent.substr(u + 1), 0xFF, agent)) return false;
      has_agent = true;
    }

    if (!has_device) {
      if (has_agent) return false;  // Baileys would drop the agent
      byte(tag::kJidPair);
      if (user.empty()) {
        byte(tag::kListEmpty);
      } else {
        part(user);
      }
      part(server);
      return true;
    }
    if (!has_agent && server == "msgr") {
      byte(tag::kFbJid);
      part(user);
      u16(device);
      part(server);
      return true;
    }
    if (!has_agent && server == "interop") {
      const auto dash = user.find('-');
      uint32_t integrator = 0;
      if (dash == std::string_view::npos || !parse_decimal(user.substr(0, dash), 0xFFFF, integrator)) return false;
      byte(tag::kInteropJid);
      part(user.substr(dash + 1));
      u16(device);
      u16(integrator);
      part(server);
      return true;
    }
    if (device > 0xFF) return false;
    uint32_t domain = 0;
    if (server == "s.whatsapp.net") {
      // Agents 1/128/129 would read back as lid/hosted servers, 0 as no agent.
      if (has_agent && (agent == 0 || agent == 1 || agent == 128 || agent == 129)) return false;
      domain = agent;
    } else if (has_agent) {
      return false;
    } else if (server == "lid") {
      domain = 1;
    } else if (server == "hosted") {
      domain = 128;
    } else if (server == "hosted.lid") {
      domain = 129;
    } else {
      return false;  // AD_JID cannot carry this server
    }
    byte(tag::kAdJid);
    byte(static_cast<uint8_t>(domain));
    byte(static_cast<uint8_t>(device));
    part(user);
    return true;
  }

  static Status fail(const char* code, std::string msg) { return wa::fail(code, std::move(msg)); }

  Bytes& out_;
  const Limits& limits_;
};

// ---------------------------------------------------------------------------

class Decoder {
 public:
  Decoder(ByteView data, const Limits& limits) : data_(data), limits_(limits) {}

  bool node(Node& n, std::size_t depth) {
    if (depth > limits_.max_depth) return fail("too_deep", "node nesting exceeds the limit");
    uint8_t t = 0;
    std::size_t size = 0;
    if (!u8(t) || !list_size(t, size)) return false;
    if (size == 0) return fail("bad_node", "node with an empty list header");
    if (!u8(t) || !string(t, n.tag, true)) return false;
    if (n.tag.empty()) return fail("bad_node", "node tag is empty");

    const std::size_t nattrs = (size - 1) / 2;
    if (nattrs * 2 > remaining()) return fail("truncated", "attribute count exceeds the input");
    if (!spend(1 + nattrs)) return false;
    n.attrs.resize(nattrs);
    for (auto& [k, v] : n.attrs) {
      if (!u8(t) || !string(t, k, true)) return false;
      if (!u8(t) || !string(t, v, true)) return false;
    }
    if (!unique_keys(n.attrs)) return false;
    if (size % 2 == 1) return true;

    if (!u8(t)) return false;
    switch (t) {
      case tag::kListEmpty:
      case tag::kList8:
      case tag::kList16: {
        std::size_t count = 0;
        if (!list_size(t, count)) return false;
        // Each child needs at least 3 bytes (list header + tag).
        if (count * 3 > remaining()) return fail("truncated", "child count exceeds the input");
        if (count > 0 && depth + 1 > limits_.max_depth) return fail("too_deep", "node nesting exceeds the limit");
        if (count > limits_.max_items - items_) return fail("too_large", "too many nodes and attributes");
        Children children(count);
        for (Node& c : children) {
          if (!node(c, depth + 1)) return false;
        }
        n.content = std::move(children);
        return true;
      }
      case tag::kBinary8:
      case tag::kBinary20:
      case tag::kBinary32: {
        std::size_t len = 0;
        if (!binary_length(t, len)) return false;
        n.content = Bytes(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
                          data_.begin() + static_cast<std::ptrdiff_t>(pos_ + len));
        pos_ += len;
        return true;
      }
      default: {
        std::string s;
        if (!string(t, s, true)) return false;
        n.content = std::move(s);
        return true;
      }
    }
  }

  bool at_end() const noexcept { return pos_ == data_.size(); }
  std::size_t pos() const noexcept { return pos_; }
  Error take_error() { return std::move(error_); }

  bool fail(const char* code, std::string_view what) {
    error_ = Error{code, std::string(what) + " at offset " + std::to_string(pos_)};
    return false;
  }

 private:
  std::size_t remaining() const noexcept { return data_.size() - pos_; }

  bool spend(std::size_t n) {
    if (n > limits_.max_items - items_) return fail("too_large", "too many nodes and attributes");
    items_ += n;
    return true;
  }

  bool u8(uint8_t& v) {
    if (pos_ >= data_.size()) return fail("truncated", "unexpected end of input");
    v = data_[pos_++];
    return true;
  }

  bool uint_be(std::size_t n, uint32_t& v) {
    if (remaining() < n) return fail("truncated", "unexpected end of input");
    v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v << 8 | data_[pos_++];
    return true;
  }

  bool list_size(uint8_t t, std::size_t& n) {
    uint32_t v = 0;
    switch (t) {
      case tag::kListEmpty:
        n = 0;
        return true;
      case tag::kList8:
        if (!uint_be(1, v)) return false;
        break;
      case tag::kList16:
        if (!uint_be(2, v)) return false;
        break;
      default:
        return fail("bad_tag", "expected a list, got tag " + std::to_string(t));
    }
    n = v;
    return true;
  }

  // Reads a BINARY_x length and checks the bytes are present.
  bool binary_length(uint8_t t, std::size_t& len) {
    uint32_t v = 0;
    if (t == tag::kBinary8) {
      if (!uint_be(1, v)) return false;
    } else if (t == tag::kBinary20) {
      if (!uint_be(3, v)) return false;
      v &= 0xFFFFF;
    } else {
      if (!uint_be(4, v)) return false;
    }
    if (v > remaining()) return fail("truncated", "binary length " + std::to_string(v) + " exceeds the input");
    len = v;
    return true;
  }

  bool string(uint8_t t, std::string& out, bool allow_jid) {
    if (t >= 1 && t < tokens::kSingleByteCount) {
      out = tokens::single(t);
      return true;
    }
    switch (t) {
      case tag::kListEmpty:
        out.clear();
        return true;
      case tag::kDictionary0:
      case tag::kDictionary0 + 1:
      case tag::kDictionary0 + 2:
      case tag::kDictionary3: {
        uint8_t i = 0;
        if (!u8(i)) return false;
        out = tokens::double_byte(static_cast<uint8_t>(t - tag::kDictionary0), i);
        return true;
      }
      case tag::kBinary8:
      case tag::kBinary20:
      case tag::kBinary32: {
        std::size_t len = 0;
        if (!binary_length(t, len)) return false;
        out.assign(as_chars(data_.subspan(pos_, len)));
        pos_ += len;
        return true;
      }
      case tag::kNibble8:
      case tag::kHex8:
        return packed(t, out);
      case tag::kJidPair:
      case tag::kAdJid:
      case tag::kFbJid:
      case tag::kInteropJid:
        if (!allow_jid) return fail("bad_jid", "jid nested inside a jid");
        return jid(t, out);
      case tag::kList8:
      case tag::kList16:
        return fail("bad_tag", "list where a string was expected");
      default:
        return fail("bad_token", "unassigned tag " + std::to_string(t));
    }
  }

  bool packed(uint8_t t, std::string& out) {
    uint8_t start = 0;
    if (!u8(start)) return false;
    const std::size_t n = start & 0x7F;
    const bool odd = (start & 0x80) != 0;
    if (n > remaining()) return fail("truncated", "packed string exceeds the input");
    if (odd && n == 0) return fail("bad_packed", "odd packed string without bytes");
    out.resize(2 * n);
    // 0 marks nibble values outside the alphabet; 15 is only valid as the
    // padding of an odd-length string, which is dropped below.
    static constexpr char kNibble[16] = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '-', '.', 0, 0, 0, 0};
    static constexpr char kHex[16] = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};
    const char* table = t == tag::kNibble8 ? kNibble : kHex;
    const std::size_t full = odd ? n - 1 : n;  // bytes with two kept characters
    bool valid = true;
    for (std::size_t i = 0; i < full; ++i) {
      const uint8_t b = data_[pos_ + i];
      const char hi = table[b >> 4];
      const char lo = table[b & 0x0F];
      out[2 * i] = hi;
      out[2 * i + 1] = lo;
      valid &= (hi != 0) & (lo != 0);
    }
    if (odd) {
      const uint8_t b = data_[pos_ + n - 1];
      const char hi = table[b >> 4];
      out[2 * n - 2] = hi;
      valid &= (hi != 0) && (t == tag::kHex8 || (b & 0x0F) == 0x0F || table[b & 0x0F] != 0);
    }
    if (!valid) return fail("bad_packed", "invalid nibble in packed string");
    pos_ += n;
    if (odd) out.pop_back();
    return true;
  }

  // A separator inside a part would change how the string form parses (a
  // user "1:2" would read as device 2), so '@' is refused in every part and
  // ':' in users.
  bool jid_part(std::string& out, bool is_user) {
    uint8_t t = 0;
    if (!u8(t) || !string(t, out, false)) return false;
    if (out.find('@') != std::string::npos) return fail("bad_jid", "jid part contains '@'");
    if (is_user && out.find(':') != std::string::npos) return fail("bad_jid", "jid user contains ':'");
    return true;
  }

  bool jid(uint8_t t, std::string& out) {
    std::string user;
    std::string server;
    uint32_t device = 0;
    switch (t) {
      case tag::kJidPair:
        if (!jid_part(user, true) || !jid_part(server, false)) return false;
        if (server.empty()) return fail("bad_jid", "jid pair without server");
        out = user + "@" + server;
        return true;
      case tag::kAdJid: {
        uint8_t domain = 0;
        uint8_t dev = 0;
        if (!u8(domain) || !u8(dev) || !jid_part(user, true)) return false;
        out = std::move(user);
        std::string_view srv = "s.whatsapp.net";
        bool agent = false;
        switch (domain) {
          case 0: break;
          case 1: srv = "lid"; break;
          case 128: srv = "hosted"; break;
          case 129: srv = "hosted.lid"; break;
          default: agent = true;  // raw agent on the default server
        }
        if (agent) out += "_" + std::to_string(domain);
        if (dev != 0 || agent) out += ":" + std::to_string(dev);
        out += "@";
        out += srv;
        return true;
      }
      case tag::kFbJid:
        if (!jid_part(user, true) || !uint_be(2, device) || !jid_part(server, false)) return false;
        // The encoder writes FB_JID only for @msgr; anything else could not
        // round-trip through the string form.
        if (server != "msgr") return fail("bad_jid", "fb jid with server other than msgr");
        out = user + ":" + std::to_string(device) + "@" + server;
        return true;
      default: {  // kInteropJid
        uint32_t integrator = 0;
        if (!jid_part(user, true) || !uint_be(2, device) || !uint_be(2, integrator) ||
            !jid_part(server, false)) {
          return false;
        }
        if (server != "interop") return fail("bad_jid", "interop jid with server other than interop");
        out = std::to_string(integrator) + "-" + user + ":" + std::to_string(device) + "@" + server;
        return true;
      }
    }
  }

  bool unique_keys(const Attrs& attrs) {
    if (const auto* dup = duplicate_key(attrs)) return fail("duplicate_attr", "duplicate attribute '" + *dup + "'");
    return true;
  }

  ByteView data_;
  const Limits& limits_;
  std::size_t pos_ = 0;
  std::size_t items_ = 0;  // nodes + attributes decoded so far, <= limits_.max_items
  Error error_;
};

}  // namespace

Status encode_to(const Node& node, Bytes& out, const Limits& limits) {
  const std::size_t mark = out.size();
  Encoder enc(out, limits);
  auto st = enc.node(node, 0);
  if (!st) out.resize(mark);  // no half-written node on failure
  return st;
}

Result<Bytes> encode(const Node& node, const Limits& limits) {
  Bytes out;
  if (auto st = encode_to(node, out, limits); !st) return Unexpected<Error>{st.error()};
  return out;
}

Result<Node> decode(ByteView data, const Limits& limits) {
  Decoder dec(data, limits);
  Node n;
  if (!dec.node(n, 0)) return Unexpected<Error>{dec.take_error()};
  if (!dec.at_end()) {
    dec.fail("trailing_bytes", std::to_string(data.size() - dec.pos()) + " bytes after the node");
    return Unexpected<Error>{dec.take_error()};
  }
  return n;
}

}  // namespace wa::binary
