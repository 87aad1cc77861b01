#include "wa/message/tctoken.hpp"

#include <charconv>
#include <string>

#include "wa/message/lid.hpp"

namespace wa::message::tctoken {

namespace {

Bytes be64(int64_t v) {
  Bytes b(8);
  for (int i = 7; i >= 0; --i) {
    b[static_cast<size_t>(i)] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return b;
}

std::optional<int64_t> from_be64(ByteView b) {
  if (b.size() < 8) return std::nullopt;
  int64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}

// The user a contact's token state is kept under: its LID when known.
Result<std::string> key_user(store::Store& st, const binary::Jid& peer) {
  const binary::Jid user = peer.to_non_ad();
  if (user.is_lid()) return user.user;
  auto alt = alternate_user(st, user);
  if (!alt) return Unexpected<Error>{alt.error()};
  return *alt ? (*alt)->user : user.user;
}

std::optional<int64_t> parse_t(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace

bool expired(int64_t t, int64_t now) {
  const int64_t cutoff = (now / kBucketS - (kBuckets - 1)) * kBucketS;
  return t < cutoff;
}

Result<size_t> store_received(store::Store& st, const binary::Node& n) {
  // The issuer: sender_lid when given, else `from` (mapped to its LID when known).
  binary::Jid issuer;
  if (auto sl = binary::Jid::parse(n.attr_or("sender_lid", "")); sl && sl->is_lid()) {
    issuer = sl->to_non_ad();
  } else if (auto f = binary::Jid::parse(n.attr_or("from", "")); f && f->is_user()) {
    issuer = f->to_non_ad();
  } else {
    return fail("bad_stanza", "privacy_token notification without a valid from");
  }
  auto user = key_user(st, issuer);
  if (!user) return Unexpected<Error>{user.error()};
  const binary::Node* tokens = n.child("tokens");
  size_t kept = 0;
  if (!tokens) return kept;
  for (const binary::Node* t : tokens->children("token")) {
    if (t->attr_or("type", "") != "trusted_contact") continue;
    auto ts = parse_t(t->attr_or("t", ""));
    const Bytes* bytes = t->bytes();
    if (!ts || !bytes || bytes->empty() || bytes->size() > kMaxTokenBytes) continue;
    const std::string name = "tctoken:" + *user;
    auto old = st.get_credential(name);
    if (!old) return Unexpected<Error>{old.error()};
    if (*old) {
      auto old_t = from_be64(**old);
      if (old_t && *old_t > *ts) continue;
    }
    Bytes value = be64(*ts);
    value.insert(value.end(), bytes->begin(), bytes->end());
    WA_TRY(st.put_credential(name, value));
    ++kept;
  }
  return kept;
}

Result<std::optional<Bytes>> valid_token_for(store::Store& st, const binary::Jid& peer, int64_t now) {
  auto user = key_user(st, peer);
  if (!user) return Unexpected<Error>{user.error()};
  auto v = st.get_credential("tctoken:" + *user);
  if (!v) return Unexpected<Error>{v.error()};
  if (!*v || (*v)->size() <= 8) return std::optional<Bytes>{};
  auto t = from_be64(**v);
  if (!t || expired(*t, now)) return std::optional<Bytes>{};
  return std::optional<Bytes>{Bytes((*v)->begin() + 8, (*v)->end())};
}

Result<bool> should_issue(store::Store& st, const binary::Jid& peer, int64_t now) {
  auto user = key_user(st, peer);
  if (!user) return Unexpected<Error>{user.error()};
  auto v = st.get_credential("tcissued:" + *user);
  if (!v) return Unexpected<Error>{v.error()};
  if (!*v) return true;
  auto t = from_be64(**v);
  return !t || now / kBucketS > *t / kBucketS;
}

Status mark_issued(store::Store& st, const binary::Jid& peer, int64_t now) {
  auto user = key_user(st, peer);
  if (!user) return Unexpected<Error>{user.error()};
  return st.put_credential("tcissued:" + *user, be64(now));
}

Status forget_issued(store::Store& st, const binary::Jid& peer) {
  auto user = key_user(st, peer);
  if (!user) return Unexpected<Error>{user.error()};
  return st.delete_credential("tcissued:" + *user);
}

binary::Node build_issue_iq(const binary::Jid& peer, int64_t now, std::string_view iq_id) {
  binary::Children tokens;
  tokens.emplace_back("token", binary::Attrs{{"jid", peer.to_non_ad().str()}, {"t", std::to_string(now)},
                                             {"type", "trusted_contact"}});
  binary::Children kids;
  kids.emplace_back("tokens", binary::Attrs{}, std::move(tokens));
  return binary::Node("iq",
                      binary::Attrs{{"to", "@s.whatsapp.net"}, {"type", "set"}, {"xmlns", "privacy"},
                                    {"id", std::string(iq_id)}},
                      std::move(kids));
}

}  // namespace wa::message::tctoken
