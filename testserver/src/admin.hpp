// Admin commands: the CLI side turns arguments into one JSON request for the
// running server (NNG REQ/REP over ipc://DIR/admin.sock); the server side
// validates it. Kept apart from I/O so both halves are unit-tested.
//
//   {"cmd":"scan","phone":P,"qr":Q}
//   {"cmd":"link-code","phone":P,"code":C}
//   {"cmd":"status"}
//   {"cmd":"fault","jid":J | "phone":P,"action":A, ...}
//     close | malformed-frame | stream-error {"code": 515|device_removed|replaced|503}
//     drop-acks {"n"} | delay-acks {"n","ms"} | refuse-login {"reason"} | omit-pn | clear
//   {"cmd":"migrate","phone":P,"on":true|false}
//   {"cmd":"new-lid","phone":P}
//   {"cmd":"receipts","phone":P}   every receipt P's devices sent this run
//   {"cmd":"media-expire","path":DIRECT_PATH|"all"}   (media_phone.cpp)
//   {"cmd":"media-corrupt","path":DIRECT_PATH}
//   {"cmd":"media-refuse-uploads","on":true|false}
//   {"cmd":"media-slow","bytes_per_sec":N}              (0: off)
//   {"cmd":"media-list"}
//   {"cmd":"media-retry-key","id":MSG_ID,"media_key":B64,"path":DIRECT_PATH}
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wa/result.hpp"

namespace wa::testserver::admin {

using json = nlohmann::json;

std::string socket_url(const std::string& state_dir);

// Digits only, 5..20 of them (phone numbers become JIDs and SQL keys).
Status check_phone(const std::string& phone);

// omit-pn: deliveries to the target carry no sender_pn / participant_pn /
// peer_recipient_pn (the real server has begun leaving them out).
enum class FaultAction { close, malformed_frame, stream_error, drop_acks, delay_acks, refuse_login, omit_pn, clear };

struct Fault {
  std::string jid;    // a device JID (connection faults)
  std::string phone;  // an account (refuse-login, or every device of it)
  FaultAction action = FaultAction::close;
  std::string stream_error;  // "515", "device_removed", "replaced", "503"
  uint32_t n = 0;
  uint32_t ms = 0;
  std::string reason;  // refuse-login failure reason (a number, e.g. 401)
};

// CLI: `fault` positional words after the options, e.g. {"stream-error","515"}.
Result<json> fault_request(const std::string& jid, const std::string& phone, const std::vector<std::string>& words);
// Server: validates a fault request.
Result<Fault> parse_fault(const json& req);

}  // namespace wa::testserver::admin
