// What one account's connection needs to know about the server it talks to
// and how it presents itself: the worker's share of the contract's settings
// (wa/contract/settings.hpp), plus the connection's own timing.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "wa/contract/settings.hpp"
#include "wa/crypto/crypto.hpp"

namespace wa::connection {

struct ClientSettings {
  std::string url{contract::kWhatsAppUrl};
  crypto::Key32 root_public = noise::kWaRootPublicKey;
  contract::WaVersion version = contract::kDefaultWaVersion;
  std::string browser_os = "Mac OS";
  std::string browser_name = "Chrome";
  std::string browser_version = "14.4.1";
  std::string data_dir;
  // The profile's store (wa/store/open.hpp): a SQLite path under data_dir
  // or the PostgreSQL store under this start's fencing token.
  std::string store;
  std::string push_name;

  // Keepalive (keepalive.hpp): a ping on the first turn after min ms, at the
  // latest after max ms + a tenth of the window; a reply due within deadline.
  uint64_t ping_min_ms = 20000;
  uint64_t ping_max_ms = 30000;
  uint64_t ping_deadline_ms = 10000;
  uint64_t iq_timeout_ms = 60000;
  uint64_t connect_timeout_ms = 20000;  // socket open + noise handshake
};

// The connection's settings from the ones the supervisor sent in `init`.
ClientSettings client_settings(const contract::WorkerSettings& settings);

}  // namespace wa::connection
