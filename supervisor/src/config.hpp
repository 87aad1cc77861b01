// wa-supervisor's configuration file (JSON). Every key but `instances` has
// a default; unknown keys and bad values are errors that name the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wa/result.hpp"

namespace wa::supervisor {

// The real WhatsApp root key: the production default.
inline constexpr const char* kWhatsAppRootKey =
    "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b";
inline constexpr const char* kWhatsAppUrl = "wss://web.whatsapp.com/ws/chat";

struct RestartPolicy {
  int intensity = 5;        // more than this many restarts ...
  int period_s = 60;        // ... within this window -> failed
  int backoff_min_ms = 500;
  int backoff_max_ms = 30000;
};

struct SenderPolicy {
  int max_per_instance = 8;
  int idle_ms = 60000;
};

struct ServerConfig {
  std::string url = kWhatsAppUrl;
  std::string root_public_key = kWhatsAppRootKey;  // 64 hex chars
};

struct InstanceConfig {
  std::string profile;
  bool autostart = true;
};

struct Config {
  std::string run_dir;
  std::string data_dir;
  ServerConfig server;
  RestartPolicy restart;
  SenderPolicy senders;
  int shutdown_timeout_ms = 5000;
  std::vector<InstanceConfig> instances;

  // What a connection worker needs to know (sent on its link at start).
  nlohmann::json worker_settings() const;
};

Result<Config> parse_config(std::string_view text);
Result<Config> load_config(const std::string& path);
std::string default_data_dir();

}  // namespace wa::supervisor
