#include "wa/message/lid.hpp"

#include <utility>

namespace wa::message {

namespace {

// Attribute pairs (address, its alternative) a stanza may carry.
constexpr std::pair<std::string_view, std::string_view> kAltPairs[] = {
    {"from", "sender_pn"},          {"from", "sender_lid"},          {"participant", "participant_pn"},
    {"participant", "participant_lid"}, {"recipient", "peer_recipient_pn"}, {"recipient", "peer_recipient_lid"},
    {"from", "lid"},
};

bool digits(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::vector<LidMapping> mappings_in(const binary::Node& stanza) {
  std::vector<LidMapping> out;
  for (const auto& [primary, alt] : kAltPairs) {
    auto a = stanza.attr(primary);
    auto b = stanza.attr(alt);
    if (!a || !b) continue;
    auto ja = binary::Jid::parse(*a);
    auto jb = binary::Jid::parse(*b);
    if (!ja || !jb) continue;
    const binary::Jid* pn = ja->is_pn() ? &*ja : jb->is_pn() ? &*jb : nullptr;
    const binary::Jid* lid = ja->is_lid() ? &*ja : jb->is_lid() ? &*jb : nullptr;
    if (!pn || !lid || !digits(pn->user) || !digits(lid->user)) continue;
    LidMapping m{pn->user, lid->user};
    bool seen = false;
    for (const auto& o : out) seen = seen || o == m;
    if (!seen) out.push_back(std::move(m));
  }
  return out;
}

Status learn_mappings(store::Store& st, const binary::Node& stanza) {
  for (const auto& m : mappings_in(stanza)) WA_TRY(st.put_lid_mapping(m.pn_user, m.lid_user));
  return {};
}

Result<std::optional<binary::Jid>> alternate_user(store::Store& st, const binary::Jid& user) {
  if (user.is_pn()) {
    auto lid = st.lid_for_pn(user.user);
    if (!lid) return Unexpected<Error>{lid.error()};
    if (!*lid) return std::optional<binary::Jid>{};
    auto j = binary::Jid::parse(**lid + "@lid");
    if (!j) return fail("db_corrupt", "a stored LID does not parse");
    return std::optional<binary::Jid>{std::move(*j)};
  }
  if (user.is_lid()) {
    auto pn = st.pn_for_lid(user.user);
    if (!pn) return Unexpected<Error>{pn.error()};
    if (!*pn) return std::optional<binary::Jid>{};
    auto j = binary::Jid::parse(**pn + "@s.whatsapp.net");
    if (!j) return fail("db_corrupt", "a stored phone number does not parse");
    return std::optional<binary::Jid>{std::move(*j)};
  }
  return std::optional<binary::Jid>{};
}

std::optional<binary::Jid> parse_user_or_number(std::string_view text) {
  if (auto j = binary::Jid::parse(text); j && j->is_user()) return std::move(*j);
  // A phone number as people write it: optional +, digits, spaces, dashes,
  // dots and parentheses; 5 to 20 digits (E.164 has at most 15).
  std::string d;
  bool plus_ok = true;
  for (char c : text) {
    if (c == '+' && plus_ok && d.empty()) {
      plus_ok = false;
      continue;
    }
    if (c >= '0' && c <= '9') {
      d += c;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
      return std::nullopt;
    }
  }
  if (d.size() < 5 || d.size() > 20 || d[0] == '0') return std::nullopt;
  auto j = binary::Jid::parse(d + "@s.whatsapp.net");
  if (!j) return std::nullopt;
  return std::move(*j);
}

}  // namespace wa::message
