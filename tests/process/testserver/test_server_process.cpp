// wa-testserver as a process, driven over its real protocol by the load
// client: injected faults, login rules, one-time prekeys, restart persistence.
#include <doctest/doctest.h>

#include <algorithm>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "load_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wa/ipc/client.hpp"
#include "wa/proto/client_payload.pb.h"

extern char** environ;

using namespace wa;
using namespace wa::loadclient;
using test_support::Server;
using binary::Node;
using namespace std::chrono_literals;

namespace {

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

namespace {

// <client-props> of a pair-success as ClientPairingProps; nullopt when absent.
std::optional<proto::ClientPairingProps> client_props(const Creds& c) {
  const Node* cp = c.pair_success.child("client-props");
  if (!cp || !cp->bytes()) return std::nullopt;
  proto::ClientPairingProps p;
  if (!p.ParseFromArray(cp->bytes()->data(), static_cast<int>(cp->bytes()->size()))) return std::nullopt;
  return p;
}

// An iq and its answer (other stanzas in between are skipped).
Node ask(WaConn& c, Node iq) {
  std::string id(iq.attr_or("id", ""));
  c.send(iq);
  for (;;) {
    Node n = c.recv(10000);
    if (n.tag == "iq" && n.attr_or("id", "") == id) return n;
  }
}

Node usync(const std::string& id, Node query, std::vector<std::string> jids) {
  binary::Children users;
  for (auto& j : jids) users.push_back(Node("user", {{"jid", j}}));
  Node iq("iq", {{"id", id}, {"xmlns", "usync"}, {"type", "get"}, {"to", "@s.whatsapp.net"}});
  iq.content = binary::Children{Node("usync", {{"sid", id}, {"mode", "query"}, {"context", "interactive"}}, binary::Children{
      std::move(query), Node("list", {}, std::move(users))})};
  return iq;
}

const Node* usync_user(const Node& res, size_t i) {
  const Node* us = res.child("usync");
  const Node* list = us ? us->child("list") : nullptr;
  if (!list || list->children().size() <= i) return nullptr;
  return &list->children()[i];
}

}  // namespace

TEST_CASE("lid mode: pair-success client-props follow migrate - usync lid, contact and device lookups by PN and LID") {
  test::TempDir dir;
  Server s(dir.path(), {"--addressing", "lid"});
  auto a = pair_device(s.env(), "155701");
  auto b = pair_device(s.env(), "155702");
  auto props = client_props(a);
  REQUIRE(props);
  CHECK(props->has_ischatdblidmigrated());
  CHECK(props->ischatdblidmigrated());
  auto st = s.admin({{"cmd", "status"}});
  CHECK(st["result"].value("addressing", "") == "lid");
  CHECK(st["result"].value("pn_lookups", "") == "refuse");

  // migrate off: the next pairing says so, and it persists (status).
  auto m = s.admin({{"cmd", "migrate"}, {"phone", "155701"}, {"on", false}});
  REQUIRE_MESSAGE(m.value("ok", false), m.dump());
  auto a2 = pair_device(s.env(), "155701");
  auto props2 = client_props(a2);
  REQUIRE(props2);
  CHECK_FALSE(props2->ischatdblidmigrated());
  // An account that does not exist yet is created unmigrated: its first pairing says so.
  REQUIRE(s.admin({{"cmd", "migrate"}, {"phone", "155703"}, {"on", false}}).value("ok", false));
  auto fresh = client_props(pair_device(s.env(), "155703"));
  REQUIRE(fresh);
  CHECK_FALSE(fresh->ischatdblidmigrated());
  CHECK_FALSE(s.admin({{"cmd", "migrate"}, {"phone", "155703"}, {"on", "yes"}}).value("ok", true));
  REQUIRE(s.admin({{"cmd", "migrate"}, {"phone", "155701"}, {"on", true}}).value("ok", false));

  std::string b_lid = b.lid.substr(0, b.lid.find(':')) + "@lid";
  auto cb = login(s.env(), b);
  auto ca = login(s.env(), a);
  // lid protocol: known users get <lid val>, unknown ones a 404 "missing".
  Node res = ask(ca, usync("u1", Node("query", {}, binary::Children{Node("lid")}),
                           {"155702@s.whatsapp.net", "155788@s.whatsapp.net"}));
  REQUIRE(usync_user(res, 1));
  CHECK(usync_user(res, 0)->child("lid")->attr_or("val", "") == b_lid);
  const Node* missing = usync_user(res, 1)->child("lid");
  REQUIRE(missing);
  REQUIRE(missing->child("error"));
  CHECK(missing->child("error")->attr_or("code", "") == "404");
  CHECK(missing->child("error")->attr_or("text", "") == "missing");

  // contact with addressing_mode=lid: jid=LID pn_jid=PN (unregistered: pn_jid only, out).
  Node cq("query", {}, binary::Children{Node("contact", {{"addressing_mode", "lid"}})});
  Node cres = ask(ca, usync("u2", cq, {"155702@s.whatsapp.net", "155788@s.whatsapp.net"}));
  REQUIRE(usync_user(cres, 1));
  CHECK(usync_user(cres, 0)->attr_or("jid", "") == b_lid);
  CHECK(usync_user(cres, 0)->attr_or("pn_jid", "") == "155702@s.whatsapp.net");
  CHECK(usync_user(cres, 0)->child("contact")->attr_or("type", "") == "in");
  CHECK_FALSE(usync_user(cres, 1)->has_attr("jid"));
  CHECK(usync_user(cres, 1)->attr_or("pn_jid", "") == "155788@s.whatsapp.net");
  CHECK(usync_user(cres, 1)->child("contact")->attr_or("type", "") == "out");

  // devices: by LID the list (echoing the LID), by PN nothing (both migrated).
  Node dq("query", {}, binary::Children{Node("devices", {{"version", "2"}})});
  Node dres = ask(ca, usync("u3", dq, {b_lid, "155702@s.whatsapp.net"}));
  REQUIRE(usync_user(dres, 1));
  CHECK(usync_user(dres, 0)->attr_or("jid", "") == b_lid);
  CHECK(usync_user(dres, 0)->child("devices")->child("device-list")->children().size() == 2);  // phone + companion
  CHECK(usync_user(dres, 1)->child("devices")->child("device-list")->children().empty());

  // Prekeys: by PN a 404 for the migrated peer, by LID the bundle.
  Node fetch("iq", {{"id", "k1"}, {"xmlns", "encrypt"}, {"type", "get"}, {"to", "@s.whatsapp.net"}});
  fetch.content = binary::Children{Node("key", {}, binary::Children{Node("user", {{"jid", b.jid}}), Node("user", {{"jid", b.lid}})})};
  Node kres = ask(ca, fetch);
  const Node* klist = kres.child("list");
  REQUIRE(klist);
  REQUIRE(klist->children().size() == 2);
  CHECK(klist->children()[0].child("error"));
  CHECK(klist->children()[1].attr_or("jid", "") == b.lid);
  CHECK(klist->children()[1].child("identity"));
}

TEST_CASE("lid mode with --tctoken require: 463 without trust, a privacy token from the recipient opens the chat") {
  test::TempDir dir;
  Server s(dir.path(), {"--addressing", "lid", "--tctoken", "require"});
  auto a = pair_device(s.env(), "155711");
  auto b = pair_device(s.env(), "155712");
  auto ca = login(s.env(), a);
  auto cb = login(s.env(), b);
  std::string a_lid = a.lid.substr(0, a.lid.find(':')) + "@lid";
  std::string b_lid = b.lid.substr(0, b.lid.find(':')) + "@lid";
  auto lid_dm = [&](const std::string& id, const std::string& to_user, const std::string& to_dev, std::optional<Bytes> token) {
    Node m("message", {{"id", id}, {"to", to_user}, {"type", "text"}});
    binary::Children kids{Node("participants", {}, binary::Children{
        Node("to", {{"jid", to_dev}}, binary::Children{Node("enc", {{"v", "2"}, {"type", "msg"}}, Bytes{1, 2, 3})})})};
    if (token) kids.push_back(Node("tctoken", {}, *token));
    m.content = std::move(kids);
    return m;
  };
  ca.send(lid_dm("M1", b_lid, b.lid, std::nullopt));
  Node refused = ca.recv_tag("ack", 10000);
  CHECK(refused.attr_or("id", "") == "M1");
  CHECK(refused.attr_or("error", "") == "463");

  // A PN-addressed DM between migrated accounts: 463 too (--pn-dm-to-migrated 463).
  ca.send(text_to(b, "M2", Bytes{1}));
  CHECK(ca.recv_tag("ack", 10000).attr_or("error", "") == "463");

  // b trusts a: the token reaches a's device, not b's.
  Node issue("iq", {{"id", "p1"}, {"xmlns", "privacy"}, {"type", "set"}, {"to", "@s.whatsapp.net"}});
  issue.content = binary::Children{Node("tokens", {}, binary::Children{
      Node("token", {{"jid", a_lid}, {"t", std::to_string(std::time(nullptr))}, {"type", "trusted_contact"}})})};
  Node issued = ask(cb, issue);
  CHECK(issued.attr_or("type", "") == "result");
  CHECK_FALSE(issued.has_content());
  Node note = ca.recv_tag("notification", 10000);
  CHECK(note.attr_or("type", "") == "privacy_token");
  CHECK(note.attr_or("from", "") == "155712@s.whatsapp.net");
  CHECK(note.attr_or("sender_lid", "") == b_lid);
  const Node* token = note.child("tokens") ? note.child("tokens")->child("token") : nullptr;
  REQUIRE(token);
  REQUIRE(token->bytes());
  CHECK(token->attr_or("jid", "") == a_lid);
  ca.send(Node("ack", {{"class", "notification"}, {"id", std::string(note.attr_or("id", ""))}}));

  ca.send(lid_dm("M3", b_lid, b.lid, *token->bytes()));
  Node ok = ca.recv_tag("ack", 10000);
  CHECK(ok.attr_or("id", "") == "M3");
  CHECK_FALSE(ok.has_attr("error"));
  Node got = cb.recv_tag("message", 10000);
  CHECK(got.attr_or("id", "") == "M3");
  CHECK(got.attr_or("from", "") == a.lid);
  CHECK(got.attr_or("sender_pn", "") == "155711@s.whatsapp.net");
  // The conversation exists now: no token needed any more.
  ca.send(lid_dm("M4", b_lid, b.lid, std::nullopt));
  CHECK_FALSE(ca.recv_tag("ack", 10000).has_attr("error"));
}

TEST_CASE("pn mode: no client-props, privacy IQs 501, PN DMs delivered as before") {
  test::TempDir dir;
  Server s(dir.path());
  auto a = pair_device(s.env(), "155721");
  auto b = pair_device(s.env(), "155722");
  CHECK_FALSE(a.pair_success.child("client-props"));
  auto ca = login(s.env(), a);
  auto cb = login(s.env(), b);
  Node issue("iq", {{"id", "p1"}, {"xmlns", "privacy"}, {"type", "set"}, {"to", "@s.whatsapp.net"}});
  issue.content = binary::Children{Node("tokens", {}, binary::Children{
      Node("token", {{"jid", "155722@s.whatsapp.net"}, {"t", "1"}, {"type", "trusted_contact"}})})};
  Node r = ask(ca, issue);
  CHECK(r.attr_or("type", "") == "error");
  ca.send(text_to(b, "P1", Bytes{1}));
  CHECK_FALSE(ca.recv_tag("ack", 10000).has_attr("error"));
  Node got = cb.recv_tag("message", 10000);
  CHECK(got.attr_or("from", "") == a.jid);
  CHECK_FALSE(got.has_attr("sender_lid"));
}

TEST_CASE("lid mode: groups are lid groups listing jid=LID phone_number=PN, and new-lid tells the contacts") {
  test::TempDir dir;
  Server s(dir.path(), {"--addressing", "lid"});
  auto a = pair_device(s.env(), "155731");
  auto b = pair_device(s.env(), "155732");
  auto c = pair_device(s.env(), "155733");
  auto ca = login(s.env(), a);
  auto cb = login(s.env(), b);
  auto cc = login(s.env(), c);
  std::string b_lid = b.lid.substr(0, b.lid.find(':')) + "@lid";
  std::string c_lid = c.lid.substr(0, c.lid.find(':')) + "@lid";

  // Create with b by LID; add c by LID with its phone_number.
  Node create("iq", {{"id", "g1"}, {"xmlns", "w:g2"}, {"type", "set"}, {"to", "@g.us"}});
  create.content = binary::Children{Node("create", {{"subject", "lid"}}, binary::Children{Node("participant", {{"jid", b_lid}})})};
  Node created = ask(ca, create);
  const Node* g = created.child("group");
  REQUIRE(g);
  CHECK(g->attr_or("addressing_mode", "") == "lid");
  CHECK(g->attr_or("creator_pn", "") == "155731@s.whatsapp.net");
  bool listed = false;
  for (const auto& p : g->children())
    if (p.attr_or("jid", "") == b_lid) listed = p.attr_or("phone_number", "") == "155732@s.whatsapp.net";
  CHECK(listed);
  Node gnote = cb.recv_tag("notification", 10000);
  CHECK(gnote.attr_or("type", "") == "w:gp2");
  CHECK(gnote.attr_or("participant_pn", "") == "155731@s.whatsapp.net");
  REQUIRE(gnote.child("add"));
  CHECK(gnote.child("add")->child("participant")->attr_or("jid", "") == b_lid);
  cb.send(Node("ack", {{"class", "notification"}, {"id", std::string(gnote.attr_or("id", ""))}}));

  std::string gid = std::string(g->attr_or("id", "")) + "@g.us";
  Node add("iq", {{"id", "g2"}, {"xmlns", "w:g2"}, {"type", "set"}, {"to", gid}});
  add.content = binary::Children{Node("add", {}, binary::Children{
      Node("participant", {{"jid", c_lid}, {"phone_number", "155733@s.whatsapp.net"}})})};
  Node added = ask(ca, add);
  REQUIRE(added.child("add"));
  CHECK_FALSE(added.child("add")->child("participant")->has_attr("error"));
  CHECK(added.child("add")->child("participant")->attr_or("jid", "") == c_lid);

  // A group send with PN devices: 400, nothing delivered.
  Node pn_send("message", {{"id", "GM1"}, {"to", gid}, {"type", "text"}, {"addressing_mode", "lid"}});
  pn_send.content = binary::Children{Node("enc", {{"v", "2"}, {"type", "skmsg"}}, Bytes{1}),
                                     Node("participants", {}, binary::Children{Node("to", {{"jid", b.jid}}, binary::Children{
                                         Node("enc", {{"v", "2"}, {"type", "pkmsg"}}, Bytes{2})})})};
  ca.send(pn_send);
  Node ack400 = ca.recv_tag("ack", 10000);
  CHECK(ack400.attr_or("id", "") == "GM1");
  CHECK(ack400.attr_or("error", "") == "400");

  // A LID DM makes b a contact (b's device has the omit-pn fault: no
  // sender_pn); then a changes number: b hears old and new LID.
  s.fault(b.jid, "omit-pn");
  Node m("message", {{"id", "D1"}, {"to", b_lid}, {"type", "text"}});
  m.content = binary::Children{Node("participants", {}, binary::Children{Node("to", {{"jid", b.lid}}, binary::Children{
      Node("enc", {{"v", "2"}, {"type", "msg"}}, Bytes{3})})})};
  ca.send(m);
  CHECK_FALSE(ca.recv_tag("ack", 10000).has_attr("error"));
  Node got = cb.recv_tag("message", 10000);
  CHECK(got.attr_or("id", "") == "D1");
  CHECK(got.attr_or("from", "") == a.lid);
  CHECK_FALSE(got.has_attr("sender_pn"));
  cb.send(Node("receipt", {{"id", "D1"}, {"to", std::string(got.attr_or("from", ""))}}));
  auto r = s.admin({{"cmd", "new-lid"}, {"phone", "155731"}});
  REQUIRE_MESSAGE(r.value("ok", false), r.dump());
  Node contacts = cb.recv_tag("notification", 10000);
  while (contacts.attr_or("type", "") != "contacts") contacts = cb.recv_tag("notification", 10000);
  const Node* mod = contacts.child("modify");
  REQUIRE(mod);
  CHECK(mod->attr_or("old", "") == "155731@s.whatsapp.net");
  CHECK(mod->attr_or("old_lid", "") == r["result"].value("old_lid", "?"));
  CHECK(mod->attr_or("new_lid", "") == r["result"].value("lid", "?"));
  CHECK(r["result"].value("old_lid", "") != r["result"].value("lid", ""));
  (void)cc;
}
