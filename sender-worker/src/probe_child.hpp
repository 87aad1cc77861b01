// Runs wa-probe (beside this binary) on an open file and reads its answer.
#pragma once

#include <chrono>
#include <optional>

#include "wa/media/media.hpp"

namespace wa::sender {

// How long a probe may take before it is killed (unsupported_media).
inline constexpr std::chrono::seconds kProbeTimeout{90};

// `fd` is handed to the child as its fd 3 (the file we checked, not a path
// that could be swapped). Errors: unsupported_media, file_error.
Result<media::Probe> probe_in_child(int fd, std::optional<media::Kind> forced);

}  // namespace wa::sender
