// wa-testserver as a process, driven over its real protocol by the load
// client: injected faults, login rules, one-time prekeys, restart persistence.
#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "load_client.hpp"
#include "temp_dir.hpp"
#include "wa/ipc/client.hpp"

extern char** environ;

using namespace wa;
using namespace wa::loadclient;
using binary::Node;
using namespace std::chrono_literals;

namespace {

class Server {
 public:
  explicit Server(const std::string& dir) : dir_(dir) { start(); }
  // A clean exit on SIGTERM (under ASan: no leak, no memory error reported).
  ~Server() { CHECK(stop() == 0); }

  void start() {
    std::filesystem::remove(dir_ + "/ready");
    std::string bin = WA_TESTSERVER_BIN;
    std::vector<std::string> args{bin, "serve", "--listen", "127.0.0.1:0", "--state", dir_};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), nullptr, nullptr, argv.data(), environ) != 0) throw std::runtime_error("spawn");
    // DIR/ready appears only once the server listens: wait for it with a deadline.
    auto end = std::chrono::steady_clock::now() + 15s;
    while (!std::filesystem::exists(dir_ + "/ready")) {
      if (std::chrono::steady_clock::now() > end) throw std::runtime_error("server did not become ready");
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) throw std::runtime_error("server exited at start");
      std::this_thread::sleep_for(20ms);
    }
    env_ = Env::from_state_dir(dir_);
  }
  int stop() {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  const Env& env() const { return env_; }

  nlohmann::json admin(const nlohmann::json& req) {
    auto cl = ipc::ControlClient::connect("ipc://" + dir_ + "/admin.sock", 10000);
    if (!cl) throw std::runtime_error("admin connect");
    auto r = cl->request(req);
    if (!r) throw std::runtime_error("admin request");
    return *r;
  }
  void fault(const std::string& jid, const std::string& action, nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json req{{"cmd", "fault"}, {"jid", jid}, {"action", action}};
    for (auto& [k, v] : extra.items()) req[k] = v;
    auto r = admin(req);
    REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  }

 private:
  std::string dir_;
  pid_t pid_ = 0;
  Env env_;
};

std::string login_failure(const Env& env, const Creds& c) {
  try {
    login(env, c);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("ack faults: drop-acks skips, delay-acks delays") {
  test::TempDir dir;
  Server s(dir.path());
  auto a = pair_device(s.env(), "155601");
  auto b = pair_device(s.env(), "155602");
  auto ca = login(s.env(), a);
  auto cb = login(s.env(), b);
  Bytes body{1, 2, 3};

  s.fault(a.jid, "drop-acks", {{"n", 2}});
  for (int i = 0; i < 3; ++i) ca.send(text_to(b, "D" + std::to_string(i), body));
  // Acks come in order: if the first one is for D2, D0 and D1 were dropped.
  Node ack = ca.recv_tag("ack", 10000);
  CHECK(ack.attr_or("id", "") == "D2");
  for (int i = 0; i < 3; ++i) CHECK(cb.recv_tag("message", 10000).attr_or("id", "") == "D" + std::to_string(i));

  s.fault(a.jid, "delay-acks", {{"n", 1}, {"ms", 300}});
  auto t0 = std::chrono::steady_clock::now();
  ca.send(text_to(b, "L0", body));
  CHECK(cb.recv_tag("message", 10000).attr_or("id", "") == "L0");
  Node late = ca.recv_tag("ack", 10000);
  CHECK(late.attr_or("id", "") == "L0");
  // libuv times from the loop's cached clock, so a 300 ms timer may end a
  // little before 300 ms of wall time have passed; an undelayed ack takes ~1 ms.
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);
}

TEST_CASE("stream errors, malformed frames and replaced connections close only their target") {
  test::TempDir dir;
  Server s(dir.path());
  auto a = pair_device(s.env(), "155611");
  auto b = pair_device(s.env(), "155612");
  auto ca = login(s.env(), a);
  auto cb = login(s.env(), b);

  s.fault(a.jid, "stream-error", {{"code", "device_removed"}});
  Node se = ca.recv_tag("stream:error", 10000);
  CHECK(se.attr_or("code", "") == "401");
  REQUIRE(se.child("conflict"));
  CHECK(se.child("conflict")->attr_or("type", "") == "device_removed");

  auto ca2 = login(s.env(), a);
  s.fault(a.jid, "malformed-frame");
  CHECK_THROWS_WITH_AS(ca2.recv(10000), doctest::Contains("decode"), std::runtime_error);

  // A second login of the same device replaces the first.
  auto ca3 = login(s.env(), a);
  auto ca4 = login(s.env(), a);
  Node rep = ca3.recv_tag("stream:error", 10000);
  REQUIRE(rep.child("conflict"));
  CHECK(rep.child("conflict")->attr_or("type", "") == "replaced");

  // Bob never noticed any of it.
  ca4.send(text_to(b, "still", Bytes{9}));
  CHECK(cb.recv_tag("message", 10000).attr_or("id", "") == "still");

  // A client sending garbage after login is dropped alone.
  auto c = pair_device(s.env(), "155613");
  auto bad = login(s.env(), c);
  Bytes junk{0x00, 0x00, 0x04, 1, 2, 3, 4};
  REQUIRE(bad.ws().send(junk));
  CHECK_THROWS(bad.recv(10000));
  ca4.send(text_to(b, "after-garbage", Bytes{9}));
  CHECK(cb.recv_tag("message", 10000).attr_or("id", "") == "after-garbage");
}

TEST_CASE("login rules: noise key checked, refuse-login and clear") {
  test::TempDir dir;
  Server s(dir.path());
  auto a = pair_device(s.env(), "155621");
  Creds wrong = a;
  wrong.noise = crypto::generate_keypair();
  CHECK(login_failure(s.env(), wrong) == "failure:401");
  Creds unknown = a;
  unknown.device = 9;
  CHECK(login_failure(s.env(), unknown) == "failure:401");

  auto r = s.admin({{"cmd", "fault"}, {"phone", "155621"}, {"action", "refuse-login"}, {"reason", "405"}});
  REQUIRE(r.value("ok", false));
  CHECK(login_failure(s.env(), a) == "failure:405");
  r = s.admin({{"cmd", "fault"}, {"phone", "155621"}, {"action", "clear"}});
  REQUIRE(r.value("ok", false));
  CHECK(login_failure(s.env(), a).empty());
}

TEST_CASE("each one-time prekey is handed out once - unknown iqs get 501") {
  test::TempDir dir;
  Server s(dir.path());
  auto a = pair_device(s.env(), "155631");
  auto b = pair_device(s.env(), "155632");
  auto ca = login(s.env(), a);
  auto cb = login(s.env(), b);
  auto be3 = [](uint32_t v) { return Bytes{uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; };
  binary::Children keys;
  for (uint32_t id : {5u, 6u})
    keys.push_back(Node("key", {}, binary::Children{Node("id", {}, be3(id)), Node("value", {}, crypto::random_bytes(32))}));
  Node upload("iq", {{"id", "u1"}, {"xmlns", "encrypt"}, {"type", "set"}, {"to", "@s.whatsapp.net"}});
  upload.content = binary::Children{Node("list", {}, std::move(keys))};
  ca.send(upload);
  CHECK(ca.recv_tag("iq", 10000).attr_or("type", "") == "result");

  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    Node fetch("iq", {{"id", "f" + std::to_string(i)}, {"xmlns", "encrypt"}, {"type", "get"}, {"to", "@s.whatsapp.net"}});
    fetch.content = binary::Children{Node("key", {}, binary::Children{Node("user", {{"jid", a.jid}})})};
    cb.send(fetch);
    Node res = cb.recv_tag("iq", 10000);
    const Node* user = res.child("list") ? res.child("list")->child("user") : nullptr;
    REQUIRE(user);
    CHECK(user->child("identity"));
    CHECK(user->child("skey"));
    const Node* key = user->child("key");
    got.push_back(key ? to_hex(*key->child("id")->bytes()) : "none");
  }
  CHECK(got == std::vector<std::string>{"000005", "000006", "none"});

  Node odd("iq", {{"id", "x1"}, {"xmlns", "w:nonexistent"}, {"type", "get"}, {"to", "@s.whatsapp.net"}});
  cb.send(odd);
  Node err = cb.recv_tag("iq", 10000);
  CHECK(err.attr_or("type", "") == "error");
  REQUIRE(err.child("error"));
  CHECK(err.child("error")->attr_or("code", "") == "501");
}

TEST_CASE("a restarted server keeps accounts, keys and offline queues") {
  test::TempDir dir;
  Server s(dir.path());
  std::string root = s.env().policy.root_public == crypto::Key32{} ? "" : to_hex(s.env().policy.root_public);
  auto a = pair_device(s.env(), "155641");
  auto b = pair_device(s.env(), "155642");
  {
    auto ca = login(s.env(), a);
    ca.send(text_to(b, "Q1", Bytes{1}));
    ca.recv_tag("ack", 10000);
    ca.send(text_to(b, "Q2", Bytes{2}));
    ca.recv_tag("ack", 10000);
  }
  CHECK(s.stop() == 0);
  s.start();
  CHECK(to_hex(s.env().policy.root_public) == root);
  std::vector<Node> offline;
  auto cb = login(s.env(), b, &offline);
  REQUIRE(offline.size() == 2);
  CHECK(offline[0].attr_or("id", "") == "Q1");
  CHECK(offline[1].attr_or("id", "") == "Q2");
  CHECK(offline[0].has_attr("offline"));
  CHECK(offline[0].attr_or("from", "") == a.jid);
  // Held until answered: a login that did not answer gets them again...
  std::vector<Node> again;
  auto cb2 = login(s.env(), b, &again);
  REQUIRE(again.size() == 2);
  CHECK(again[0].attr_or("id", "") == "Q1");
  // ...and once answered (a receipt, a message ack) they are gone.
  cb2.send(Node("receipt", {{"id", "Q1"}, {"to", a.jid}}));
  cb2.send(Node("ack", {{"class", "message"}, {"id", "Q2"}, {"to", a.jid}}));
  cb2.send(Node("iq", {{"id", "sync"}, {"xmlns", "w:p"}, {"type", "get"}, {"to", "@s.whatsapp.net"}}));
  cb2.recv_tag("iq", 10000);
  std::vector<Node> third;
  auto cb3 = login(s.env(), b, &third);
  CHECK(third.empty());
}

TEST_CASE("the offline queue goes out in the batches the client asks for, each held until answered") {
  test::TempDir dir;
  Server s(dir.path());
  auto a = pair_device(s.env(), "155651");
  auto b = pair_device(s.env(), "155652");
  {
    auto ca = login(s.env(), a);
    for (int i = 0; i < 5; ++i) {
      ca.send(text_to(b, "B" + std::to_string(i), Bytes{1}));
      ca.recv_tag("ack", 10000);
    }
  }
  auto cb = login(s.env(), b, nullptr, 0);
  cb.send(Node("ib", {}, binary::Children{Node("offline_batch", {{"count", "2"}})}));
  auto next_message = [&] {
    for (;;) {
      Node n = cb.recv(10000);
      if (n.tag == "message" || (n.tag == "ib" && n.child("offline"))) return n;
    }
  };
  auto sync = [&](const std::string& id) {
    // An iq round trip: everything the server had to send before it is here.
    cb.send(Node("iq", {{"id", id}, {"xmlns", "w:p"}, {"type", "get"}, {"to", "@s.whatsapp.net"}}));
    std::vector<Node> before;
    for (;;) {
      Node n = cb.recv(10000);
      if (n.tag == "iq" && n.attr_or("id", "") == id) return before;
      before.push_back(std::move(n));
    }
  };
  for (int batch = 0; batch < 2; ++batch) {
    Node m1 = next_message();
    Node m2 = next_message();
    CHECK(m1.attr_or("id", "") == "B" + std::to_string(2 * batch));
    CHECK(m2.attr_or("id", "") == "B" + std::to_string(2 * batch + 1));
    // Nothing more until this batch is answered.
    CHECK(sync("s" + std::to_string(batch)).empty());
    cb.send(Node("receipt", {{"id", std::string(m1.attr_or("id", ""))}, {"to", a.jid}}));
    cb.send(Node("ack", {{"class", "message"}, {"id", std::string(m2.attr_or("id", ""))}, {"to", a.jid}}));
  }
  Node last = next_message();
  CHECK(last.attr_or("id", "") == "B4");
  Node end = next_message();
  REQUIRE(end.tag == "ib");
  CHECK(end.child("offline")->attr_or("count", "") == "5");
  cb.send(Node("receipt", {{"id", "B4"}, {"to", a.jid}}));
  (void)sync("s-end");
  // All answered: a later login finds nothing queued.
  std::vector<Node> again;
  auto cb2 = login(s.env(), b, &again);
  CHECK(again.empty());
}

TEST_CASE("the admin socket answers mistyped fields and hostile JSON with bad_request and keeps serving") {
  test::TempDir dir;
  Server s(dir.path());
  for (const nlohmann::json& req : {nlohmann::json{{"cmd", "scan"}, {"phone", 5}, {"qr", "x"}},
                                    nlohmann::json{{"cmd", "link-code"}, {"phone", true}},
                                    nlohmann::json{{"cmd", "drain-prekeys"}, {"jid", 7}, {"leave", 1}}}) {
    auto r = s.admin(req);
    CHECK(r.value("ok", true) == false);
    CHECK(r["error"]["code"] == "bad_request");
  }
  auto cl = ipc::ControlClient::connect("ipc://" + dir.path() + "/admin.sock", 10000);
  REQUIRE(cl.has_value());
  for (std::string_view raw : {std::string_view("1e400"), std::string_view("{\"cmd\":\"status\"}\0x", 18)}) {
    auto r = cl->request_raw(raw);
    REQUIRE(r.has_value());
    CHECK(r->find("bad_request") != std::string::npos);
  }
  CHECK(s.admin({{"cmd", "status"}}).value("ok", false));
}
