// Validation of control requests. A request is a JSON object
// {"cmd": ..., ...}; every field is checked (type, size, no unknown keys)
// before anything acts on it, so bad input always gets a clear error.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "wa/ipc/addresses.hpp"
#include "wa/result.hpp"

namespace wa::supervisor {

inline constexpr size_t kMaxRequestBytes = ipc::kControlRequestMax;
inline constexpr size_t kMaxTextBytes = 65536;
inline constexpr size_t kMaxClientId = 128;
inline constexpr size_t kMaxJid = 128;
inline constexpr size_t kMaxSubject = 100;        // group subject, bytes (the server's limit)
inline constexpr size_t kMaxParticipants = 1024;  // JIDs per group command
inline constexpr size_t kMaxReadIds = 256;        // message ids per read receipt
inline constexpr size_t kMaxReplayLimit = 1000;  // events per `events` reply

// Returns the command name when the request is well-formed.
Result<std::string> validate_request(const nlohmann::json& req);
// Shape check of a JID given by a user: user@server with a known server.
Status validate_user_jid(const std::string& jid);

}  // namespace wa::supervisor
