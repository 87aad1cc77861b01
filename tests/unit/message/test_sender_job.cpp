// wa-sender's job function against a fake connection worker: the queries
// must follow the sender-query protocol (iq / relay with CBOR byte-string
// nodes), the done message must carry the id or the worker's error code,
// and the relayed stanza must decrypt with the recipient's store.
#include <doctest/doctest.h>

#include "fake_server.hpp"
#include "job.hpp"
#include "wa/binary/codec.hpp"
#include "wa/ipc/codec.hpp"
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
};

}  // namespace

TEST_CASE("sender job: text to a user, relayed stanza decrypts on both of B's devices") {
  test::Env e;
  FakeWorker worker(e.server);
  json done = sender::run_job(*e.a1.db, *e.a1.sig, worker.fn(), "222@s.whatsapp.net", 7,
                              {{"kind", "text"}, {"to", "222@s.whatsapp.net"}, {"text", "from the sender worker"}});
  INFO(done.dump());
  REQUIRE(done["ok"] == true);
  CHECK(done["op"] == "done");
  CHECK(done["job"] == 7);
  std::string id = done["result"]["id"];
  CHECK(id.size() == 22);
  CHECK(done["result"]["devices"] == 3);
  REQUIRE(worker.seen.size() == 3);  // usync, prekeys, relay
  CHECK(worker.seen[0]["what"] == "iq");
  CHECK(worker.seen[1]["what"] == "iq");
  CHECK(worker.seen[2]["what"] == "relay");
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
    return sender::run_job(*e.a1.db, *e.a1.sig, worker.fn(), "222@s.whatsapp.net", 1, payload);
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
  auto none = sender::run_job(*e.a1.db, *e.a1.sig, worker.fn(), "444@s.whatsapp.net", 2,
                              {{"to", "444@s.whatsapp.net"}, {"text", "x"}});
  CHECK(none["code"] == "no_devices");
}
