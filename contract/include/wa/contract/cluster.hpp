// The NATS subjects hosts of one cluster talk on (docs/ARCHITECTURE.md,
// "Cluster"). Defined once: the supervisor and any outside consumer that
// follows a profile's live events use these names.
//
//   <prefix>.host.<host>.cmd   request/reply: a control request for a profile
//                              that host owns; the reply is the control reply
//   <prefix>.ev.<profile>      every event of the profile, the same JSON line
//                              the local event socket carries ("<profile> {...}")
//
// Profile names and host ids may contain '.', NATS's token separator; it is
// written '~' in a subject (neither may contain '~', so the mapping is 1:1).
#pragma once

#include <string>
#include <string_view>

namespace wa::contract {

inline std::string subject_token(std::string_view name) {
  std::string out(name);
  for (char& c : out)
    if (c == '.') c = '~';
  return out;
}

inline std::string cluster_command_subject(std::string_view prefix, std::string_view host) {
  return std::string(prefix) + ".host." + subject_token(host) + ".cmd";
}

inline std::string cluster_event_subject(std::string_view prefix, std::string_view profile) {
  return std::string(prefix) + ".ev." + subject_token(profile);
}

inline std::string cluster_event_wildcard(std::string_view prefix) { return std::string(prefix) + ".ev.>"; }

}  // namespace wa::contract
