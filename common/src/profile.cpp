#include "wa/profile.hpp"

#include <string>

namespace wa {

Status validate_profile_name(std::string_view name) {
  if (name.empty()) return fail("invalid_profile", "profile name is empty");
  if (name.size() > kMaxProfileName)
    return fail("invalid_profile", "profile name longer than " + std::to_string(kMaxProfileName) + " characters");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0]))
    return fail("invalid_profile", "profile name must start with a letter or digit");
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '-' && c != '.')
      return fail("invalid_profile", "profile name may only contain letters, digits, '_', '-', '.'");
  }
  return {};
}

}  // namespace wa
