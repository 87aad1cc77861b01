// The newer encrypted edit (docs/PROTOCOL.md §12.4), end to end: a peer (the
// server's load client, encrypting with its own Signal store) sends our
// account a text carrying a messageSecret, then edits it the way current
// official clients do - a secretEncryptedMessage sealed with that secret.
// Our account keeps the secret with the message and reports `edited`; an
// edit sealed with another secret is reported with `error`, nothing lost.
#include <doctest/doctest.h>

#include <functional>
#include <optional>

#include "load_client.hpp"
#include "must.hpp"
#include "temp_dir.hpp"
#include "wa/message/edit.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/proto/message.pb.h"
#include "wa/signal/session.hpp"
#include "wa/store/sqlite_store.hpp"
#include "raw_peer.hpp"
#include "wa_server.hpp"

using namespace harness;
using wa::test::must;
using wa::test::must_ok;

namespace {

json wait_edited(EventLog& ev, const std::string& target) {
  json found;
  ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "se", "edited"))
      if (e.value("target_id", "") == target) found = e;
    return found.is_object();
  }, 20s);
  return found;
}

}  // namespace

TEST_CASE("an encrypted edit opens with the original message's stored secret") {
  TestServer ts({"--addressing", "pn"});  // the raw peer speaks the 2024 protocol
  auto env = wa::loadclient::Env::from_state_dir(ts.state());
  wa::test::TempDir dir;
  Peer peer(env, "15550000642", dir.file("peer.db"));
  const std::string peer_user = "15550000642@s.whatsapp.net";
  Supervisor sup(config_for(ts, json::array({{{"profile", "se"}}})));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "se", "15550000641");
  const auto ours = *wa::binary::Jid::parse("15550000641@s.whatsapp.net");

  const wa::Bytes secret = wa::crypto::random_bytes(32);
  wa::proto::Message original;
  original.mutable_extendedtextmessage()->set_text("draft");
  original.mutable_messagecontextinfo()->set_messagesecret(std::string(wa::as_chars(secret)));
  const std::string orig_id = peer.send(ours, original);
  REQUIRE(wait_message_with(ev, "se", "id", orig_id).is_object());

  // The edit, from the editor's side: its own message in the chat with us.
  wa::message::TargetKey key{ours.str(), true, orig_id, ""};
  auto sealed = must(wa::message::build_secret_edit(key, secret, peer_user, "final", 1234));
  wa::proto::Message edit;
  REQUIRE(edit.ParseFromArray(sealed.data(), static_cast<int>(sealed.size())));
  const std::string edit_id = peer.send(ours, edit);
  json e = wait_edited(ev, orig_id);
  REQUIRE(e.is_object());
  INFO(e.dump());
  CHECK(e["id"] == edit_id);
  CHECK(e["text"] == "final");
  CHECK(e["encrypted"] == true);
  CHECK(e["edit_timestamp"] == 1234);
  CHECK(e["chat"] == peer_user);
  CHECK_FALSE(e.contains("error"));

  // Sealed with a secret that is not the original's: reported, not lost.
  const std::string other_id = peer.send(ours, original);
  REQUIRE(wait_message_with(ev, "se", "id", other_id).is_object());
  wa::message::TargetKey key2{ours.str(), true, other_id, ""};
  auto wrong = must(wa::message::build_secret_edit(key2, wa::crypto::random_bytes(32), peer_user, "forged", 1));
  wa::proto::Message bad;
  REQUIRE(bad.ParseFromArray(wrong.data(), static_cast<int>(wrong.size())));
  peer.send(ours, bad);
  json f = wait_edited(ev, other_id);
  REQUIRE(f.is_object());
  CHECK(f["error"] == "decrypt_failed");
  CHECK_FALSE(f.contains("text"));
  CHECK(events_of(ev.all(), "se", "undecryptable").empty());
}
