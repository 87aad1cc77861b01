// wa-sender's job function against a fake connection worker: the queries
// must follow the sender-query protocol (iq / relay with CBOR byte-string
// nodes), the done message must carry the id or the worker's error code,
// and the relayed stanza must decrypt with the recipient's store.
#include <doctest/doctest.h>

#include "fake_server.hpp"
#include "job.hpp"
#include "retry.hpp"
#include "wa/binary/codec.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/links.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/receipt.hpp"
#include "wa/message/receive.hpp"

using namespace wa;
using test::must;
using json = nlohmann::json;

namespace {

// The connection worker's side of the sender queries, over the fake server.
struct FakeWorker {
  test::FakeServer& server;
  message::Transport net;
  std::vector<json> seen;
  std::optional<Error> fail_with;

  explicit FakeWorker(test::FakeServer& s) : server(s), net(s.transport()) {}

  sender::QueryFn fn() {
    return [this](const json& what) -> Result<json> {
      // Through CBOR, as on the link.
      json q = must(ipc::from_cbor(ipc::to_cbor(what)));
      seen.push_back(q);
      if (fail_with) return Unexpected<Error>{*fail_with};
      REQUIRE(q["node"].is_binary());
      const auto& bin = q["node"].get_binary();
      auto node = binary::decode(ByteView(bin.data(), bin.size()));
      REQUIRE(node.has_value());
      if (q["what"] == "iq") {
        auto r = net.iq(*node);
        if (!r) return Unexpected<Error>{r.error()};
        return json{{"op", "result"}, {"node", json::binary(must(binary::encode(*r)))}};
      }
      if (q["what"] == "relay") {
        CHECK(q["id"] == node->attr_or("id", ""));
        auto r = net.relay(*node, q["id"].get<std::string>());
        if (!r) return Unexpected<Error>{r.error()};
        return json{{"op", "result"}, {"ack", json::binary(must(binary::encode(*r)))}};
      }
      return fail("bad_request", "unknown query");
    };
  }

  // The job as the sender runs it, then what the worker does with a done
  // that carries its stanza (Worker::relay_for_sender): relay it and settle
  // the ack. The result is the job's outcome in done's shape; the done as
  // the sender sent it is kept in `handed`.
  json handed;
  std::vector<std::string> tokens_given;  // 463: the contact our token went to
  json run_job(store::Store& st, signal::SignalSession& sig, const std::string& conversation, uint64_t job,
               const json& payload) {
    json done = sender::run_job(st, sig, fn(), conversation, job, payload);
    handed = done;
    json on_link = done;
    on_link["conversation"] = conversation;
    auto d = ipc::link::decode_from_sender(ipc::to_cbor(on_link));
    REQUIRE(d.has_value());
    if (!d->relay) return done;
    const auto& bin = d->relay->node;
    auto node = must(binary::decode(ByteView(bin.data(), bin.size())));
    node.set_attr("id", d->relay->after.id);
    auto ack = net.relay(node, d->relay->after.id);
    auto settled = message::settle_ack(st, ack, d->relay->after,
                                       [this](const binary::Jid& peer) { tokens_given.push_back(peer.str()); });
    if (!settled)
      return json{{"op", "done"}, {"job", job}, {"ok", false}, {"code", settled.error().code},
                  {"message", settled.error().message}};
    done.erase("relay");
    return done;
  }
};

}  // namespace

TEST_CASE("sender job: text to a user, relayed stanza decrypts on both of B's devices") {
  test::Env e;
  FakeWorker worker(e.server);
  json done = worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 7,
                              {{"kind", "text"}, {"to", "222@s.whatsapp.net"}, {"text", "from the sender worker"}});
  INFO(done.dump());
  REQUIRE(done["ok"] == true);
  CHECK(done["op"] == "done");
  CHECK(done["job"] == 7);
  std::string id = done["result"]["id"];
  CHECK(id.size() == 22);
  CHECK(done["result"]["devices"] == 3);
  // usync and prekeys are queries; the stanza leaves with the done, which
  // the worker relays (one round trip with it, not two). Our privacy token
  // to the contact is not the sender's to issue either: the done names the
  // contact, the connection worker issues it after answering.
  REQUIRE(worker.seen.size() == 2);
  CHECK(worker.seen[0]["what"] == "iq");
  CHECK(worker.seen[1]["what"] == "iq");
  REQUIRE(worker.handed.contains("relay"));
  CHECK(worker.handed["relay"]["id"] == done["result"]["id"]);
  CHECK(done["issue_token"] == "222@s.whatsapp.net");
  CHECK(e.server.tokens_issued.empty());
  REQUIRE(e.server.relayed.size() == 1);
  for (auto* d : {&e.b0, &e.b3}) {
    auto in = must(message::decrypt_message(*d->sig, d->self(),
                                            test::deliver(e.server.relayed[0], e.a1.jid, d->jid, false)));
    CHECK(in.id == id);
    CHECK(in.text == "from the sender worker");
  }
}

TEST_CASE("sender job: worker errors and bad jobs become done{ok:false, code}") {
  test::Env e;
  FakeWorker worker(e.server);
  auto run = [&](const json& payload) {
    return worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 1, payload);
  };
  json ok_payload{{"to", "222@s.whatsapp.net"}, {"text", "x"}};
  worker.fail_with = Error{"not_connected", "offline"};
  CHECK(run(ok_payload)["code"] == "not_connected");
  worker.fail_with = Error{"timeout", "slow"};
  CHECK(run(ok_payload)["code"] == "timeout");
  worker.fail_with.reset();
  e.server.ack_error = "479";
  auto rejected = run(ok_payload);
  CHECK(rejected["ok"] == false);
  CHECK(rejected["code"] == "rejected:479");
  e.server.ack_error.clear();
  CHECK(run({{"to", "333@s.whatsapp.net"}, {"text", "x"}})["code"] == "bad_request");  // other conversation
  CHECK(run({{"to", "not a jid"}, {"text", "x"}})["code"] == "bad_request");
  CHECK(run({{"to", "222@s.whatsapp.net"}})["code"] == "bad_request");
  CHECK(run(json::array())["code"] == "bad_request");
  auto none = worker.run_job(*e.a1.db, *e.a1.sig, "444@s.whatsapp.net", 2,
                              {{"to", "444@s.whatsapp.net"}, {"text", "x"}});
  CHECK(none["code"] == "no_devices");
}

TEST_CASE("sender job: a reply carries contextInfo with the quoted id and its author") {
  test::Env e;
  FakeWorker worker(e.server);
  auto run = [&](const json& payload) {
    json done = worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 1, payload);
    INFO(done.dump());
    REQUIRE(done["ok"] == true);
    auto in = must(message::decrypt_message(*e.b0.sig, e.b0.self(),
                                            test::deliver(e.server.relayed.back(), e.a1.jid, e.b0.jid, false)));
    proto::Message m;
    REQUIRE(m.ParseFromArray(in.raw.data(), static_cast<int>(in.raw.size())));
    REQUIRE(m.has_extendedtextmessage());
    return std::make_pair(in, m.extendedtextmessage().contextinfo());
  };
  // Quoting our own earlier message: found in the sent cache, so the author
  // is us and the quote carries the original text.
  json first = worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 1,
                               {{"to", "222@s.whatsapp.net"}, {"text", "original"}});
  REQUIRE(first["ok"] == true);
  const std::string own_id = first["result"]["id"];
  auto [in1, ci1] = run({{"to", "222@s.whatsapp.net"}, {"text", "see above"}, {"quoted_id", own_id}});
  CHECK(in1.quoted_id == own_id);
  CHECK(ci1.stanzaid() == own_id);
  CHECK(ci1.participant() == e.a1.jid.to_non_ad().str());
  CHECK(ci1.quotedmessage().extendedtextmessage().text() == "original");
  // Quoting an id we never sent in a 1:1 chat: the peer wrote it.
  auto [in2, ci2] = run({{"to", "222@s.whatsapp.net"}, {"text", "yes"}, {"quoted_id", "3EB0PEERMSG"}});
  CHECK(in2.quoted_id == "3EB0PEERMSG");
  CHECK(ci2.participant() == "222@s.whatsapp.net");
  CHECK_FALSE(ci2.has_quotedmessage());
  // An explicit author wins (device JIDs are normalised to the user).
  auto [in3, ci3] = run({{"to", "222@s.whatsapp.net"}, {"text", "ok"}, {"quoted_id", "X1"},
                         {"quoted_sender", "222:3@s.whatsapp.net"}});
  CHECK(ci3.participant() == "222@s.whatsapp.net");
  // A bad quote fails the job before anything is sent.
  size_t relayed = e.server.relayed.size();
  CHECK(worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 1,
                        {{"to", "222@s.whatsapp.net"}, {"text", "x"}, {"quoted_id", 5}})["code"] == "bad_request");
  CHECK(worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 1,
                        {{"to", "222@s.whatsapp.net"}, {"text", "x"}, {"quoted_id", "A"}, {"quoted_sender", "g@g.us"}})
            ["code"] == "bad_request");
  CHECK(e.server.relayed.size() == relayed);
}

// ---- retry jobs (sender-worker/src/retry.cpp)

namespace {

// What A's worker hands its sender: B's retry receipt for `delivered` as
// the server routes it to A (from = the requesting device).
json retry_payload(const binary::Node& delivered, test::Device& requester, uint32_t count, bool with_keys) {
  auto self = requester.self();
  std::optional<message::RetryKeys> keys;
  if (with_keys) keys = must(message::make_retry_keys(*requester.db, self));
  binary::Node r = test::wire(must(message::build_retry_receipt(delivered, count, self.registration_id,
                                                                keys ? &*keys : nullptr)));
  binary::Attrs routed;
  for (auto& a : r.attrs)
    if (a.first != "to") routed.push_back(a);
  routed.emplace_back("from", requester.jid.str());
  r.attrs = std::move(routed);
  return json{{"kind", "retry"}, {"receipt", json::binary(must(binary::encode(r)))}};
}

}  // namespace

TEST_CASE("sender retry job: a device that lost its session decrypts the re-send") {
  test::Env e;
  FakeWorker worker(e.server);
  auto send = [&](const std::string& text) {
    json done = worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 1,
                                {{"kind", "text"}, {"to", "222@s.whatsapp.net"}, {"text", text}});
    REQUIRE(done["ok"] == true);
    return std::make_pair(done["result"]["id"].get<std::string>(),
                          test::deliver(e.server.relayed.back(), e.a1.jid, e.b0.jid, false));
  };
  CHECK(must(message::decrypt_message(*e.b0.sig, e.b0.self(), send("first").second)).text == "first");
  // B0 loses every session with A; A's next message cannot be read.
  REQUIRE(must(e.b0.db->delete_all_sessions("111")) >= 1);
  auto [id, delivered] = send("say again");
  CHECK(!message::decrypt_message(*e.b0.sig, e.b0.self(), delivered));
  const size_t before = e.server.relayed.size();

  // Count 1 (no keys): re-encrypted on A's existing session; B0 still has none.
  json r1 = sender::run_retry_job(*e.a1.db, *e.a1.sig, worker.fn(), "222@s.whatsapp.net", 2,
                                  retry_payload(delivered, e.b0, 1, false));
  INFO(r1.dump());
  REQUIRE(r1["ok"] == true);
  CHECK(r1["result"]["id"] == id);
  CHECK(r1["result"]["device"] == "222@s.whatsapp.net");
  REQUIRE(e.server.relayed.size() == before + 1);
  const binary::Node& resend1 = e.server.relayed.back();
  CHECK(resend1.attr_or("id", "") == id);
  CHECK(resend1.attr_or("to", "") == "222@s.whatsapp.net");
  CHECK(!resend1.child("participants"));  // for that one device only
  CHECK(!message::decrypt_message(*e.b0.sig, e.b0.self(), test::deliver(resend1, e.a1.jid, e.b0.jid, false)));

  // Count 2 carries B0's fresh keys: A starts a new session and B0 reads it.
  json r2 = sender::run_retry_job(*e.a1.db, *e.a1.sig, worker.fn(), "222@s.whatsapp.net", 3,
                                  retry_payload(delivered, e.b0, 2, true));
  INFO(r2.dump());
  REQUIRE(r2["ok"] == true);
  REQUIRE(e.server.relayed.size() == before + 2);
  auto in = must(message::decrypt_message(*e.b0.sig, e.b0.self(),
                                          test::deliver(e.server.relayed.back(), e.a1.jid, e.b0.jid, false)));
  CHECK(in.id == id);
  CHECK(in.text == "say again");
}

TEST_CASE("sender retry job: refusals") {
  test::Env e;
  FakeWorker worker(e.server);
  json done = worker.run_job(*e.a1.db, *e.a1.sig, "222@s.whatsapp.net", 1,
                              {{"kind", "text"}, {"to", "222@s.whatsapp.net"}, {"text", "x"}});
  REQUIRE(done["ok"] == true);
  auto delivered = test::deliver(e.server.relayed[0], e.a1.jid, e.b0.jid, false);
  auto run = [&](const std::string& conversation, const json& payload) {
    return sender::run_retry_job(*e.a1.db, *e.a1.sig, worker.fn(), conversation, 9, payload);
  };
  size_t relays = e.server.relayed.size();
  // Past the rounds both reference clients answer (ours would not ask a 6th time).
  json sixth = retry_payload(delivered, e.b0, 5, false);
  {
    const auto& bin = sixth["receipt"].get_binary();
    auto node = must(binary::decode(ByteView(bin.data(), bin.size())));
    for (auto& c : std::get<binary::Children>(node.content))
      if (c.tag == "retry") c.set_attr("count", "6");
    sixth["receipt"] = json::binary(must(binary::encode(node)));
  }
  CHECK(run("222@s.whatsapp.net", sixth)["code"] == "retry_exhausted");
  // Another conversation's sender does not answer it.
  CHECK(run("333@s.whatsapp.net", retry_payload(delivered, e.b0, 1, false))["code"] == "bad_request");
  // A message we never sent (or that left the cache).
  auto other = delivered;
  other.set_attr("id", "3EB0000000000000000000");
  CHECK(run("222@s.whatsapp.net", retry_payload(other, e.b0, 1, false))["code"] == "not_found");
  CHECK(run("222@s.whatsapp.net", {{"kind", "retry"}})["code"] == "bad_request");
  CHECK(run("222@s.whatsapp.net", {{"kind", "retry"}, {"receipt", json::binary({1, 2, 3})}})["code"] == "bad_request");
  CHECK(e.server.relayed.size() == relays);  // nothing was re-sent
  // The worker's failure is the job's failure.
  worker.fail_with = Error{"not_connected", "offline"};
  CHECK(run("222@s.whatsapp.net", retry_payload(delivered, e.b0, 1, false))["code"] == "not_connected");
}

TEST_CASE("retry receipt chat: group, our own device's copy (recipient), else the requester") {
  auto chat_of = [](binary::Attrs attrs) {
    attrs.emplace_back("id", "3EB0AABBCCDDEEFF001122");
    attrs.emplace_back("type", "retry");
    binary::Children kids;
    kids.emplace_back("retry", binary::Attrs{{"count", "1"}, {"id", "3EB0AABBCCDDEEFF001122"}});
    return must(message::parse_retry_receipt(binary::Node("receipt", std::move(attrs), std::move(kids)))).chat().str();
  };
  CHECK(chat_of({{"from", "222:3@s.whatsapp.net"}}) == "222@s.whatsapp.net");
  CHECK(chat_of({{"from", "123-456@g.us"}, {"participant", "222:3@s.whatsapp.net"}}) == "123-456@g.us");
  CHECK(chat_of({{"from", "111:2@s.whatsapp.net"}, {"recipient", "222@s.whatsapp.net"}}) == "222@s.whatsapp.net");
}
