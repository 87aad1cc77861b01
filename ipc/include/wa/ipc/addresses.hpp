// Where every socket lives. All of them are inside the private run
// directory (0700), so the file mode (0600) and the peer-uid check are
// defence in depth, not the only barrier.
#pragma once

#include <string>

#include "wa/result.hpp"

namespace wa::ipc {

// sockaddr_un.sun_path is 108 bytes including the terminating NUL.
inline constexpr size_t kMaxIpcPath = 107;

// Control requests up to kControlRequestMax bytes are served. Larger ones up
// to kControlTransportMax still reach the supervisor and are answered
// too_large; beyond that NNG drops the message together with the client's
// connection (no answer is possible), so clients refuse them before sending.
// The transport limit is kept small because every receive buffer of that
// size is allocated before anyone looks at it.
inline constexpr size_t kControlRequestMax = 256 * 1024;
inline constexpr size_t kControlTransportMax = kControlRequestMax + 64 * 1024;

std::string control_url(const std::string& run_dir);  // REQ/REP, public, JSON text
std::string events_url(const std::string& run_dir);   // PUB/SUB, public, JSON text
std::string instance_dir(const std::string& run_dir, const std::string& profile);
std::string link_url(const std::string& instance_dir);     // supervisor <-> connection worker, PAIR1
std::string senders_url(const std::string& instance_dir);  // connection worker <-> senders, REQ/REP

// $XDG_RUNTIME_DIR/wa-supervisor, else /tmp/wa-supervisor-<uid>.
std::string default_run_dir();

// Rejects run dirs whose socket paths would not fit sun_path.
Status check_run_dir(const std::string& run_dir);

}  // namespace wa::ipc
