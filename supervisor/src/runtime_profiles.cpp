#include "runtime_profiles.hpp"

#include <sys/stat.h>

#include "wa/fs.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"
#include "wa/profile.hpp"

namespace wa::supervisor {

using json = nlohmann::json;

std::set<std::string> RuntimeProfiles::load() {
  loaded_ = true;
  profiles_.clear();
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return profiles_;  // none recorded yet
  auto text = fs::read_file(path_, 1 << 20);
  if (!text) {
    WA_WARN("cannot read %s: %s", path_.c_str(), text.error().message.c_str());
    return profiles_;
  }
  auto doc = ipc::parse_json_text(as_bytes(*text));
  if (!doc || !doc->is_object() || !doc->contains("profiles") || !(*doc)["profiles"].is_array()) {
    WA_WARN("%s is not a profile record; ignoring it", path_.c_str());
    return profiles_;
  }
  for (const auto& p : (*doc)["profiles"]) {
    if (!p.is_string() || !validate_profile_name(p.get<std::string>())) {
      WA_WARN("%s: skipping an invalid profile name", path_.c_str());
      continue;
    }
    profiles_.insert(p.get<std::string>());
  }
  return profiles_;
}

Status RuntimeProfiles::add(const std::string& profile) {
  if (!loaded_) load();
  if (!profiles_.insert(profile).second) return {};
  if (auto st = save(); !st) {
    profiles_.erase(profile);
    return st;
  }
  return {};
}

Status RuntimeProfiles::remove(const std::string& profile) {
  if (!loaded_) load();
  if (profiles_.erase(profile) == 0) return {};
  return save();
}

Status RuntimeProfiles::save() {
  json doc{{"profiles", json::array()}};
  for (const auto& p : profiles_) doc["profiles"].push_back(p);
  return fs::write_file_atomic(path_, doc.dump(2) + "\n");
}

}  // namespace wa::supervisor
