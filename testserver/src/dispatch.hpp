// Which handler answers an incoming stanza: one table by tag, one for IQs by
// xmlns, each entry saying whether it is open before login. Pure (no server
// state), so what the server refuses is testable alone; the server maps each
// handler to its method (server.cpp).
#pragma once

#include <optional>
#include <string_view>

namespace wa::testserver::dispatch {

enum class Stanza {
  iq,            // -> route_iq
  message,       // relay.cpp
  receipt,       // relay.cpp
  chatstate,     // relay.cpp
  ack,           // relay.cpp: answers a stanza we handed out
  ib,            // relay.cpp: <offline_batch>
  ack_back,      // <call>, <notification>: acked, nothing else
  presence,      // contacts.cpp: own presence, subscriptions
};

// nullopt: dropped without an answer (unknown tags, and before
// login everything but iq).
std::optional<Stanza> route_stanza(std::string_view tag, bool authed);

enum class Iq {
  pong,          // w:p, passive, urn:xmpp:ping: an empty result
  encrypt,       // iq_keys.cpp
  usync,         // iq_keys.cpp
  groups,        // iq_groups.cpp (w:g2)
  md,            // pairing.cpp: link-code stages, remove-companion-device
  abt,           // iq_abt.cpp: AB props
  media_conn,    // media_phone.cpp (w:m): the media host and an upload auth token
  privacy,       // iq_keys.cpp: privacy tokens (LID-first server or --tctoken require)
  picture,       // contacts.cpp (w:profile:picture)
  blocklist,     // contacts.cpp
  status,        // contacts.cpp: the about text (legacy IQ)
  mex,           // contacts.cpp: the about text (GraphQL form)
  client_answer, // type=result|error from the client (pair-device-sign)
};

struct IqRoute {
  std::optional<Iq> handler;  // set: handled
  int error_code = 0;         // else the error reply
  std::string_view error_text;
};

// type and xmlns of an <iq>; link_code_step: the iq carries
// <link_code_companion_reg> from a connection that is registering (the only
// md request open before login).
IqRoute route_iq(std::string_view type, std::string_view xmlns, bool authed, bool link_code_step);

}  // namespace wa::testserver::dispatch
