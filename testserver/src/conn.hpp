// One client connection, as parts with their own owners: the websocket and
// Noise session (transport.cpp), the companion's registration and pairing in
// flight (login.cpp, pairing.cpp), the stanzas handed out and not yet
// answered with the offline backlog (relay.cpp), and the ack faults injected
// through the admin socket (faults.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routing.hpp"
#include "wa/binary/frame.hpp"
#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/ipc/rep_server.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/noise/handshake.hpp"

struct lws;

namespace wa::testserver {

inline constexpr size_t kMaxClientFrame = 4u << 20;  // a client stanza past 4 MB is abuse

// The websocket and its Noise session.
struct Link {
  lws* wsi = nullptr;
  binary::FrameSplitter splitter{binary::SplitterOptions{kMaxClientFrame, true, 4096}};
  std::optional<noise::NoiseResponder> hs;
  int hs_step = 0;  // 0: client hello next, 1: client finish next, 2: transport
  std::optional<noise::TransportCipher> tc;
  std::deque<Bytes> out;  // each with LWS_PRE headroom
  size_t out_bytes = 0;
  bool closing = false;
  // After a stream error the client gets a moment to read it and close
  // itself: a client that processes frames asynchronously (Baileys) may see
  // the socket close first and lose the reason.
  bool linger = false;
  std::unique_ptr<ipc::Timer> linger_timer;
};

// A new companion: its registration data from the ClientPayload, the QR refs
// it shows, and the pairing (QR or link code) in flight.
struct Pairing {
  bool registering = false;
  Bytes identity, skey_pub, skey_sig;
  uint32_t regid = 0, skey_id = 0;
  std::vector<std::string> refs;
  // pair-success sent, pair-device-sign awaited
  std::string iq_id;
  Bytes issued_details;
  std::string phone;
  uint16_t device = 0;
  uint32_t key_index = 0;
  std::shared_ptr<ipc::PendingRequest> admin;  // the scan/link-code request to answer
  // link-code pairing
  std::string link_phone;
  Bytes link_companion_eph;
  std::string link_ref;
  crypto::KeyPair link_primary_eph;
  std::string link_code;
};

// Stanzas that wait for the client's answer (receipt or ack): held in memory
// while the device is online and written to its offline queue when the
// connection ends, so a client that dies before answering gets them again at
// its next login (as the real server redelivers what was never
// acknowledged).
struct Held {
  std::string cls, id;
  binary::Node node;
  int64_t seq = 0;  // != 0: the stanza is still in the offline queue
  bool in_batch = false;
};

struct Outbox {
  std::list<Held> unacked;
  // The offline backlog: loaded at login, sent in the batches the client
  // asks for with <ib><offline_batch count=N/>; live stanzas that arrive
  // meanwhile wait behind it.
  bool draining = false;
  size_t batch_size = 0;  // 0: the client has not asked yet
  size_t batch_unacked = 0;
  size_t offline_total = 0;
  std::deque<Held> backlog;
  std::deque<Held> held_live;
  std::unique_ptr<ipc::Timer> batch_timer;
};

// Injected through the admin socket (`fault drop-acks|delay-acks|clear`).
struct AckFaults {
  uint32_t drop = 0;
  uint32_t delay = 0;
  uint32_t delay_ms = 0;
};

struct Conn {
  uint64_t id = 0;
  Link link;
  bool authed = false;
  DeviceAddr addr;  // once authed
  std::string push_name;
  Pairing pairing;
  Outbox outbox;
  AckFaults faults;
};

}  // namespace wa::testserver
