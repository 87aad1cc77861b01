// Profile names come from operators and programs and become directory and
// socket names, so they are validated in one place before any use.
#pragma once

#include <string_view>

#include "wa/result.hpp"

namespace wa {

// 32 keeps every per-instance socket path inside sun_path (108 bytes)
// for run dirs up to 60 characters.
inline constexpr size_t kMaxProfileName = 32;

// [A-Za-z0-9][A-Za-z0-9_.-]{0,31}, and never "." or "..".
Status validate_profile_name(std::string_view name);

}  // namespace wa
