// wa-http's settings: the `http` section of the supervisor's config file
// (plus run_dir and media.allowed_roots, which it shares). Validated here;
// the supervisor only accepts the key.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "wa/contract/commands.hpp"
#include "wa/result.hpp"

namespace wa::http {

struct Token {
  std::string name;
  std::array<uint8_t, 32> sha256{};  // of the token; the token itself is never stored
  contract::Access scope = contract::Access::read;
  bool all_profiles = false;
  std::set<std::string> profiles;
  bool may_see(const std::string& profile) const { return all_profiles || profiles.count(profile) != 0; }
  bool allows(contract::Access need) const { return static_cast<int>(scope) >= static_cast<int>(need); }
};

struct HttpConfig {
  std::string run_dir;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string tls_cert, tls_key;  // both or neither
  std::vector<Token> tokens;
  uint64_t max_body_bytes = 1u << 20;
  uint64_t upload_max_bytes = 100u << 20;
  double rate_per_s = 50;
  double rate_burst = 100;
  std::string upload_dir;  // empty: uploads refused
  std::string dashboard_dir;  // empty: beside the binary (installed or build tree)
  bool metrics_open = false;
  int max_ws_clients = 256;
  std::vector<std::string> allowed_roots;  // media.allowed_roots
};

// The whole config file's text. bad_config naming the field on error.
Result<HttpConfig> parse_http_config(std::string_view text);

// "<64 hex>" → digest.
std::optional<std::array<uint8_t, 32>> parse_sha256_hex(std::string_view hex);
std::string hex(const uint8_t* p, size_t n);

}  // namespace wa::http
