// The accounts created at run time (`start --create`, `wactl pair --create`),
// recorded in `data_dir/profiles.json` so they come back after a restart —
// their data is on disk, and a supervisor that forgot them would strand it.
// Accounts listed in the config file are never recorded here.
#pragma once

#include <set>
#include <string>

#include "wa/result.hpp"

namespace wa::supervisor {

class RuntimeProfiles {
 public:
  explicit RuntimeProfiles(std::string path) : path_(std::move(path)) {}
  // The recorded profiles (invalid names in a hand-edited file are skipped
  // with a warning; an unreadable file is an empty record, also warned).
  std::set<std::string> load();
  // Written atomically (0600) before the caller acts on it.
  Status add(const std::string& profile);
  Status remove(const std::string& profile);

 private:
  Status save();
  std::string path_;
  std::set<std::string> profiles_;
  bool loaded_ = false;
};

}  // namespace wa::supervisor
