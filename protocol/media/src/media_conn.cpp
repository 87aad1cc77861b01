// The media_conn IQ: where to upload and with which auth token.
#include <algorithm>
#include <charconv>

#include "wa/media/media.hpp"

namespace wa::media {

namespace {

template <class T>
std::optional<T> parse_num(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

binary::Node build_media_conn_iq(const std::string& id) {
  binary::Children kids;
  kids.emplace_back("media_conn");
  return binary::Node("iq", binary::Attrs{{"id", id}, {"xmlns", "w:m"}, {"type", "set"}, {"to", "@s.whatsapp.net"}},
                      std::move(kids));
}

Result<MediaConn> parse_media_conn(const binary::Node& iq) {
  if (iq.tag != "iq") return fail("bad_stanza", "media_conn answer is not an iq");
  if (iq.attr_or("type", "") == "error") {
    const binary::Node* err = iq.child("error");
    return fail("bad_stanza", "media_conn refused" + (err ? " (" + std::string(err->attr_or("code", "?")) + ")" : std::string()));
  }
  const binary::Node* mc = iq.child("media_conn");
  if (!mc) return fail("bad_stanza", "no <media_conn> in the answer");
  MediaConn conn;
  conn.auth = std::string(mc->attr_or("auth", ""));
  if (conn.auth.empty()) return fail("bad_stanza", "media_conn without auth");
  auto ttl = parse_num<int64_t>(mc->attr_or("ttl", ""));
  if (!ttl || *ttl < 0) return fail("bad_stanza", "media_conn without a valid ttl");
  conn.ttl_s = *ttl;
  if (auto a = parse_num<int64_t>(mc->attr_or("auth_ttl", "")); a && *a >= 0) conn.auth_ttl_s = *a;
  if (auto m = parse_num<uint64_t>(mc->attr_or("maxContentLengthBytes", ""))) conn.max_content_bytes = *m;
  for (const binary::Node* h : mc->children("host")) {
    MediaHost host;
    host.hostname = std::string(h->attr_or("hostname", ""));
    if (host.hostname.empty()) continue;
    host.fallback = h->attr_or("type", "") == "fallback";
    if (auto m = parse_num<uint64_t>(h->attr_or("maxContentLengthBytes", ""))) {
      host.max_content_bytes = *m;
      if (*m != 0 && (conn.max_content_bytes == 0 || *m < conn.max_content_bytes)) conn.max_content_bytes = *m;
    }
    conn.hosts.push_back(std::move(host));
  }
  if (conn.hosts.empty()) return fail("bad_stanza", "media_conn without a host");
  std::stable_partition(conn.hosts.begin(), conn.hosts.end(), [](const MediaHost& h) { return !h.fallback; });
  return conn;
}

}  // namespace wa::media
