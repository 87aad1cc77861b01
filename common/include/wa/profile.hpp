// Profile names come from operators and programs and become directory and
// socket names, so they are validated in one place before any use.
#pragma once

#include <string_view>

#include "wa/result.hpp"

namespace wa {

inline constexpr size_t kMaxProfileName = 64;

// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, and never "." or "..".
Status validate_profile_name(std::string_view name);

}  // namespace wa
