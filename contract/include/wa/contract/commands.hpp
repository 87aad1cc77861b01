// The one command registry. A control command is one entry here: its name,
// its fields with their types and limits, where it runs (the supervisor, or
// routed to the account's connection worker), its deadline, what it answers
// and which errors it adds, and how wactl spells it. Everything else is
// derived from this table:
//   - validate_request: the control socket's field checks (supervisor);
//   - routing: an account command goes to the worker with routed_args, under
//     route_deadline_ms of its Deadline (supervisor/src/supervisor.cpp);
//   - the handlers: the supervisor's and the worker's handler maps are keyed
//     by these names and checked against this table at start;
//   - wactl's subcommands (wactl/src/commands_cli.cpp);
//   - docs/CONTROL.md's command and error tables (render_*; a test compares).
// Adding a command: one entry here, one handler (supervisor or worker), one
// test — docs/ARCHITECTURE.md, "Adding a command".
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "wa/contract/deadlines.hpp"
#include "wa/result.hpp"

namespace wa::contract {

enum class FieldKind {
  text,         // a non-empty string of at most `max` bytes (0: the request's limit)
  flag,         // true / false
  profile,      // a profile name
  count,        // a whole number 0..max
  choice,       // one of `choices`
  chat,         // a user (…@s.whatsapp.net, …@lid) or group (…@g.us) JID, no device
  group,        // a group JID
  person,       // a user JID, no device
  author,       // a user JID, a device allowed (the author of a message as events report it)
  people,       // 1..max user JIDs
  texts,        // 1..max non-empty strings of at most kMaxJid bytes
  path,         // an absolute file path, no NUL (wactl makes a relative one absolute)
  number,       // a finite number within ±max (max 0: any finite number)
};

enum class Runs { supervisor, account };

// What a caller must be allowed to do to run the command (the HTTP API's
// token scopes; the local control socket trusts its peers as a whole):
// read = looks without acting; send = acts as the account towards WhatsApp
// (messages, groups, presence, profile); admin = runs the tree (instances,
// pairing and logout, the store, log level, webhooks). A scope includes the
// ones before it.
enum class Access { read, send, admin };

// How wactl takes the field.
enum class Cli { positional, option, none };

struct FieldSpec {
  std::string_view name;
  FieldKind kind;
  bool required = false;
  uint64_t max = 0;
  std::string_view help = {};
  Cli cli = Cli::positional;
  std::string_view flag = {};  // Cli::option: CLI11 names, e.g. "--reply,--reply-to"
  std::span<const std::string_view> choices = {};
  bool confirm = false;        // wactl asks for --yes when it is set
};

struct CommandSpec {
  std::string_view name;
  Runs runs;
  Deadline deadline = Deadline::local;
  // Acts outside the tree (a message leaves): de-duplicated by client_id,
  // and a request whose answer is lost is `unknown_outcome`, never `timeout`.
  bool sends = false;
  Access access = Access::admin;  // the safe default: a new command is admin until said otherwise
  std::vector<FieldSpec> fields;
  std::string_view summary;  // one line, for docs and --help
  std::string_view result;   // the reply's `result`, for docs
  std::vector<std::string_view> errors = {};  // codes besides the common ones (all in errors.hpp)
  std::string_view cli = {};  // wactl path: "send", "group create"; empty: not a plain subcommand
  Status (*check)(const nlohmann::json& req) = nullptr;  // rules across fields
};

// Field limits.
inline constexpr size_t kMaxJid = 128;
inline constexpr size_t kMaxTextBytes = 64 * 1024;
inline constexpr size_t kMaxClientId = 128;
inline constexpr size_t kMaxMessageId = 128;
inline constexpr size_t kMaxSubject = 100;
inline constexpr size_t kMaxDescription = 2048;
inline constexpr size_t kMaxParticipants = 1024;
inline constexpr size_t kMaxReadIds = 256;
inline constexpr size_t kMaxReplayLimit = 1000;
inline constexpr size_t kDefaultReplayLimit = 500;
inline constexpr size_t kMaxLogLines = 10000;
inline constexpr size_t kDefaultLogLines = 100;
inline constexpr size_t kMaxPath = 4096;
inline constexpr size_t kMaxFileName = 255;
inline constexpr size_t kMaxCheckNumbers = 500;
inline constexpr size_t kMaxAbout = 1024;

const std::vector<CommandSpec>& commands();
const CommandSpec* find_command(std::string_view name);

// The field checks of the control socket. The spec of the request's command,
// or bad_request / unknown_command / too_large / invalid_jid / invalid_profile.
Result<const CommandSpec*> validate_request(const nlohmann::json& req);
// A user (…@s.whatsapp.net, …@lid) or group JID without a device.
Status validate_chat_jid(const std::string& jid);
// A bare phone number ("+15551234567", digits with an optional '+') is the
// user's phone JID; anything else is returned as given (and checked later).
std::string person_jid(const std::string& given);
// The request with every chat / person field's bare phone number made a
// JID (wactl and the control socket accept both), ready for validate_request.
void normalize_request(nlohmann::json& req);
// What an account command carries to the worker: its fields without cmd,
// profile and client_id (the supervisor's business).
nlohmann::json routed_args(const nlohmann::json& req);

// The registry commands whose handler presence disagrees with where they
// run: `has(name)` says whether the process running `where` has a handler.
// Each binary refuses to start when this is not empty.
std::vector<std::string> misplaced_handlers(Runs where, bool (*has)(std::string_view name));

// Markdown for docs/CONTROL.md.
std::string render_command_table();
std::string render_error_table();

}  // namespace wa::contract
