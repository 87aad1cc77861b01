// `wactl pair PROFILE`: starts the instance if needed and shows the pairing
// QR (refreshed on each rotation) or, with --phone, the 8-character code,
// until the account is linked (a `connection` event with state open).
#pragma once

#include <string>

namespace wactl {

struct PairOptions {
  std::string control_url;
  std::string events_url;
  std::string profile;
  std::string phone;     // digits: code pairing instead of QR
  std::string png_path;  // write the QR here instead of the terminal
  bool invert = false;
  bool create = false;   // create the profile when the config does not list it
  int timeout_s = 300;
  int request_timeout_ms = 10000;
};

// A profile is never created unless `create`; an account that is already
// linked is answered `already_paired` at once; one that is running unlinked
// is restarted so a fresh QR shows at once (not at the next rotation).
// Exit codes: 0 linked, 1 failure, 2 refused by the supervisor/worker,
// 4 timed out, 5 the account was logged out / replaced / refused.
int run_pair(const PairOptions& o);

}  // namespace wactl
