// A small WhatsApp Web client for driving wa-testserver from C++ (the load
// bench and the process tests): blocking, one websocket per connection,
// built on wa_noise + wa_binary. Every device is paired the way a real
// companion is (registration payload, `scan` through the admin socket,
// pair-device-sign, 515), so its users exercise the real code paths.
// Failures throw std::runtime_error (test/bench code only).
#pragma once

#include <optional>
#include <vector>
#include <string>

#include "wa/binary/frame.hpp"
#include "wa/binary/node.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/noise/cert.hpp"
#include "wa/noise/transport.hpp"
#include "ws_client.hpp"

namespace wa::loadclient {

struct Env {
  std::string dir;  // server state dir (port, root.pub, admin.sock)
  int port = 0;
  noise::CertPolicy policy;
  static Env from_state_dir(const std::string& dir);
};

struct Creds {
  std::string phone;
  uint16_t device = 0;
  crypto::KeyPair noise;
  std::string jid;
  // The Signal identity registered at pairing (benches that encrypt as
  // this device need it) and its registration id.
  crypto::KeyPair identity;
  uint32_t registration_id = 1234;
  std::string lid;            // the device's LID JID from pair-success
  binary::Node pair_success;  // as received (tests read <client-props>)
};

class WaConn {
 public:
  WaConn(bench::WsClient ws, noise::TransportCipher tc, binary::FrameSplitter sp)
      : ws_(std::move(ws)), tc_(std::move(tc)), splitter_(std::move(sp)) {}
  void send(const binary::Node& n);
  binary::Node recv(int timeout_ms = 30000);
  binary::Node recv_tag(const std::string& tag, int timeout_ms = 30000);
  bench::WsClient& ws() { return ws_; }

 private:
  bench::WsClient ws_;
  noise::TransportCipher tc_;
  binary::FrameSplitter splitter_;
};

Creds pair_device(const Env& env, const std::string& phone);
// Logs in and reads <success> and the offline batch up to <ib><offline/>,
// asking for the queue in batches of `batch` as Baileys does (100). With
// batch == 0 it returns right after <ib><offline_preview/> (the caller asks).
// On <failure> throws with the reason in the message ("failure:REASON").
WaConn login(const Env& env, const Creds& creds, std::vector<binary::Node>* offline = nullptr, int batch = 100);
binary::Node text_to(const Creds& to, const std::string& id, const Bytes& body);

}  // namespace wa::loadclient
