// Undecryptable is recoverable where the protocol allows, end to end: a peer
// (the server's load client, encrypting with its own Signal store) sends our
// account a message whose key it already used under another id - what a
// reference client whose ratchet forked under concurrency puts on the wire.
// Our worker must answer with a retry receipt (not NACK 496), so the peer
// re-encrypts and the message arrives; a true redelivery of a stored id is
// receipted again and nothing else.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <optional>

#include "load_client.hpp"
#include "must.hpp"
#include "temp_dir.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/send.hpp"
#include "wa/proto/message.pb.h"
#include "wa/signal/session.hpp"
#include "wa/store/sqlite_store.hpp"
#include "raw_peer.hpp"
#include "wa_server.hpp"

using namespace harness;
using wa::test::must;
using wa::test::must_ok;

namespace {

// A delivery receipt ("inactive": delivered to a device not marked online).
bool is_delivery_for(const wa::binary::Node& n, const std::string& id) {
  if (n.tag != "receipt" || n.attr_or("id", "") != id) return false;
  auto type = n.attr_or("type", "");
  return type.empty() || type == "inactive";
}

bool is_retry_for(const wa::binary::Node& n, const std::string& id) {
  return n.tag == "receipt" && n.attr_or("type", "") == "retry" && n.attr_or("id", "") == id;
}

const json* message_event(const std::vector<json>& all, const std::string& id) {
  for (const auto& e : all)
    if (e.value("profile", "") == "rr" && e.value("type", "") == "message" && e.value("id", "") == id) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("a message key reused under a new id gets a retry receipt, not NACK 496, and the re-send is read") {
  TestServer ts({"--addressing", "pn"});  // the raw peer speaks the 2024 protocol
  auto env = wa::loadclient::Env::from_state_dir(ts.state());
  wa::test::TempDir dir;
  Peer peer(env, "15550000192", dir.file("peer.db"));
  const std::string peer_user = "15550000192@s.whatsapp.net";
  Supervisor sup(config_for(ts, json::array({{{"profile", "rr"}}})));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "rr", "15550000191");
  const auto ours = *wa::binary::Jid::parse("15550000191@s.whatsapp.net");

  // Two messages on one session: a pkmsg that opens it, a msg on it.
  wa::binary::Node first = peer.encrypt(ours, "first");
  wa::binary::Node second = peer.encrypt(ours, "second");
  const std::string first_id(first.attr_or("id", "")), second_id(second.attr_or("id", ""));
  peer.conn->send(first);
  peer.conn->send(second);
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) { return message_event(all, second_id) != nullptr; }, 20s));
  CHECK(message_event(ev.all(), first_id) != nullptr);

  // The second message's key again, under a new id: an "old counter" for
  // an id our inbox has never seen. The answer is a retry receipt.
  wa::binary::Node reused = second;
  const std::string reused_id = "3EB0REUSEDKEY" + second_id.substr(second_id.size() - 6);
  reused.set_attr("id", reused_id);
  peer.conn->send(reused);
  wa::binary::Node retry = peer.next([&](const wa::binary::Node& n) {
    // A NACK never reaches the peer (the server keeps it): only a retry
    // receipt lets it re-encrypt. A delivery receipt would be a lie.
    if (is_delivery_for(n, reused_id))
      throw std::runtime_error("a delivery receipt for a message that was not decrypted");
    return is_retry_for(n, reused_id);
  });
  CHECK(retry.attr_or("from", "") != "");

  // The undecryptable event names the chat the way message events do.
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) { return !events_of(all, "rr", "undecryptable").empty(); }, 20s));
  auto failed = events_of(ev.all(), "rr", "undecryptable");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]["id"] == reused_id);
  CHECK(failed[0]["reason"] == "duplicate_message");
  CHECK(failed[0]["chat"] == peer_user);
  CHECK(failed[0]["sender"] == peer.creds.jid);
  CHECK(message_event(ev.all(), second_id)->value("chat", "") == peer_user);

  // The peer answers as a sender does: re-encrypts what it meant to send
  // under that id, for our device alone, and we read it.
  auto req = must(wa::message::parse_retry_receipt(retry));
  wa::proto::Message meant;
  meant.set_conversation("recovered");
  const std::string meant_body = meant.SerializeAsString();
  must_ok(peer.st->sent_put(
      wa::store::SentMessage{reused_id, ours.str(), wa::Bytes(meant_body.begin(), meant_body.end()), 0}));
  auto self = must(wa::message::load_self(*peer.st));
  auto sent = must(peer.st->sent_get(reused_id, ours.str()));
  REQUIRE(sent);
  auto resend = must(wa::message::build_retry_resend(*peer.sig, *peer.st, self, req, *sent));
  peer.conn->send(resend.stanza);
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) { return message_event(all, reused_id) != nullptr; }, 20s));
  CHECK(message_event(ev.all(), reused_id)->value("text", "") == "recovered");

  // A true redelivery (the id is in the inbox): receipted again, no retry
  // receipt, no event, stored once.
  peer.conn->send(second);
  peer.next([&](const wa::binary::Node& n) {
    if (is_retry_for(n, second_id)) throw std::runtime_error("a retry receipt for a stored message");
    return is_delivery_for(n, second_id);
  });
  CHECK(events_of(ev.all(), "rr", "undecryptable").size() == 1);
  size_t seconds = 0;
  for (const auto& e : events_of(ev.all(), "rr", "message")) seconds += e.value("id", "") == second_id;
  CHECK(seconds == 1);
}
