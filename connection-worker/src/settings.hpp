// What one account's connection needs to know about the server it talks to
// and how it presents itself, decoded from the supervisor's `init` settings.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"

namespace wa::connection {

struct ClientSettings {
  std::string url = "wss://web.whatsapp.com/ws/chat";
  crypto::Key32 root_public{};  // defaults to WhatsApp's root (see from_json)
  std::array<uint32_t, 3> version{2, 3000, 1043857760};
  std::string browser_os = "Mac OS";
  std::string browser_name = "Chrome";
  std::string browser_version = "14.4.1";
  std::string data_dir;
  std::string push_name;

  // Keepalive: ping every [min, max] ms (random), a reply due within deadline.
  uint64_t ping_min_ms = 20000;
  uint64_t ping_max_ms = 30000;
  uint64_t ping_deadline_ms = 10000;
  uint64_t iq_timeout_ms = 60000;
  uint64_t connect_timeout_ms = 20000;  // socket open + noise handshake
};

// `settings` is the init message's settings object; `profile` picks this
// instance's server overrides. Missing keys keep the defaults above.
Result<ClientSettings> settings_from_json(const nlohmann::json& settings, const std::string& profile);

// "A.B.C" -> {A, B, C}.
Result<std::array<uint32_t, 3>> parse_version(std::string_view text);

}  // namespace wa::connection
