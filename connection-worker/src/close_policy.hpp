// What to do when the server ends a connection, and how long to wait before
// a socket-level retry (docs/PROTOCOL.md §6.5). Pure functions: the decisions
// are unit-tested one by one.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "wa/binary/node.hpp"

namespace wa::connection {

enum class CloseAction {
  reconnect_now,      // 515 restart required (after pairing): login at once
  reconnect_backoff,  // 503, network loss, keepalive timeout, malformed stream
  logged_out,         // 401 / device_removed: credentials are void, stay down
  replaced,           // another connection took over: stay disconnected
  client_outdated,    // 405: this version is refused; retrying cannot help
};

struct CloseDecision {
  CloseAction action = CloseAction::reconnect_backoff;
  std::string reason;  // stable, for events ("stream_error_515", "device_removed", ...)
};

// <stream:error code=... [conflict type=...]> from the server.
CloseDecision classify_stream_error(const binary::Node& node);
// <failure reason=...> in answer to the login.
CloseDecision classify_failure(const binary::Node& node);
const char* to_string(CloseAction a);

// Socket-level retry delays: about 1, 2, 5, 10, 20 s, then 20 s, each with
// +-20 % jitter so that many accounts never reconnect in lockstep. Reset only
// after a successful login (a server that accepts the socket but refuses the
// login must not be hammered).
class Backoff {
 public:
  explicit Backoff(uint64_t scale_ms = 1000);
  uint64_t next_ms();
  void reset() noexcept { attempt_ = 0; }
  unsigned attempt() const noexcept { return attempt_; }

 private:
  uint64_t scale_ms_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace wa::connection
