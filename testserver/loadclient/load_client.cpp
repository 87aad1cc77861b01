#include "load_client.hpp"

#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "wa/binary/codec.hpp"
#include "wa/binary/jid.hpp"
#include "wa/ipc/client.hpp"
#include "wa/noise/handshake.hpp"
#include "wa/proto/adv.pb.h"
#include "wa/proto/client_payload.pb.h"

namespace wa::loadclient {

using binary::Node;

namespace {

[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what); }

template <class T>
T must(Result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().code + " " + r.error().message);
  return std::move(r).value();
}
void must(Status s, const char* what) {
  if (!s) die(std::string(what) + ": " + s.error().code + " " + s.error().message);
}

uint64_t now_unix() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

Bytes next_frame(bench::WsClient& ws, binary::FrameSplitter& sp, int timeout_ms) {
  for (;;) {
    auto f = must(sp.next(), "framing");
    if (f) return std::move(*f);
    sp.feed(must(ws.recv(timeout_ms), "recv"));
  }
}

WaConn open(const Env& env, const crypto::KeyPair& key, const proto::ClientPayload& payload) {
  binary::FrameSplitter sp;
  auto ws = must(bench::WsClient::connect("127.0.0.1", env.port, "/ws/chat"), "connect");
  noise::NoiseInitiator hs(key, env.policy);
  Bytes first(binary::kIntroHeader.begin(), binary::kIntroHeader.end());
  must(binary::append_frame(first, must(hs.write_client_hello(), "hello")), "frame");
  must(ws.send(first), "send hello");
  Bytes frame = next_frame(ws, sp, 30000);
  must(hs.read_server_hello(frame, now_unix()), "server hello");
  std::string p = payload.SerializeAsString();
  auto fin = must(hs.write_client_finish(as_bytes(p)), "finish");
  must(ws.send(must(binary::make_frame(fin), "frame")), "send finish");
  return WaConn(std::move(ws), must(hs.split(), "split"), std::move(sp));
}

proto::ClientPayload base_payload() {
  proto::ClientPayload p;
  auto* ua = p.mutable_useragent();
  ua->set_platform(proto::ClientPayload::UserAgent::WEB);
  ua->mutable_appversion()->set_primary(2);
  ua->mutable_appversion()->set_secondary(3000);
  ua->mutable_appversion()->set_tertiary(1);
  p.set_connecttype(proto::ClientPayload::WIFI_UNKNOWN);
  p.set_connectreason(proto::ClientPayload::USER_ACTIVATED);
  return p;
}

Bytes be(uint32_t v, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

std::string str(ByteView b) { return std::string(as_chars(b)); }

}  // namespace

Env Env::from_state_dir(const std::string& dir) {
  Env env;
  env.dir = dir;
  env.port = std::atoi(read_text(dir + "/port").c_str());
  auto root = from_hex(read_text(dir + "/root.pub"));
  if (!root || root->size() != 32 || env.port <= 0) die("bad port/root.pub in " + dir);
  std::memcpy(env.policy.root_public.data(), root->data(), 32);
  return env;
}

void WaConn::send(const Node& n) {
  auto enc = must(tc_.encrypt(must(binary::encode_frame_payload(n), "encode")), "encrypt");
  must(ws_.send(must(binary::make_frame(enc), "frame")), "send");
}

Node WaConn::recv(int timeout_ms) {
  Bytes f = next_frame(ws_, splitter_, timeout_ms);
  return must(binary::decode_frame_payload(must(tc_.decrypt(f), "decrypt")), "decode");
}

Node WaConn::recv_tag(const std::string& tag, int timeout_ms) {
  for (;;) {
    Node n = recv(timeout_ms);
    if (n.tag == tag) return n;
  }
}

Creds pair_device(const Env& env, const std::string& phone) {
  Creds creds;
  creds.phone = phone;
  creds.noise = crypto::generate_keypair();
  auto ident = crypto::generate_keypair();
  auto spk = crypto::generate_keypair();
  auto adv = crypto::random_bytes(32);
  Bytes sm{5};
  sm.insert(sm.end(), spk.pub.begin(), spk.pub.end());
  auto spk_sig = crypto::xeddsa_sign(ident.priv, sm);
  auto p = base_payload();
  auto* d = p.mutable_devicepairingdata();
  d->set_eregid(str(be(creds.registration_id, 4)));
  d->set_ekeytype(std::string(1, '\x05'));
  d->set_eident(str(ident.pub));
  d->set_eskeyid(str(be(1, 3)));
  d->set_eskeyval(str(spk.pub));
  d->set_eskeysig(str(spk_sig));

  WaConn c = open(env, creds.noise, p);
  Node iq = c.recv_tag("iq");
  const Node* pd = iq.child("pair-device");
  if (!pd || pd->children().empty()) die("no pair-device refs");
  c.send(Node("iq", {{"to", "@s.whatsapp.net"}, {"type", "result"}, {"id", std::string(iq.attr_or("id", ""))}}));
  std::string ref(pd->children()[0].content_chars().value_or(""));
  std::string qr = ref + "," + to_base64(creds.noise.pub) + "," + to_base64(ident.pub) + "," + to_base64(adv) + ",1";

  // `scan` answers only after our pair-device-sign: run it beside us.
  std::string scan_error;
  std::thread scanner([&] {
    auto cl = ipc::ControlClient::connect("ipc://" + env.dir + "/admin.sock", 30000);
    if (!cl) {
      scan_error = cl.error().message;
      return;
    }
    auto r = cl->request({{"cmd", "scan"}, {"phone", phone}, {"qr", qr}});
    if (!r || !r->value("ok", false)) scan_error = r ? r->dump() : r.error().message;
  });
  Node ps;
  try {
    ps = c.recv_tag("iq");
  } catch (...) {
    scanner.join();
    throw;
  }
  const Node* success = ps.child("pair-success");
  const Node* di = success ? success->child("device-identity") : nullptr;
  if (!di || !di->bytes()) {
    scanner.join();
    die("expected pair-success");
  }
  proto::ADVSignedDeviceIdentityHMAC container;
  container.ParseFromArray(di->bytes()->data(), static_cast<int>(di->bytes()->size()));
  proto::ADVSignedDeviceIdentity sid;
  sid.ParseFromString(container.details());
  Bytes msg{6, 1};
  msg.insert(msg.end(), sid.details().begin(), sid.details().end());
  msg.insert(msg.end(), ident.pub.begin(), ident.pub.end());
  msg.insert(msg.end(), sid.accountsignaturekey().begin(), sid.accountsignaturekey().end());
  auto dsig = crypto::xeddsa_sign(ident.priv, msg);
  sid.set_devicesignature(str(dsig));
  sid.clear_accountsignaturekey();
  std::string signed_bytes = sid.SerializeAsString();
  Node reply("iq", {{"to", "@s.whatsapp.net"}, {"type", "result"}, {"id", std::string(ps.attr_or("id", ""))}});
  reply.content = binary::Children{Node("pair-device-sign", {}, binary::Children{
      Node("device-identity", {{"key-index", "1"}}, to_bytes(signed_bytes))})};
  c.send(reply);
  Node se;
  try {
    se = c.recv_tag("stream:error");
  } catch (...) {
    scanner.join();
    throw;
  }
  scanner.join();
  if (!scan_error.empty()) die("scan: " + scan_error);
  if (se.attr_or("code", "") != "515") die("expected 515");
  creds.identity = ident;
  creds.jid = std::string(success->child("device")->attr_or("jid", ""));
  creds.device = must(binary::Jid::parse(creds.jid), "device jid").device;
  creds.lid = std::string(success->child("device")->attr_or("lid", ""));
  creds.pair_success = *success;
  return creds;
}

WaConn login(const Env& env, const Creds& creds, std::vector<Node>* offline, int batch) {
  auto p = base_payload();
  p.set_username(std::stoull(creds.phone));
  p.set_device(creds.device);
  p.set_passive(true);
  p.set_pull(true);
  WaConn c = open(env, creds.noise, p);
  Node first = c.recv();
  if (first.tag == "failure") die("failure:" + std::string(first.attr_or("reason", "")));
  if (first.tag != "success") die("login: unexpected " + first.tag);
  bool preview = false;
  for (;;) {  // offline_preview, queued stanzas, offline
    Node n = c.recv();
    if (n.tag == "ib" && n.child("offline_preview")) {
      preview = true;
      if (batch == 0) break;
      // As Baileys does; the server would otherwise wait a moment for it.
      c.send(Node("ib", {}, binary::Children{Node("offline_batch", {{"count", std::to_string(batch)}})}));
    } else if (n.tag == "ib" && n.child("offline")) {
      break;
    } else if (offline) {
      if (!preview) die("queued stanza before offline_preview");
      offline->push_back(std::move(n));
    }
  }
  return c;
}

Node text_to(const Creds& to, const std::string& id, const Bytes& body) {
  Node m("message", {{"id", id}, {"to", to.phone + "@s.whatsapp.net"}, {"type", "text"}});
  m.content = binary::Children{Node("participants", {}, binary::Children{
      Node("to", {{"jid", to.jid}}, binary::Children{Node("enc", {{"v", "2"}, {"type", "msg"}}, body)})})};
  return m;
}

}  // namespace wa::loadclient
