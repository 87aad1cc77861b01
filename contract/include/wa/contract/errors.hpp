// The error codes a control reply, an event or a link message can carry,
// with the category every caller decides by. This is the one place a code's
// meaning is written down: code that asks "is this a store failure?" or "may
// the client retry?" asks here, never compares strings of its own.
// docs/CONTROL.md's error table is rendered from this list (a test keeps the
// two equal).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace wa::contract {

enum class ErrorKind {
  request,   // the request is wrong: fix it, retrying it unchanged fails again
  state,     // the account or supervisor is not in a state to do it now
  store,     // the profile's database failed (disk, I/O, lock, damage)
  remote,    // the server or a peer refused or did not answer
  outcome,   // it may or may not have happened (unknown_outcome)
  internal,  // a process of the tree failed
};

struct ErrorSpec {
  std::string_view code;  // a family such as "rejected:" ends with ':' and matches "rejected:<n>"
  ErrorKind kind;
  bool retryable;  // the same request may succeed later without change
  std::string_view meaning;
};

std::span<const ErrorSpec> error_codes();
// The entry for `code` (a family entry for "rejected:479"), or nullptr.
const ErrorSpec* find_error(std::string_view code);
std::string_view kind_name(ErrorKind kind);

// A failure of the profile's store: disk full, I/O error, damaged file, the
// write lock held past its deadline, a transaction that could not be undone.
bool is_store_error(std::string_view code);
// The file is damaged (SQLITE_CORRUPT / NOTADB): the account must stop.
bool is_store_corrupt(std::string_view code);
bool is_retryable(std::string_view code);

// Codes used by name in code paths (the rest are only produced and shown).
namespace err {
inline constexpr std::string_view kBadRequest = "bad_request";
inline constexpr std::string_view kTimeout = "timeout";
inline constexpr std::string_view kUnknownOutcome = "unknown_outcome";
inline constexpr std::string_view kInstanceDown = "instance_down";
inline constexpr std::string_view kNotConnected = "not_connected";
inline constexpr std::string_view kUnknownCommand = "unknown_command";
inline constexpr std::string_view kStoreCorrupt = "db_corrupt";
}  // namespace err

}  // namespace wa::contract
