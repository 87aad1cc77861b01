// The connection worker's receive path (connection-worker/src/receive.cpp)
// with real Signal sessions and stores: messages that arrive in one loop turn
// are committed together, one undecryptable message in the middle of the
// batch is undone alone, and everything leaves in arrival order.
#include <doctest/doctest.h>

#include <functional>

#include <uv.h>

#include <string>
#include <vector>

#include "profile.hpp"
#include "receive.hpp"
#include "temp_dir.hpp"
#include "wa/message/id.hpp"
#include "wa/message/send.hpp"
#include "wa/proto/message.pb.h"

using namespace wa;
using test::must;

namespace {

Bytes text_message(const std::string& text) {
  proto::Message m;
  m.set_conversation(text);
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

struct Loop {
  uv_loop_t loop{};
  Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // handle close callbacks
    uv_loop_close(&loop);
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
};

// A (one device) writes to B; B's receive path runs on its own store file.
struct Pair {
  test::TempDir dir;
  test::Device a{dir.file("a.db"), "111:1@s.whatsapp.net"};
  test::Device b{dir.file("b.db"), "222@s.whatsapp.net"};
  Loop loop;
  std::vector<binary::Node> sent;       // receipts and acks, in order
  std::vector<nlohmann::json> events;   // public events, in order
  std::vector<size_t> event_batches;    // events raised per batch_events() call
  std::unique_ptr<connection::Receiver> rx;

  Pair() {
    binary::Children users;
    users.push_back(b.bundle_user());
    auto fetched = must(message::parse_prekey_response(test::wire(test::prekey_response(std::move(users)))));
    auto rep = must(message::install_bundles(*a.sig, fetched));
    REQUIRE(rep.failed.empty());
    rx = must(connection::Receiver::open(&loop.loop, dir.file("b.db"),
                                         {[this](const binary::Node& n) -> Status {
                                            sent.push_back(n);
                                            return {};
                                          },
                                          [this](nlohmann::json ev) { events.push_back(std::move(ev)); },
                                          [this](const std::function<void()>& fn) {
                                            const size_t before = events.size();
                                            fn();
                                            event_batches.push_back(events.size() - before);
                                          }}));
  }

  // What the server hands B for a text A sends now.
  binary::Node incoming(const std::string& text, int n) {
    message::Outgoing out{message::generate_message_id("111", 1700000000 + n), b.jid, text_message(text)};
    auto built = must(message::build_direct_message(*a.sig, a.self(), out, std::vector<binary::Jid>{b.jid}, {}));
    return test::wire(test::deliver(built.stanza, a.jid, b.jid, false));
  }

  std::vector<std::string> inbox_ids() {
    std::vector<std::string> ids;
    for (const auto& e : must(b.db->inbox_since(0, 1000)))
      if (e.type == "message") ids.push_back(e.msg_id);
    return ids;
  }
};

// Breaks the MAC of the Signal message inside a pkmsg: the last byte of the
// PreKeySignalMessage's `message` field (protobuf field 4).
Bytes break_mac(Bytes pkmsg) {
  size_t i = 1;  // after the version byte
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0; i < pkmsg.size(); shift += 7) {
      uint8_t b = pkmsg[i++];
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) break;
    }
    return v;
  };
  while (i < pkmsg.size()) {
    uint64_t key = varint();
    if ((key & 7) == 0) {
      (void)varint();
    } else if ((key & 7) == 2) {
      size_t len = varint();
      REQUIRE(i + len <= pkmsg.size());
      if ((key >> 3) == 4) {
        pkmsg[i + len - 1] ^= 0x5a;
        return pkmsg;
      }
      i += len;
    } else {
      FAIL("unexpected protobuf wire type");
    }
  }
  FAIL("no message field in the pkmsg");
  return pkmsg;
}

binary::Node corrupted(binary::Node stanza) {
  auto* children = stanza.mutable_children();
  REQUIRE(children);
  for (auto& c : *children)
    if (c.tag == "enc") {
      REQUIRE(c.attr_or("type", "") == "pkmsg");
      REQUIRE(c.bytes());
      c = binary::Node("enc", c.attrs, break_mac(*c.bytes()));
    }
  return stanza;
}

std::string id_of(const binary::Node& n) { return std::string(n.attr_or("id", "")); }

}  // namespace

TEST_CASE("one undecryptable message in the middle of a batch - the others are stored and only it is retried") {
  Pair p;
  binary::Node m1 = p.incoming("first", 1);
  binary::Node m2 = p.incoming("second", 2);
  binary::Node m3 = p.incoming("third", 3);
  for (const auto* m : {&m1, &m2, &m3}) {
    if (m == &m2) {
      p.rx->on_message(corrupted(*m));
    } else {
      p.rx->on_message(*m);
    }
  }
  // Collected for the turn's batch: nothing decrypted, stored or answered yet.
  CHECK(p.sent.empty());
  CHECK(p.events.empty());
  CHECK(p.inbox_ids().empty());

  uv_run(&p.loop.loop, UV_RUN_DEFAULT);  // the batch's flush timer; then the loop is idle

  CHECK(p.inbox_ids() == std::vector<std::string>{id_of(m1), id_of(m3)});
  REQUIRE(p.sent.size() == 3);
  CHECK(p.sent[0].tag == "receipt");
  CHECK(id_of(p.sent[0]) == id_of(m1));
  CHECK(p.sent[0].attr_or("type", "") != "retry");
  CHECK(id_of(p.sent[1]) == id_of(m2));
  CHECK(p.sent[1].tag == "receipt");
  CHECK(p.sent[1].attr_or("type", "") == "retry");
  CHECK(p.sent[2].tag == "receipt");
  CHECK(id_of(p.sent[2]) == id_of(m3));
  CHECK(p.sent[2].attr_or("type", "") != "retry");
  REQUIRE(p.events.size() == 3);
  CHECK(p.events[0]["type"] == "message");
  CHECK(p.events[0]["text"] == "first");
  CHECK(p.events[1]["type"] == "undecryptable");
  CHECK(p.events[1]["id"] == id_of(m2));
  CHECK(p.events[2]["type"] == "message");
  CHECK(p.events[2]["text"] == "third");
  CHECK(p.events[0]["seq"].get<int64_t>() < p.events[2]["seq"].get<int64_t>());

  // The failed attempt took no ratchet step: the intact message, sent again
  // after the retry receipt, decrypts and is stored once.
  p.sent.clear();
  p.events.clear();
  p.rx->on_message(m2);
  p.rx->on_message(m3);  // a redelivery of a stored message: receipted, not announced again
  uv_run(&p.loop.loop, UV_RUN_DEFAULT);
  CHECK(p.inbox_ids() == std::vector<std::string>{id_of(m1), id_of(m3), id_of(m2)});
  REQUIRE(p.sent.size() == 2);
  CHECK(id_of(p.sent[0]) == id_of(m2));
  CHECK(p.sent[0].attr_or("type", "") != "retry");
  CHECK(id_of(p.sent[1]) == id_of(m3));
  CHECK(p.sent[1].attr_or("type", "") != "retry");
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0]["text"] == "second");
}

TEST_CASE("a receipt after queued messages is answered after their receipts") {
  Pair p;
  binary::Node m1 = p.incoming("hello", 1);
  p.rx->on_message(m1);
  CHECK(p.sent.empty());
  binary::Node receipt("receipt", binary::Attrs{{"from", "111:1@s.whatsapp.net"}, {"id", "3EB0SOMEID"}});
  p.rx->on_receipt(receipt);
  REQUIRE(p.sent.size() == 2);
  CHECK(p.sent[0].tag == "receipt");
  CHECK(id_of(p.sent[0]) == id_of(m1));
  CHECK(p.sent[1].tag == "ack");
  CHECK(id_of(p.sent[1]) == "3EB0SOMEID");
  REQUIRE(p.events.size() == 2);
  CHECK(p.events[0]["type"] == "message");
  CHECK(p.events[1]["type"] == "receipt");
  uv_run(&p.loop.loop, UV_RUN_DEFAULT);  // nothing left to flush
  CHECK(p.sent.size() == 2);
}

TEST_CASE("a burst longer than one batch is committed in batches without waiting for the loop") {
  Pair p;
  std::vector<binary::Node> ms;
  for (size_t i = 0; i < connection::Receiver::kMaxBatch + 1; ++i)
    ms.push_back(p.incoming("m" + std::to_string(i), static_cast<int>(i)));
  for (const auto& m : ms) p.rx->on_message(m);
  CHECK(p.sent.size() == connection::Receiver::kMaxBatch);  // the full batch left, the last one waits
  // Its events were raised together (one link message to the supervisor).
  REQUIRE(p.event_batches.size() == 1);
  CHECK(p.event_batches[0] == connection::Receiver::kMaxBatch);
  uv_run(&p.loop.loop, UV_RUN_DEFAULT);
  REQUIRE(p.sent.size() == ms.size());
  CHECK(p.event_batches.size() == 2);
  CHECK(p.events.size() == ms.size());
  for (size_t i = 0; i < ms.size(); ++i) CHECK(id_of(p.sent[i]) == id_of(ms[i]));
  CHECK(p.inbox_ids().size() == ms.size());
}
