// The send side under stress and faults, end to end against wa-testserver:
// retry receipts answered, the sender cap held under fan-out, concurrent
// send + receive on one contact across processes, and kill -9 of a sender
// or of the connection worker with sends in flight.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "load_client.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa_server.hpp"

using namespace harness;

namespace {

// Rounds a sender answers per (message, device), as the reference clients.
constexpr size_t kRetryRounds = 5;

// A send that must succeed; the reply is shown when it does not.
json sent_ok(const Supervisor& sup, const std::string& profile, const std::string& to, const std::string& text) {
  json r = send_text(sup, profile, to, text);
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  return r;
}

// The server's message counter (every <message> it received from anyone).
uint64_t server_messages(const TestServer& ts) {
  auto [rc, out] = ts.admin({"status", "--state", ts.state(), "--json"});
  if (rc != 0) return 0;
  auto j = json::parse(out, nullptr, false);
  if (j.is_discarded()) return 0;
  return j["result"]["counters"].value("messages", uint64_t{0});
}

std::vector<json> messages_from(EventLog& ev, const std::string& profile, const std::string& chat) {
  std::vector<json> out;
  for (auto& e : events_of(ev.all(), profile, "message"))
    if (pn_of(e, "chat") == chat) out.push_back(e);
  return out;
}

// wa-sender processes among the supervisor's children.
size_t sender_processes(pid_t supervisor) {
  size_t n = 0;
  for (pid_t p : children_of(supervisor))
    if (proc_cmdline(p).find("wa-sender") != std::string::npos) ++n;
  return n;
}

}  // namespace

TEST_CASE("a recipient that lost its session gets the message through a retry receipt") {
  TwoAccounts accounts("rta", "15550000031", "rtb", "15550000032");
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  const std::string to_b = "15550000032@s.whatsapp.net", chat_a = "15550000031@s.whatsapp.net";

  sent_ok(sup, "rta", to_b, "first");
  REQUIRE(ev.wait_for([&](const std::vector<json>&) { return messages_from(ev, "rtb", chat_a).size() == 1; }, 20s));

  // B forgets its sessions with A while it is down; A still has its session.
  REQUIRE(sup.call({{"cmd", "stop"}, {"profile", "rtb"}}).value("ok", false));
  {
    auto st = wa::store::open_sqlite(sup.data_dir() + "/rtb/store.db");
    REQUIRE(st);
    auto gone = (*st)->delete_all_sessions("15550000031");
    REQUIRE(gone);
    REQUIRE(*gone >= 1);
  }
  size_t opens = count_of(ev, "rtb", "connection", "open");
  REQUIRE(sup.call({{"cmd", "start"}, {"profile", "rtb"}}).value("ok", false));
  REQUIRE(wait_event(ev, "rtb", "connection", "open", opens));

  json r = sent_ok(sup, "rta", to_b, "second");
  const std::string id = r["result"]["id"];
  // B cannot decrypt, asks again; A's sender re-encrypts (a fresh session
  // from the keys of the later receipt) and B finally reads it.
  REQUIRE(ev.wait_for([&](const std::vector<json>&) { return messages_from(ev, "rtb", chat_a).size() == 2; }, 30s));
  auto msgs = messages_from(ev, "rtb", chat_a);
  CHECK(msgs[1]["id"] == id);
  CHECK(msgs[1]["text"] == "second");
  auto undecryptable = events_of(ev.all(), "rtb", "undecryptable");
  REQUIRE(!undecryptable.empty());
  CHECK(undecryptable.front()["id"] == id);
  CHECK(undecryptable.size() <= kRetryRounds);
  // In that order: the failures first, then the message.
  auto all = ev.all();
  auto first_failure = std::find_if(all.begin(), all.end(), [&](const json& e) {
    return e.value("profile", "") == "rtb" && e.value("type", "") == "undecryptable";
  });
  auto delivered = std::find_if(all.begin(), all.end(), [&](const json& e) {
    return e.value("profile", "") == "rtb" && e.value("type", "") == "message" && e.value("id", "") == id;
  });
  CHECK(first_failure < delivered);

  // The session is healthy again: the next message needs no retry.
  size_t failures = undecryptable.size();
  sent_ok(sup, "rta", to_b, "third");
  REQUIRE(ev.wait_for([&](const std::vector<json>&) { return messages_from(ev, "rtb", chat_a).size() == 3; }, 20s));
  CHECK(messages_from(ev, "rtb", chat_a)[2]["text"] == "third");
  CHECK(events_of(ev.all(), "rtb", "undecryptable").size() == failures);
}

TEST_CASE("50 conversations sent to concurrently stay within max_per_instance 8") {
  TestServer ts;
  // Recipients: accounts on the server, each with a companion device paired
  // the way a real one is (cheaper than 50 of our own instances).
  auto env = wa::loadclient::Env::from_state_dir(ts.state());
  constexpr int kConversations = 50;
  std::vector<std::string> to;
  for (int i = 0; i < kConversations; ++i) {
    std::string phone = "1555100" + std::to_string(1000 + i);
    wa::loadclient::pair_device(env, phone);
    to.push_back(phone + "@s.whatsapp.net");
  }
  Supervisor sup(config_for(ts, json::array({{{"profile", "fan"}}}),
                            {{"senders", {{"max_per_instance", 8}, {"idle_ms", 60000}}}}));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "fan", "15550000041");

  std::atomic<bool> done{false};
  std::atomic<size_t> max_status{0}, max_procs{0}, samples{0}, sample_errors{0};
  std::string sampler_error;  // written by the sampler only, read after join
  std::thread sampler([&] {
    while (!done) {
      try {
        // /proc is the ground truth; `status` is the supervisor's own view.
        max_procs = std::max(max_procs.load(), sender_processes(sup.pid()));
        max_status = std::max(max_status.load(), sup.instance("fan")["senders"].size());
        ++samples;
      } catch (const std::exception& e) {
        // A sample failing (a status request while 50 sends are dialled
        // in, a process gone mid-read) is reported, not fatal: the cap is
        // what this test checks.
        sampler_error = e.what();
        ++sample_errors;
      }
    }
  });
  std::vector<std::future<json>> replies;
  for (int i = 0; i < kConversations; ++i)
    replies.push_back(std::async(std::launch::async, [&, i] {
      return send_text(sup, "fan", to[static_cast<size_t>(i)], "fan-out " + std::to_string(i));
    }));
  std::set<std::string> ids;
  for (auto& f : replies) {
    json r = f.get();
    INFO(r.dump());
    CHECK(r.value("ok", false));
    if (r.value("ok", false)) ids.insert(r["result"]["id"].get<std::string>());
  }
  done = true;
  sampler.join();
  MESSAGE("senders alive at most: ", max_status.load(), " (status), ", max_procs.load(), " (processes), over ",
          samples.load(), " samples (", sample_errors.load(), " status requests failed: ", sampler_error, ")");
  CHECK(ids.size() == kConversations);
  CHECK(samples > 0);
  CHECK(max_status <= 8);
  CHECK(max_procs <= 8);
  // The cap was actually reached: the test would notice a pool that serialises everything.
  CHECK(max_procs >= 2);
}

TEST_CASE("concurrent send and receive on one contact across processes keeps the ratchet whole") {
  TwoAccounts accounts("cra", "15550000051", "crb", "15550000052");
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  const std::string a = "15550000051@s.whatsapp.net", b = "15550000052@s.whatsapp.net";
  constexpr int kRounds = 100;

  // Both directions at once: each side's sender encrypts while its
  // connection worker decrypts the other side's messages, same session.
  auto pump = [&](const std::string& from, const std::string& to) {
    int ok = 0;
    for (int i = 0; i < kRounds; ++i)
      if (send_text(sup, from, to, from + " " + std::to_string(i)).value("ok", false)) ++ok;
    return ok;
  };
  auto ab = std::async(std::launch::async, pump, "cra", b);
  auto ba = std::async(std::launch::async, pump, "crb", a);
  CHECK(ab.get() == kRounds);
  CHECK(ba.get() == kRounds);

  auto got_all = [&](const std::string& profile, const std::string& chat) {
    return ev.wait_for([&](const std::vector<json>&) { return messages_from(ev, profile, chat).size() >= kRounds; },
                       30s);
  };
  CHECK(got_all("crb", a));
  CHECK(got_all("cra", b));
  for (auto [profile, chat, peer] : {std::tuple{"crb", a, "cra"}, std::tuple{"cra", b, "crb"}}) {
    std::set<std::string> texts;
    for (auto& m : messages_from(ev, profile, chat)) texts.insert(m["text"].get<std::string>());
    CHECK(texts.size() == kRounds);
    for (int i = 0; i < kRounds; ++i) CHECK(texts.count(std::string(peer) + " " + std::to_string(i)) == 1);
    CHECK(events_of(ev.all(), profile, "undecryptable").empty());
  }
}

// A sender hands its stanza to the connection worker with its `done`
// (ipc/messages.hpp): from then on the send is the worker's, and the ack
// answers it whatever becomes of the sender. (A sender killed while it still
// holds its job fails that send with sender_crashed: process.supervisor.)
TEST_CASE("kill -9 of a sender whose message awaits the server's ack: the ack still answers the send, delivered once, and a re-send gets a new sender") {
  TwoAccounts accounts("kla", "15550000061", "klb", "15550000062");
  auto& ts = accounts.ts;
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  const std::string& a_dev = accounts.a_dev;
  const std::string to_b = "15550000062@s.whatsapp.net", chat_a = "15550000061@s.whatsapp.net";
  sent_ok(sup, "kla", to_b, "warm");
  auto pids = sup.sender_pids("kla");
  REQUIRE(pids.size() == 1);

  // Hold the next ack: the message has left, its answer has not come.
  REQUIRE(ts.fault_jid(a_dev, {"delay-acks", "1", "3000"}).first == 0);
  uint64_t before = server_messages(ts);
  auto pending = std::async(std::launch::async, [&] { return send_text(sup, "kla", to_b, "handed"); });
  REQUIRE(wait_until([&] { return server_messages(ts) > before; }, 20s));
  REQUIRE(pending.wait_for(0s) == std::future_status::timeout);
  REQUIRE(::kill(pids[0], SIGKILL) == 0);
  json r = pending.get();
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  const std::string id = r["result"].value("id", "");
  CHECK_FALSE(id.empty());

  json again = sent_ok(sup, "kla", to_b, "again");
  CHECK(wait_until([&] { return sup.sender_pids("kla").size() == 1 && sup.sender_pids("kla")[0] != pids[0]; }, 20s));
  CHECK(ev.wait_for([&](const std::vector<json>&) {
    for (auto& m : messages_from(ev, "klb", chat_a))
      if (m["id"] == again["result"]["id"] && m["text"] == "again") return true;
    return false;
  }, 20s));
  int copies = 0;
  for (auto& m : messages_from(ev, "klb", chat_a))
    if (m["id"] == id && m["text"] == "handed") ++copies;
  CHECK(copies == 1);
}

TEST_CASE("kill -9 of the connection worker with 20 sends in flight: every send answered, nothing delivered twice") {
  TwoAccounts accounts("kca", "15550000071", "kcb", "15550000072");
  auto& ts = accounts.ts;
  auto& sup = accounts.sup;
  auto& ev = accounts.ev;
  const std::string& a_dev = accounts.a_dev;
  const std::string to_b = "15550000072@s.whatsapp.net", chat_a = "15550000071@s.whatsapp.net";
  sent_ok(sup, "kca", to_b, "warm");

  // Slow acks keep the 20 sends in the pipeline (one relaying, the rest queued).
  REQUIRE(ts.fault_jid(a_dev, {"delay-acks", "20", "300"}).first == 0);
  uint64_t before = server_messages(ts);
  constexpr int kSends = 20;
  std::vector<std::future<json>> replies;
  for (int i = 0; i < kSends; ++i)
    replies.push_back(std::async(std::launch::async, [&, i] { return send_text(sup, "kca", to_b, "m" + std::to_string(i)); }));
  REQUIRE(wait_until([&] { return server_messages(ts) >= before + 3; }, 20s));
  pid_t worker = sup.conn_pid("kca");
  REQUIRE(worker > 0);
  REQUIRE(::kill(worker, SIGKILL) == 0);

  std::set<std::string> acked;
  int failed = 0;
  for (auto& f : replies) {
    REQUIRE(f.wait_for(30s) == std::future_status::ready);
    json r = f.get();
    INFO(r.dump());
    if (r.value("ok", false)) {
      acked.insert(r["result"]["id"].get<std::string>());
    } else {
      ++failed;
      std::string code = error_code(r);
      CHECK((code == "instance_down" || code == "sender_crashed" || code == "not_connected"));
    }
  }
  MESSAGE(acked.size(), " sends acked before the kill, ", failed, " failed by it");
  CHECK(acked.size() + static_cast<size_t>(failed) == kSends);
  CHECK(failed > 0);  // the kill really caught sends in flight

  // The instance comes back; B got every acked message, and nothing twice.
  REQUIRE(sup.wait_running("kca", worker, 20s));
  CHECK(ev.wait_for([&](const std::vector<json>&) {
    std::set<std::string> seen;
    for (auto& m : messages_from(ev, "kcb", chat_a)) seen.insert(m["id"].get<std::string>());
    return std::includes(seen.begin(), seen.end(), acked.begin(), acked.end());
  }, 20s));
  std::set<std::string> ids, texts;
  auto got = messages_from(ev, "kcb", chat_a);
  for (auto& m : got) {
    CHECK(ids.insert(m["id"].get<std::string>()).second);
    CHECK(texts.insert(m["text"].get<std::string>()).second);
  }
  // And B's durable inbox holds each message once.
  REQUIRE(sup.call({{"cmd", "stop"}, {"profile", "kcb"}}).value("ok", false));
  auto st = wa::store::open_sqlite(sup.data_dir() + "/kcb/store.db");
  REQUIRE(st);
  auto inbox = (*st)->inbox_since(0, 1000);
  REQUIRE(inbox);
  std::set<std::string> inbox_ids;
  for (auto& e : *inbox) {
    // The stored event keeps the phone number beside a LID chat.
    json payload = json::parse(e.payload, nullptr, false);
    if (payload.is_object() && pn_of(payload, "chat") == chat_a) CHECK(inbox_ids.insert(e.msg_id).second);
  }
  CHECK(inbox_ids == ids);
}

TEST_CASE("retry receipts are answered at most 5 times per message and device") {
  TestServer ts;
  // The requester is a bare companion that never decrypts: it asks again
  // and again, as a broken or hostile client could.
  auto env = wa::loadclient::Env::from_state_dir(ts.state());
  auto creds = wa::loadclient::pair_device(env, "15550000082");
  Supervisor sup(config_for(ts, json::array({{{"profile", "cap"}}})));
  EventLog ev(sup.run_dir());
  std::string a_dev = pair_by_qr(ts, ev, "cap", "15550000081")["jid"];
  const std::string id = sent_ok(sup, "cap", "15550000082@s.whatsapp.net", "ask me again")["result"]["id"];

  std::vector<wa::binary::Node> offline;
  auto conn = wa::loadclient::login(env, creds, &offline);
  REQUIRE(std::any_of(offline.begin(), offline.end(),
                      [&](const wa::binary::Node& n) { return n.tag == "message" && n.attr_or("id", "") == id; }));
  // Seven receipts whose counts never pass 3: only the worker's own count
  // of rounds per (message, device) can stop them.
  constexpr int kAsked = 7;
  for (int i = 0; i < kAsked; ++i) {
    wa::binary::Children kids;
    kids.emplace_back("retry", wa::binary::Attrs{{"count", std::to_string(i % 3 + 1)}, {"id", id},
                                                 {"t", "1700000000"}, {"v", "1"}});
    kids.emplace_back("registration", wa::binary::Attrs{}, wa::Bytes{0, 0, 4, 210});
    conn.send(wa::binary::Node("receipt", {{"to", a_dev}, {"id", id}, {"type", "retry"}}, std::move(kids)));
  }
  // Re-sends carry the original id; a later message on the same conversation
  // is queued behind every retry job, so once it arrives nothing more can.
  int resends = 0;
  bool later_seen = false;
  std::string later_id;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!later_seen && std::chrono::steady_clock::now() < deadline) {
    wa::binary::Node n = conn.recv(20000);
    if (n.tag != "message") continue;
    if (n.attr_or("id", "") == id) ++resends;
    if (resends == static_cast<int>(kRetryRounds) && later_id.empty())
      later_id = sent_ok(sup, "cap", "15550000082@s.whatsapp.net", "later")["result"]["id"];
    if (!later_id.empty() && n.attr_or("id", "") == later_id) later_seen = true;
  }
  CHECK(later_seen);
  CHECK(resends == static_cast<int>(kRetryRounds));
}

TEST_CASE("a send without the server's ack fails unknown_outcome with its id, a replay says the same, the next one is acked") {
  // 2 s: the warm-up send before the fault must get its ack in time on a loaded machine too.
  TwoAccounts accounts("toa", "15550000071", "tob", "15550000072", {{"senders", {{"ack_timeout_ms", 2000}}}});
  auto& ts = accounts.ts;
  auto& sup = accounts.sup;
  const std::string& a_dev = accounts.a_dev;
  const std::string to_b = "15550000072@s.whatsapp.net";
  sent_ok(sup, "toa", to_b, "warm");
  // The server takes the message but never acknowledges it.
  REQUIRE(ts.fault_jid(a_dev, {"drop-acks", "1"}).first == 0);
  auto t0 = std::chrono::steady_clock::now();
  const json req{{"cmd", "send_text"}, {"profile", "toa"}, {"to", to_b}, {"text", "unacknowledged"},
                 {"client_id", "unacked-1"}};
  json r = sup.call(req, 60000);
  INFO(r.dump());
  // It left: `timeout` would promise it was not sent.
  CHECK(error_code(r) == "unknown_outcome");
  const std::string id = r["error"].value("id", "");
  CHECK(id.size() >= 16);
  // Answered by our deadline, not the 60 s IQ default.
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);
  // The client id remembers the same answer: never a false `timeout`, never a second send.
  json replay = sup.call(req, 60000);
  CHECK(error_code(replay) == "unknown_outcome");
  CHECK(replay["error"].value("id", "") == id);
  // A failed send is never re-sent on its own, and the connection is still usable.
  json again = sent_ok(sup, "toa", to_b, "acked");
  CHECK(again["result"]["id"].get<std::string>() != "");
  CHECK(again["result"]["id"].get<std::string>() != id);
}
