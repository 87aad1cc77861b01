// The ClientPayload sent (encrypted) in the Noise ClientFinish: registration
// for a new companion, login for a paired one (docs/PROTOCOL.md §5.1 step 1, §5.3).
#pragma once

#include <string>

#include "credentials.hpp"
#include "settings.hpp"
#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::connection {

Bytes registration_payload(const ClientSettings& settings, const Credentials& creds);
// Fails when the stored JID cannot be read back (a corrupt store).
Result<Bytes> login_payload(const ClientSettings& settings, const Credentials& creds);

// The companion type id shown after the last comma of the QR string and sent
// as companion_platform_id ("1" Chrome, "7" Electron, "9" other web client).
std::string companion_platform_id(const ClientSettings& settings);

}  // namespace wa::connection
