// IQ correlation and keepalive on a real libuv loop (short deadlines).
#include <doctest/doctest.h>

#include <uv.h>

#include <regex>
#include <memory>
#include <set>
#include <vector>

#include "iq.hpp"
#include "keepalive.hpp"

using namespace wa;
using namespace wa::connection;
using wa::binary::Node;

namespace {
struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};
}  // namespace

TEST_CASE("iq ids: random u16.u16 prefix, counter from 1, new prefix per connection") {
  Loop l;
  IqTracker t(&l.loop);
  std::string a = t.next_id(), b = t.next_id();
  CHECK(std::regex_match(a, std::regex(R"(\d{1,5}\.\d{1,5}-1)")));
  CHECK(b.substr(0, b.size() - 1) == a.substr(0, a.size() - 1));
  CHECK(b.back() == '2');
  std::set<std::string> prefixes;
  for (int i = 0; i < 8; ++i) {
    t.reset_prefix();
    std::string id = t.next_id();
    CHECK(id.substr(id.size() - 2) == "-1");
    prefixes.insert(id);
  }
  CHECK(prefixes.size() > 1);
}

TEST_CASE("iq results, errors and acks reach their waiter - strangers do not") {
  Loop l;
  IqTracker t(&l.loop);
  std::vector<std::string> got;
  t.expect("a", 10000, [&](Result<Node> r) { got.push_back(r ? "ok:" + std::string(r->attr_or("x", "")) : r.error().code); });
  t.expect("b", 10000, [&](Result<Node> r) { got.push_back(r ? "ok" : r.error().code + "|" + r.error().message); });
  t.expect("c", 10000, [&](Result<Node> r) { got.push_back(r ? "ack" : r.error().code); });
  CHECK_FALSE(t.resolve(Node("iq", {{"id", "zzz"}, {"type", "result"}})));
  CHECK_FALSE(t.resolve(Node("iq", {{"id", "a"}, {"type", "set"}})));  // a server request reusing the id
  CHECK(t.resolve(Node("iq", {{"id", "a"}, {"type", "result"}, {"x", "1"}})));
  CHECK(t.resolve(Node("iq", {{"id", "b"}, {"type", "error"}},
                       wa::binary::Children{Node("error", {{"code", "404"}, {"text", "item-not-found"}})})));
  CHECK(t.resolve(Node("ack", {{"id", "c"}, {"class", "message"}})));
  CHECK_FALSE(t.resolve(Node("iq", {{"id", "a"}, {"type", "result"}})));  // answered once only
  REQUIRE(got.size() == 3);
  CHECK(got[0] == "ok:1");
  CHECK(got[1] == "rejected:404|item-not-found");
  CHECK(got[2] == "ack");
  CHECK(t.pending() == 0);
}

TEST_CASE("each iq has its own deadline") {
  Loop l;
  IqTracker t(&l.loop);
  std::vector<std::string> order;
  t.expect("slow", 200, [&](Result<Node> r) { order.push_back("slow:" + (r ? std::string("ok") : r.error().code)); });
  t.expect("fast", 20, [&](Result<Node> r) { order.push_back("fast:" + (r ? std::string("ok") : r.error().code)); });
  l.run();
  REQUIRE(order.size() == 2);
  CHECK(order[0] == "fast:timeout");
  CHECK(order[1] == "slow:timeout");
}

TEST_CASE("fail_all fails every waiter at once, and a handler may start a new request") {
  Loop l;
  IqTracker t(&l.loop);
  int failed = 0;
  bool reentered = false;
  for (int i = 0; i < 5; ++i)
    t.expect("id" + std::to_string(i), 60000, [&](Result<Node> r) {
      if (!r && r.error().code == "not_connected") ++failed;
      if (!reentered) {
        reentered = true;
        t.expect("late", 60000, [](Result<Node>) {});
      }
    });
  t.fail_all(Error{"not_connected", "gone"});
  CHECK(failed == 5);
  CHECK(t.pending() == 1);  // the one started from inside a handler
  t.fail_all(Error{"not_connected", "gone"});
  CHECK(t.pending() == 0);
}

TEST_CASE("keepalive: answered pings keep it alive - a missed deadline reports death once") {
  Loop l;
  int pings = 0, dead = 0;
  std::unique_ptr<Keepalive> k;
  k = std::make_unique<Keepalive>(
      &l.loop, 5, 10, 30,
      [&](uint64_t deadline, std::function<void(bool)> answered) {
        CHECK(deadline == 30);
        ++pings;
        if (pings < 3) {
          answered(true);
        } else {
          answered(false);  // what the IQ layer reports after the deadline
        }
      },
      [&] { ++dead; });
  k->start();
  l.run();
  CHECK(pings == 3);
  CHECK(dead == 1);
  k.reset();
}

TEST_CASE("keepalive: answers after stop() are ignored") {
  Loop l;
  int dead = 0;
  std::function<void(bool)> held;
  Keepalive k(&l.loop, 1, 1, 10, [&](uint64_t, std::function<void(bool)> a) { held = std::move(a); }, [&] { ++dead; });
  k.start();
  uv_run(&l.loop, UV_RUN_ONCE);
  while (!held) uv_run(&l.loop, UV_RUN_ONCE);
  k.stop();
  held(false);
  CHECK(dead == 0);
}

TEST_CASE("raw_errors delivers an error iq as a node - an ack with error= is a rejection - fail_one") {
  Loop l;
  IqTracker t(&l.loop);
  std::vector<std::string> got;
  t.expect("raw", 10000, [&](Result<Node> r) { got.push_back(r ? std::string(r->attr_or("type", "")) : r.error().code); }, true);
  t.expect("m1", 10000, [&](Result<Node> r) { got.push_back(r ? "acked" : r.error().code); });
  t.expect("m2", 10000, [&](Result<Node> r) { got.push_back(r ? "acked" : r.error().code); });
  CHECK(t.resolve(Node("iq", {{"id", "raw"}, {"type", "error"}},
                       wa::binary::Children{Node("error", {{"code", "404"}})})));
  CHECK(t.resolve(Node("ack", {{"id", "m1"}, {"class", "message"}, {"error", "463"}})));
  t.fail_one("m2", Error{"not_connected", "send failed"});
  t.fail_one("m2", Error{"not_connected", "twice"});  // no waiter any more: nothing happens
  REQUIRE(got.size() == 3);
  CHECK(got[0] == "error");
  CHECK(got[1] == "rejected:463");
  CHECK(got[2] == "not_connected");
}

TEST_CASE("keepalive: a ping rides a turn the loop makes anyway once min has passed, and never comes sooner") {
  // A foreign periodic turn stands in for libwebsockets' service tick (its
  // period is the keepalive's max, as in production: 30 s).
  Loop l;
  constexpr uint64_t kMin = 20, kMax = 100;
  std::vector<uint64_t> at;  // uv_now() of each ping
  std::unique_ptr<Keepalive> k;
  k = std::make_unique<Keepalive>(
      &l.loop, kMin, kMax, 1000,
      [&](uint64_t, std::function<void(bool)> answered) {
        at.push_back(uv_now(&l.loop));
        answered(true);
      },
      [] {});
  CHECK(k->fallback_ms() == kMax + (kMax - kMin) / 10);
  struct Tick {
    uv_timer_t t{};
    int n = 0;
    std::unique_ptr<Keepalive>* k = nullptr;
    std::vector<uint64_t>* at = nullptr;
  } tick;
  tick.k = &k;
  tick.at = &at;
  uv_timer_init(&l.loop, &tick.t);
  tick.t.data = &tick;
  // Started right after a tick, as an idle worker that is in step.
  uv_timer_start(&tick.t, [](uv_timer_t* t) {
    auto* tk = static_cast<Tick*>(t->data);
    if (++tk->n == 1) (*tk->k)->start();
    if (tk->at->size() >= 10) {
      (*tk->k)->stop();
      uv_timer_stop(t);
      uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
    }
  }, 1, kMax);
  l.run();
  REQUIRE(at.size() >= 10);
  for (size_t i = 1; i < at.size(); ++i) CHECK(at[i] - at[i - 1] >= kMin);
  // Each ping went out on a tick, not on a wakeup of its own (a loaded
  // machine may wake the loop late enough for the fallback to be due too).
  CHECK(k->pings_carried() >= k->pings_sent() * 7 / 10);
  k.reset();
}

TEST_CASE("keepalive: with no other turn the fallback pings by itself, at max plus the slack") {
  Loop l;
  constexpr uint64_t kMin = 5, kMax = 25;
  std::vector<uint64_t> at;
  std::unique_ptr<Keepalive> k;
  k = std::make_unique<Keepalive>(
      &l.loop, kMin, kMax, 1000,
      [&](uint64_t, std::function<void(bool)> answered) {
        at.push_back(uv_now(&l.loop));
        if (at.size() < 4) {
          answered(true);
        } else {
          k->stop();
        }
      },
      [] {});
  const uint64_t t0 = uv_now(&l.loop);
  k->start();
  l.run();
  REQUIRE(at.size() == 4);
  CHECK(at[0] - t0 >= k->fallback_ms());
  for (size_t i = 1; i < at.size(); ++i) CHECK(at[i] - at[i - 1] >= k->fallback_ms());
  CHECK(k->pings_carried() == 0);
  k.reset();
}
