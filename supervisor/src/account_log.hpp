// Reading an account's own log (contract::account_log_path) for the `logs`
// command: the last lines, or what was written after an offset. Whole lines
// only, at most kMaxLogChunk bytes a reply, and a file that was rotated
// since the offset is read again from its start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wa/result.hpp"

namespace wa::supervisor {

inline constexpr size_t kMaxLogChunk = 256 * 1024;

struct LogRead {
  std::vector<std::string> lines;
  uint64_t offset = 0;  // where the next read starts (pass it back as `offset`)
};

// `offset` unset: the last `lines` lines (reaching into `path.1` if the
// current file has fewer). A missing file is empty, not an error.
Result<LogRead> read_account_log(const std::string& path, std::optional<uint64_t> offset, size_t lines);

}  // namespace wa::supervisor
