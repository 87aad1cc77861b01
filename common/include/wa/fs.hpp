// File-system helpers with the project's permission rules built in.
#pragma once

#include <span>
#include <string>

#include "wa/result.hpp"

namespace wa::fs {

// mkdir -p, then force mode 0700 on the last component (run and data dirs
// hold keys and sockets). Fails if the path exists and is not a directory or
// is owned by another user.
Status ensure_private_dir(const std::string& path);
// Opens a directory of ours to one group: 0750, owned by `gid` (the run dir,
// for the operator group; everything below it stays private).
Status share_dir_with_group(const std::string& path, unsigned gid);

// Exclusive, non-blocking advisory lock on `path` (created 0600), held until
// the returned fd is closed or the process dies.
Result<int> lock_file(const std::string& path);

// Write `data` to `path` atomically (temp file in the same dir + rename), mode 0600.
Status write_file_atomic(const std::string& path, std::string_view data);
Result<std::string> read_file(const std::string& path, size_t max_size);

// The canonical form of `path` (symbolic links and .. resolved) when it lies
// below one of `roots` (themselves resolved). For a path that must exist
// (must_exist); otherwise its directory must exist and the last component is
// kept. Errors: path_not_allowed, file_error (missing, unreadable).
Result<std::string> resolve_under(const std::string& path, std::span<const std::string> roots, bool must_exist);

}  // namespace wa::fs
