// wa-supervisor's configuration file (JSON). Every key but `instances` has
// a default; unknown keys and bad values are errors that name the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wa/contract/settings.hpp"
#include "wa/result.hpp"
#include "webhooks.hpp"

namespace wa::supervisor {

// The policies and the server settings are the contract's types: the
// worker reads the same structs back from its `init` (wa/contract/settings.hpp).
using contract::BrowserIdentity;
using contract::EventRetention;
using contract::LivenessPolicy;
using contract::RestartPolicy;
using contract::SenderPolicy;
using contract::StartPolicy;
using ServerConfig = contract::ServerSettings;

struct InstanceConfig {
  std::string profile;
  bool autostart = true;
  // Per-instance server settings: the top-level `server` with this
  // instance's keys laid over it.
  ServerConfig server;
  // Per-instance media policy: the top-level `media`, or this instance's
  // own `media` object in its place (keys it leaves out take the defaults).
  contract::MediaPolicy media;
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
  StartPolicy start;
  SenderPolicy senders;
  LivenessPolicy liveness;
  EventRetention events;
  contract::MediaPolicy media;
  contract::StoreSettings store;      // token unset here: per start (Instance)
  contract::ClusterSettings cluster;  // used with store.engine "postgres"
  int shutdown_timeout_ms = 5000;
  std::vector<InstanceConfig> instances;
  WebhooksConfig webhooks;  // validated here, delivered by wa-webhooks

  // What this profile's connection worker runs with (sent in its `init`):
  // its own server settings (the top level with its keys laid over).
  contract::WorkerSettings worker_settings(const std::string& profile) const;
};

Result<Config> parse_config(std::string_view text);
Result<Config> load_config(const std::string& path);
std::string default_data_dir();
std::string default_host_id();

}  // namespace wa::supervisor
