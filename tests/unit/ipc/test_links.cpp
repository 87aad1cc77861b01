// Link message decoders: every field a handler reads is checked here, so a
// peer's wrong type is an error value, never an exception in the handler.
#include <doctest/doctest.h>

#include "wa/ipc/client.hpp"
#include "wa/ipc/links.hpp"
#include "wa/ipc/messages.hpp"

using wa::ipc::json;
namespace wl = wa::ipc::link;

namespace {
wa::Bytes enc(const json& j) { return wa::ipc::to_cbor(j); }
}  // namespace

TEST_CASE("worker to supervisor: well-formed messages decode") {
  auto hello = wl::decode_from_worker(enc({{"t", "hello"}, {"pid", 42}}));
  REQUIRE(hello.has_value());
  CHECK(hello->type == "hello");
  CHECK(hello->pid == 42);
  auto reply = wl::decode_from_worker(enc({{"t", "reply"}, {"rid", 7}, {"reply", {{"ok", true}, {"result", 1}}}}));
  REQUIRE(reply.has_value());
  CHECK(reply->rid == 7);
  CHECK(reply->reply["result"] == 1);
  auto ev = wl::decode_from_worker(enc({{"t", "event"}, {"event", {{"type", "qr"}, {"seq", 3}}}}));
  REQUIRE(ev.has_value());
  CHECK(ev->event["type"] == "qr");
  auto spawn = wl::decode_from_worker(enc({{"t", "spawn_sender"}, {"conversation", "1@s.whatsapp.net"}}));
  REQUIRE(spawn.has_value());
  CHECK(spawn->conversation == "1@s.whatsapp.net");
  // A type this side does not know is the handler's decision (a newer peer).
  auto other = wl::decode_from_worker(enc({{"t", "heartbeat"}, {"n", 1}}));
  REQUIRE(other.has_value());
  CHECK(other->type == "heartbeat");
  CHECK(other->raw["n"] == 1);
}

TEST_CASE("worker to supervisor: wrong types are bad_message") {
  for (const json& m : {json{{"t", 5}}, json::array({1}), json{{"x", "hello"}}, json{{"t", "hello"}, {"pid", "1"}},
                        json{{"t", "reply"}, {"rid", -1}, {"reply", {{"ok", true}}}},
                        json{{"t", "reply"}, {"rid", 1}, {"reply", "ok"}},
                        json{{"t", "reply"}, {"rid", 1}, {"reply", {{"ok", "yes"}}}},
                        json{{"t", "reply"}, {"reply", {{"ok", true}}}},
                        json{{"t", "event"}, {"event", {{"type", 5}}}},
                        json{{"t", "event"}, {"event", {{"type", "x"}, {"seq", "3"}}}},
                        json{{"t", "event"}, {"event", {{"type", "x"}, {"ts", 1.5}}}},
                        json{{"t", "event"}, {"event", "x"}},
                        json{{"t", "spawn_sender"}, {"conversation", 1}},
                        json{{"t", "spawn_sender"}, {"conversation", ""}},
                        json{{"t", "spawn_sender"}, {"conversation", std::string("a\0b", 3)}},
                        json{{"t", "spawn_sender"}, {"conversation", std::string(300, 'a')}}}) {
    auto r = wl::decode_from_worker(enc(m));
    CHECK_FALSE(r.has_value());
    if (!r.has_value()) CHECK(r.error().code == "bad_message");
  }
  CHECK_FALSE(wl::decode_from_worker(wa::Bytes{0xff}).has_value());
}

TEST_CASE("worker to supervisor: a batch of events is encoded around their CBOR and decodes in order") {
  // 1, 23, 24, 300 entries: every CBOR array head length the encoder writes.
  for (size_t n : {size_t{1}, size_t{23}, size_t{24}, size_t{300}}) {
    std::vector<wa::Bytes> events;
    for (size_t i = 0; i < n; ++i)
      events.push_back(enc({{"type", "message"}, {"seq", i + 1}, {"text", std::string(i, 'x')}}));
    auto m = wl::decode_from_worker(wl::encode_events(events));
    REQUIRE(m.has_value());
    if (n == 1) {
      CHECK(m->type == "event");
      CHECK(m->event["seq"] == 1);
      continue;
    }
    CHECK(m->type == "events");
    REQUIRE(m->events.size() == n);
    for (size_t i = 0; i < n; ++i) {
      CHECK(m->events[i]["seq"] == i + 1);
      CHECK(m->events[i]["text"] == std::string(i, 'x'));
    }
  }
  // One bad entry refuses the whole message: nothing of it is half-applied.
  for (const json& m : {json{{"t", "events"}, {"events", json::array()}}, json{{"t", "events"}, {"events", "x"}},
                        json{{"t", "events"}, {"events", {{{"type", "x"}}, 5}}},
                        json{{"t", "events"}, {"events", {{{"type", "x"}}, {{"type", "y"}, {"seq", "1"}}}}}}) {
    auto r = wl::decode_from_worker(enc(m));
    CHECK_FALSE(r.has_value());
    if (!r.has_value()) CHECK(r.error().code == "bad_message");
  }
}

TEST_CASE("supervisor to worker: decode and refuse wrong types") {
  auto init = wl::decode_from_supervisor(
      enc({{"t", "init"}, {"instance_dir", "/r/i/a"}, {"settings", {{"senders", {{"max_per_instance", 3}}}}}}));
  REQUIRE(init.has_value());
  CHECK(init->instance_dir == "/r/i/a");
  CHECK(init->settings["senders"]["max_per_instance"] == 3);
  auto req = wl::decode_from_supervisor(enc({{"t", "request"}, {"rid", 9}, {"cmd", "send_text"}, {"to", "x"}}));
  REQUIRE(req.has_value());
  CHECK(req->rid == 9);
  CHECK(req->cmd == "send_text");
  CHECK(req->raw["to"] == "x");
  auto exited = wl::decode_from_supervisor(
      enc({{"t", "sender_exited"}, {"conversation", "c"}, {"pid", 12}, {"signal", 9}}));
  REQUIRE(exited.has_value());
  CHECK(exited->signal == 9);
  CHECK(exited->exit_code == 0);
  for (const json& m :
       {json{{"t", "init"}, {"instance_dir", 1}},
        json{{"t", "init"}, {"instance_dir", "/x"}, {"settings", 1}},
        json{{"t", "init"}, {"instance_dir", "/x"}, {"settings", {{"senders", {{"idle_ms", "1"}}}}}},
        json{{"t", "init"}, {"instance_dir", "/x"}, {"settings", {{"events", 1}}}},
        json{{"t", "init"}, {"instance_dir", "/x"}, {"settings", {{"senders", {{"idle_ms", 1ll << 40}}}}}},
        json{{"t", "request"}, {"rid", "1"}, {"cmd", "x"}}, json{{"t", "request"}, {"rid", 1}},
        json{{"t", "sender_started"}, {"conversation", "c"}, {"pid", "1"}},
        json{{"t", "sender_refused"}, {"conversation", "c"}, {"code", 1}},
        json{{"t", "sender_exited"}, {"conversation", "c"}, {"exit_code", "1"}}}) {
    CHECK_FALSE(wl::decode_from_supervisor(enc(m)).has_value());
  }
}

TEST_CASE("sender to worker: decode and refuse wrong types") {
  auto done = wl::decode_from_sender(
      enc({{"op", "done"}, {"conversation", "c"}, {"job", 4}, {"ok", false}, {"code", "timeout"}}));
  REQUIRE(done.has_value());
  CHECK(done->job == 4);
  CHECK_FALSE(done->ok);
  CHECK(done->code == "timeout");
  CHECK(done->message == "the send failed");
  auto q = wl::decode_from_sender(enc({{"op", "query"}, {"conversation", "c"}, {"job", 4}, {"what", "relay"},
                                         {"node", json::binary({1, 2})}, {"id", "ABC"}}));
  REQUIRE(q.has_value());
  REQUIRE(q->node.has_value());
  CHECK(q->node->size() == 2);
  CHECK(q->id == "ABC");
  for (const json& m : {json{{"op", "next"}}, json{{"op", "next"}, {"conversation", 1}},
                        json{{"op", "next"}, {"conversation", "c"}, {"pid", "1"}},
                        json{{"op", "done"}, {"conversation", "c"}},
                        json{{"op", "done"}, {"conversation", "c"}, {"job", 1}, {"ok", 1}},
                        json{{"op", "done"}, {"conversation", "c"}, {"job", 1}, {"result", "x"}},
                        json{{"op", "query"}, {"conversation", "c"}, {"what", 1}},
                        json{{"op", "query"}, {"conversation", "c"}, {"what", "iq"}, {"node", "x"}},
                        json{{"op", "query"}, {"conversation", "c"}, {"what", "iq"}, {"timeout_ms", -1}}}) {
    CHECK_FALSE(wl::decode_from_sender(enc(m)).has_value());
  }
}

TEST_CASE("sender to worker: a done carrying its stanza round-trips, and a malformed relay is refused") {
  wl::RelayOnAck r;
  r.node = json::binary_t({1, 2, 3});
  r.after.id = "3EB0ABC";
  r.after.dm_peer = "15550001@s.whatsapp.net";
  r.after.phash = "2:abcd";
  r.after.stale_users = {"15550001@s.whatsapp.net", "15550002@s.whatsapp.net"};
  r.after.sender_key_recipients = {"15550001:3@s.whatsapp.net"};
  json done{{"op", "done"}, {"conversation", "c"}, {"job", 9}, {"ok", true}, {"result", {{"id", "3EB0ABC"}}},
            {"relay", wl::to_json(r)}};
  auto d = wl::decode_from_sender(enc(done));
  REQUIRE(d.has_value());
  REQUIRE(d->relay.has_value());
  const wa::AfterAck& a = d->relay->after;
  CHECK(d->relay->node == r.node);
  CHECK(a.id == r.after.id);
  CHECK(a.dm_peer == r.after.dm_peer);
  CHECK(a.phash == r.after.phash);
  CHECK(a.stale_users == r.after.stale_users);
  CHECK(a.group.empty());
  CHECK(a.sender_key_recipients == r.after.sender_key_recipients);
  // Without `relay` the done is the old one: the sender relayed itself.
  done.erase("relay");
  auto plain = wl::decode_from_sender(enc(done));
  REQUIRE(plain.has_value());
  CHECK_FALSE(plain->relay.has_value());

  const json good = wl::to_json(r);
  auto with = [&](const char* key, const json& v) {
    json rel = good;
    if (v.is_null())
      rel.erase(key);
    else
      rel[key] = v;
    return json{{"op", "done"}, {"conversation", "c"}, {"job", 9}, {"ok", true}, {"relay", rel}};
  };
  for (const json& m : {with("node", nullptr), with("node", "bytes"), with("id", nullptr), with("id", ""),
                        with("id", std::string(300, 'x')), with("dm", 5), with("stale", "x"),
                        with("stale", json::array({1})), with("skd", json::array({std::string(300, 'j')})),
                        with("skd", json(std::vector<std::string>(wl::kMaxRelayList + 1, "x"))),
                        json{{"op", "done"}, {"conversation", "c"}, {"job", 9}, {"ok", true}, {"relay", "x"}},
                        // a failed done has nothing to relay
                        json{{"op", "done"}, {"conversation", "c"}, {"job", 9}, {"ok", false}, {"relay", good}}}) {
    auto bad = wl::decode_from_sender(enc(m));
    CHECK_FALSE(bad.has_value());
    if (!bad.has_value()) CHECK(bad.error().code == "bad_message");
  }
}

TEST_CASE("worker to sender: decode and refuse wrong types") {
  auto job = wl::decode_from_connection(enc({{"op", "job"}, {"job", 2}, {"payload", {{"kind", "text"}}}}));
  REQUIRE(job.has_value());
  CHECK(job->job == 2);
  CHECK(job->payload["kind"] == "text");
  auto err = wl::decode_from_connection(enc({{"op", "error"}, {"code", "timeout"}}));
  REQUIRE(err.has_value());
  CHECK(err->code == "timeout");
  auto res = wl::decode_from_connection(enc({{"op", "result"}, {"ack", json::binary({9})}}));
  REQUIRE(res.has_value());
  CHECK(res->ack.has_value());
  CHECK_FALSE(res->node.has_value());
  for (const json& m : {json{{"op", 1}}, json{{"op", "job"}, {"job", "2"}, {"payload", json::object()}},
                        json{{"op", "job"}, {"job", 2}, {"payload", "x"}}, json{{"op", "job"}, {"job", 2}},
                        json{{"op", "error"}, {"code", 5}}, json{{"op", "result"}, {"node", "x"}}}) {
    CHECK_FALSE(wl::decode_from_connection(enc(m)).has_value());
  }
}

TEST_CASE("control replies: the client accepts only a reply envelope") {
  CHECK(wa::ipc::check_reply(json{{"ok", true}, {"result", {{"pong", true}}}}).has_value());
  CHECK(wa::ipc::check_reply(json{{"ok", false}, {"error", {{"code", "x"}, {"message", "y"}}}}).has_value());
  for (const json& r : {json::array(), json{{"ok", "true"}}, json{{"ok", true}}, json{{"ok", false}},
                        json{{"ok", false}, {"error", "x"}}, json{{"ok", false}, {"error", {{"code", 1}, {"message", "y"}}}},
                        json{{"ok", false}, {"error", {{"code", "x"}}}}}) {
    auto st = wa::ipc::check_reply(r);
    CHECK_FALSE(st.has_value());
    if (!st.has_value()) CHECK(st.error().code == "bad_reply");
  }
}
