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

// The profile's event log (the inbox): how long replay can reach back.
struct EventRetention {
  int retention_days = 30;
  int max_per_profile = 100000;
};

struct SenderPolicy {
  int max_per_instance = 8;
  int idle_ms = 60000;
  // A send without the server's ack by then fails `timeout`.
  int ack_timeout_ms = 30000;
};

// Liveness on every link: a worker that stops answering is killed and
// restarted as if it had crashed. The timeouts sit above the store's
// worst-case busy wait (5 retries x 2 s), which blocks a worker's loop
// legitimately.
struct LivenessPolicy {
  int interval_ms = 5000;        // supervisor -> connection worker ping
  int timeout_ms = 20000;        // no pong (or, for a sender, no request back) for this long
  int ready_timeout_ms = 30000;  // fork -> `ready`
};

// Pinned like Baileys 7.0.0-rc14: a version the server still accepts. A too
// old one is refused with <failure reason="405"> (event client_outdated), so
// it is configurable without a rebuild.
inline constexpr const char* kDefaultWaVersion = "2.3000.1043857760";

// How the companion presents itself: [os, browser, browser version], as in
// Baileys' `browser` triple. Shown to the user in the phone's device list.
struct BrowserIdentity {
  std::string os = "Mac OS";
  std::string name = "Chrome";
  std::string version = "14.4.1";
};

struct ServerConfig {
  std::string url = kWhatsAppUrl;
  std::string root_public_key = kWhatsAppRootKey;  // 64 hex chars
  std::string wa_version = kDefaultWaVersion;      // "primary.secondary.tertiary"
  BrowserIdentity browser;
};

struct InstanceConfig {
  std::string profile;
  bool autostart = true;
  // Per-instance server settings: the top-level `server` with this
  // instance's keys laid over it.
  ServerConfig server;
  bool server_overridden = false;
};

struct Config {
  std::string run_dir;
  std::string data_dir;
  // Members of this group may use the control and event sockets (the run
  // dir becomes 0750 and the sockets 0660 in it). Empty: our uid only.
  std::string operator_group;
  // The level every process of the tree logs at (changed at run time with
  // the `log_level` command; -v on the command line means debug).
  std::string log_level = "info";
  unsigned operator_gid = 0;
  ServerConfig server;
  RestartPolicy restart;
  SenderPolicy senders;
  LivenessPolicy liveness;
  EventRetention events;
  int shutdown_timeout_ms = 5000;
  std::vector<InstanceConfig> instances;

  // What a connection worker needs to know (sent on its link at start).
  // `server` holds the defaults; `instance_server` maps each profile with its
  // own server settings to the merged result (the worker picks its own).
  nlohmann::json worker_settings() const;
};

Result<Config> parse_config(std::string_view text);
// True for "A.B.C" with each part a decimal uint32 (the WA app version).
bool parse_wa_version(std::string_view v);
Result<Config> load_config(const std::string& path);
std::string default_data_dir();

}  // namespace wa::supervisor
