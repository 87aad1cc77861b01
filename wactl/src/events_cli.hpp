// `wactl events`: prints events as JSON Lines. With --since SEQ (one
// profile) it first replays the profile's event log after SEQ through the
// control socket, then follows the live stream — each event exactly once
// and in seq order, even if the live stream dropped some (PUB/SUB does under
// load) or delivered two producers' events out of order: a live event that
// skips ahead makes it read the gap from the log first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace wactl {

struct EventsOptions {
  std::string control_url;
  std::string events_url;
  std::string profile;           // empty: every profile (live only)
  std::optional<int64_t> since;  // replay after this seq
  bool follow = true;            // keep following after the replay
  int64_t max_events = 0;        // stop after printing this many (0 = never)
  int request_timeout_ms = 10000;
};

// Exit codes: 0 done (--no-follow or the count reached), 1 failure,
// 2 refused by the supervisor.
int run_events(const EventsOptions& o);

}  // namespace wactl
