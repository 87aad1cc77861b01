// The whole send path against wa-testserver: control socket -> connection
// worker -> a forked sender (usync, prekey bundles, Signal encryption) ->
// relay -> answered on the server's ack.
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;

TEST_CASE("send_text between two paired accounts is answered on the server's ack") {
  TwoAccounts accounts("snda", "15550000021", "sndb", "15550000022");
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;

  json r = sup.call({{"cmd", "send_text"}, {"profile", "snda"}, {"to", "15550000022@s.whatsapp.net"},
                     {"text", "hello"}, {"client_id", "send-1"}},
                    60000);
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  std::string id = r["result"]["id"];
  CHECK(id.rfind("3EB0", 0) == 0);
  CHECK(id.size() == 22);
  // A sender was forked for that conversation and is still there, idle.
  auto senders = sup.instance("snda")["senders"];
  REQUIRE(senders.size() == 1);
  CHECK(senders[0]["conversation"] == "15550000022@s.whatsapp.net");

  // A second message reuses the session (no new bundle) and gets a new id.
  json r2 = sup.call({{"cmd", "send_text"}, {"profile", "snda"}, {"to", "15550000022@s.whatsapp.net"},
                      {"text", "again"}},
                     60000);
  REQUIRE(r2.value("ok", false));
  CHECK(r2["result"]["id"] != id);
  // The resend of the first request with its client id is answered, not sent again.
  json again = sup.call({{"cmd", "send_text"}, {"profile", "snda"}, {"to", "15550000022@s.whatsapp.net"},
                         {"text", "hello"}, {"client_id", "send-1"}},
                        60000);
  CHECK(again == r);

  // The recipient decrypts both, stores them in its inbox and announces each once.
  REQUIRE(ev.wait_for([&](const std::vector<json>& all) { return events_of(all, "sndb", "message").size() >= 2; }));
  auto msgs = events_of(ev.all(), "sndb", "message");
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0]["id"] == id);
  CHECK(msgs[0]["text"] == "hello");
  // LID-first server: the chat is our LID, with the phone number beside it.
  CHECK(pn_of(msgs[0], "chat") == "15550000021@s.whatsapp.net");
  CHECK(pn_of(msgs[0], "sender").rfind("15550000021:", 0) == 0);
  CHECK(msgs[0]["chat"].get<std::string>().ends_with("@lid"));
  CHECK(msgs[0]["from_me"] == false);
  CHECK(msgs[1]["text"] == "again");
  CHECK(msgs[1]["seq"].get<int64_t>() > msgs[0]["seq"].get<int64_t>());
  // The sender hears the delivery receipts.
  CHECK(ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "snda", "receipt"))
      for (const auto& i : e["ids"])
        if (i == id && pn_of(e, "chat") == "15550000022@s.whatsapp.net" && e["receipt_type"] == "delivered") return true;
    return false;
  }));
}
