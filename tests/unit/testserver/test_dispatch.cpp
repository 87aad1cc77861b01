// The server's dispatch table: what each stanza and IQ reaches, and what is
// refused before and after login (the answers clients see for them).
#include <doctest/doctest.h>

#include "dispatch.hpp"

using namespace wa::testserver::dispatch;

TEST_CASE("before login only iqs reach a handler") {
  CHECK(route_stanza("iq", false) == Stanza::iq);
  for (const char* tag : {"message", "receipt", "chatstate", "ack", "ib", "call", "notification", "presence", "x"})
    CHECK_MESSAGE(!route_stanza(tag, false), tag);
}

TEST_CASE("after login each stanza tag has its handler, unknown tags none") {
  CHECK(route_stanza("iq", true) == Stanza::iq);
  CHECK(route_stanza("message", true) == Stanza::message);
  CHECK(route_stanza("receipt", true) == Stanza::receipt);
  CHECK(route_stanza("chatstate", true) == Stanza::chatstate);
  CHECK(route_stanza("ack", true) == Stanza::ack);
  CHECK(route_stanza("ib", true) == Stanza::ib);
  CHECK(route_stanza("call", true) == Stanza::ack_back);
  CHECK(route_stanza("notification", true) == Stanza::ack_back);
  CHECK(route_stanza("presence", true) == Stanza::presence);
  CHECK(!route_stanza("", true));
  CHECK(!route_stanza("Message", true));
}

TEST_CASE("a client's result or error iq is an answer, logged in or not") {
  for (bool authed : {false, true}) {
    CHECK(route_iq("result", "md", authed, false).handler == Iq::client_answer);
    CHECK(route_iq("error", "", authed, false).handler == Iq::client_answer);
  }
}

TEST_CASE("before login: w:p and the link-code stage only, everything else 401") {
  CHECK(route_iq("get", "w:p", false, false).handler == Iq::pong);
  CHECK(route_iq("set", "md", false, true).handler == Iq::md);
  for (const char* xmlns : {"md", "passive", "urn:xmpp:ping", "encrypt", "usync", "w:g2", "nope", ""}) {
    auto r = route_iq("set", xmlns, false, false);
    CHECK_MESSAGE(!r.handler, xmlns);
    CHECK(r.error_code == 401);
    CHECK(r.error_text == "not-authorized");
  }
  // The link-code flag opens md only.
  CHECK(route_iq("set", "encrypt", false, true).error_code == 401);
}

TEST_CASE("after login: each namespace has its handler, unknown ones 501") {
  CHECK(route_iq("get", "w:p", true, false).handler == Iq::pong);
  CHECK(route_iq("set", "passive", true, false).handler == Iq::pong);
  CHECK(route_iq("get", "urn:xmpp:ping", true, false).handler == Iq::pong);
  CHECK(route_iq("get", "encrypt", true, false).handler == Iq::encrypt);
  CHECK(route_iq("get", "usync", true, false).handler == Iq::usync);
  CHECK(route_iq("set", "w:g2", true, false).handler == Iq::groups);
  CHECK(route_iq("set", "md", true, false).handler == Iq::md);
  // The handler answers 501 itself unless privacy tokens are on.
  CHECK(route_iq("set", "privacy", true, false).handler == Iq::privacy);
  CHECK(route_iq("get", "w:profile:picture", true, false).handler == Iq::picture);
  CHECK(route_iq("set", "blocklist", true, false).handler == Iq::blocklist);
  CHECK(route_iq("set", "status", true, false).handler == Iq::status);
  CHECK(route_iq("get", "w:mex", true, false).handler == Iq::mex);
  for (const char* xmlns : {"w:profile:picture", "blocklist", "status", "w:mex"})
    CHECK_MESSAGE(route_iq("get", xmlns, false, false).error_code == 401, xmlns);
  for (const char* xmlns : {"w:profile", "", "MD"}) {
    auto r = route_iq("get", xmlns, true, false);
    CHECK_MESSAGE(!r.handler, xmlns);
    CHECK(r.error_code == 501);
    CHECK(r.error_text == "feature-not-implemented");
  }
}
