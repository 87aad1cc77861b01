#include "dispatch.hpp"

namespace wa::testserver::dispatch {

namespace {

struct StanzaEntry {
  std::string_view tag;
  Stanza handler;
  bool before_login;
};

// Before login only the pairing conversation (iqs) is allowed.
constexpr StanzaEntry kStanzas[] = {
    {"iq", Stanza::iq, true},
    {"message", Stanza::message, false},
    {"receipt", Stanza::receipt, false},
    {"chatstate", Stanza::chatstate, false},
    {"ack", Stanza::ack, false},
    {"ib", Stanza::ib, false},
    {"call", Stanza::ack_back, false},
    {"notification", Stanza::ack_back, false},
    {"presence", Stanza::presence, false},
};

enum class Gate {
  open,            // also before login
  link_code_step,  // before login only for a registering companion's link-code stage
  login,           // after login only
};

struct IqEntry {
  std::string_view xmlns;
  Iq handler;
  Gate gate;
};

constexpr IqEntry kIqs[] = {
    {"w:p", Iq::pong, Gate::open},
    {"passive", Iq::pong, Gate::login},
    {"urn:xmpp:ping", Iq::pong, Gate::login},
    {"encrypt", Iq::encrypt, Gate::login},
    {"usync", Iq::usync, Gate::login},
    {"w:g2", Iq::groups, Gate::login},
    {"md", Iq::md, Gate::link_code_step},
    {"privacy", Iq::privacy, Gate::login},
    {"abt", Iq::abt, Gate::login},
    {"w:m", Iq::media_conn, Gate::login},
    {"w:profile:picture", Iq::picture, Gate::login},
    {"blocklist", Iq::blocklist, Gate::login},
    {"status", Iq::status, Gate::login},
    {"w:mex", Iq::mex, Gate::login},
};

}  // namespace

std::optional<Stanza> route_stanza(std::string_view tag, bool authed) {
  for (const auto& e : kStanzas)
    if (e.tag == tag) return authed || e.before_login ? std::optional<Stanza>(e.handler) : std::nullopt;
  return std::nullopt;
}

IqRoute route_iq(std::string_view type, std::string_view xmlns, bool authed, bool link_code_step) {
  if (type == "result" || type == "error") return {Iq::client_answer, 0, {}};
  const IqEntry* entry = nullptr;
  for (const auto& e : kIqs)
    if (e.xmlns == xmlns) entry = &e;
  if (!authed) {
    bool open = entry && (entry->gate == Gate::open || (entry->gate == Gate::link_code_step && link_code_step));
    if (open) return {entry->handler, 0, {}};
    return {std::nullopt, 401, "not-authorized"};
  }
  if (entry) return {entry->handler, 0, {}};
  return {std::nullopt, 501, "feature-not-implemented"};
}

}  // namespace wa::testserver::dispatch
