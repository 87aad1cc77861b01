#include "wa/contract/commands.hpp"

#include <algorithm>

#include <array>
#include <cmath>

#include "wa/binary/jid.hpp"
#include "wa/profile.hpp"

namespace wa::contract {

using json = nlohmann::json;

namespace {

using K = FieldKind;

constexpr std::array<std::string_view, 4> kLevels{"debug", "info", "warn", "error"};
constexpr std::array<std::string_view, 2> kOnOff{"on", "off"};
constexpr std::array<std::string_view, 2> kGroupSettings{"announce", "locked"};
constexpr std::array<std::string_view, 2> kPresence{"available", "unavailable"};

// The profile every profile-bound command names.
constexpr FieldSpec kProfile{.name = "profile", .kind = K::profile, .required = true};
// The fields every sending command shares.
constexpr FieldSpec kTo{.name = "to",
                        .kind = K::chat,
                        .required = true,
                        .help = "recipient: a JID (15551234567@s.whatsapp.net, …@lid, …@g.us) or a bare phone "
                                "number"};
constexpr FieldSpec kClientId{.name = "client_id",
                              .kind = K::text,
                              .max = kMaxClientId,
                              .help = "de-duplication id (wactl: random when not given)",
                              .cli = Cli::option,
                              .flag = "--client-id"};
constexpr FieldSpec kQuotedId{.name = "quoted_id",
                              .kind = K::text,
                              .max = kMaxMessageId,
                              .help = "reply to (quote) this message id",
                              .cli = Cli::option,
                              .flag = "--reply,--reply-to"};
constexpr FieldSpec kQuotedSender{.name = "quoted_sender",
                                  .kind = K::author,
                                  .help = "author of the quoted message (default: looked up / the chat)",
                                  .cli = Cli::option,
                                  .flag = "--reply-sender"};
// What a command that sends a message can fail with (send_media adds its file's errors).
std::vector<std::string_view> message_errors() {
  return {"invalid_jid",  "not_connected",          "rejected:",       "no_devices",     "session_failed",
          "iq_error:",    "privacy_token_required", "unknown_contact", "timeout",        "unknown_outcome",
          "sender_crashed", "sender_failed"};
}

constexpr std::array<std::string_view, 6> kMediaKinds{"image", "video", "audio", "voice", "document", "sticker"};

Status quote_needs_id(const json& req) {
  if (req.contains("quoted_sender") && !req.contains("quoted_id"))
    return fail("bad_request", "'quoted_sender' needs 'quoted_id'");
  return {};
}

Status contact_needs_one_source(const json& req) {
  WA_TRY(quote_needs_id(req));
  if (req.contains("phone") == req.contains("vcard"))
    return fail("bad_request", "a contact card needs exactly one of 'phone' and 'vcard'");
  return {};
}

std::vector<std::string_view> with(std::vector<std::string_view> codes, std::initializer_list<std::string_view> more) {
  codes.insert(codes.end(), more.begin(), more.end());
  return codes;
}

Status group_read_needs_sender(const json& req) {
  if (req["chat"].get_ref<const std::string&>().ends_with("@g.us") && !req.contains("sender"))
    return fail("bad_request", "a read receipt in a group needs 'sender' (the messages' author)");
  return {};
}

std::vector<CommandSpec> build() {
  std::vector<CommandSpec> c;
  c.push_back({.name = "ping",
               .runs = Runs::supervisor,
               .access = Access::read,
               .fields = {},
               .summary = "check that the supervisor answers",
               .result = R"(`{"pong": true, "pid"}`)",
               .cli = "ping"});
  c.push_back({.name = "status",
               .runs = Runs::supervisor,
               .access = Access::read,
               .fields = {{.name = "profile", .kind = K::profile, .help = "only this profile"}},
               .summary = "per account: state, linked as, connection, pid, uptime, restarts, senders, last exit",
               .result = R"(`{"instances": [{"profile", "state", "reason", "linked", "connection", "uptime_ms", )"
                         R"("connection_pid", "restarts", "last_exit", "senders": [{"conversation", "pid"}], )"
                         R"("sends_routed"}]}` (`reason` while `failed`: `restart_intensity` or `store_corrupt`, )"
                         R"(else null; `linked`: `{"jid", "lid"}`, `false` while waiting to be paired, null until )"
                         R"(the worker has reported; `connection`: `{"state", "reason"?, "since"}` of the running )"
                         R"(worker's socket; `uptime_ms` since the running worker was forked))",
               .errors = {"unknown_profile"},
               .cli = "status"});
  c.push_back({.name = "metrics",
               .runs = Runs::supervisor,
               .access = Access::read,
               .fields = {},
               .summary = "counters for monitoring: per account state, restarts, reconnects, messages in and out, "
                          "sends failed by code, senders, event-log head; supervisor totals",
               .result = R"(`{"supervisor": {"uptime_ms", "instances", "sender_processes", "restarts_total", "connecting", "start_queue"}, )"
                         R"("profiles": [{"profile", "state", "connection", "restarts", "reconnects", )"
                         R"("messages_in", "messages_out", "sends_failed": {"CODE": n}, "senders", "log_head"}]}` )"
                         R"((counts since the supervisor started; `log_head`: the newest seq it has seen logged, )"
                         R"(null before any); on PostgreSQL also `"cluster": {"host_id", "draining", "leases_lost"}` and )"
                         R"(with NATS `"nats_connected", "requests_out", "requests_in", "request_failures", "events_out", )"
                         R"("events_in", "events_dropped"` (null on SQLite))",
               .cli = "metrics"});
  c.push_back({.name = "start",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kProfile,
                          {.name = "create",
                           .kind = K::flag,
                           .help = "create the profile if the config does not list it (recorded in "
                                   "data_dir/profiles.json: it comes back after a restart)",
                           .cli = Cli::option,
                           .flag = "--create"}},
               .summary = "start an instance",
               .result = "the instance's status",
               .errors = {"unknown_profile", "already_running", "stopping", "maintenance"},
               .cli = "start"});
  c.push_back({.name = "stop",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kProfile},
               .summary = "stop an instance: senders first, then the connection worker",
               .result = "the instance's status, once it is stopped",
               .errors = {"unknown_profile"},
               .cli = "stop"});
  c.push_back({.name = "restart",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kProfile},
               .summary = "stop and start an instance",
               .result = "the instance's status, once it is started again",
               .errors = {"unknown_profile", "stopping", "maintenance"},
               .cli = "restart"});
  c.push_back({.name = "remove",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kProfile,
                          {.name = "purge",
                           .kind = K::flag,
                           .help = "also delete its data: credentials, Signal state, event log",
                           .cli = Cli::option,
                           .flag = "--purge",
                           .confirm = true}},
               .summary = "stop and forget a profile created at run time",
               .result = R"(`{"profile", "removed": true, "purged"}` (drops it from `data_dir/profiles.json`; )"
                         R"(`purge` deletes `data_dir/PROFILE`))",
               .errors = {"unknown_profile", "in_config", "maintenance"},
               .cli = "remove"});
  c.push_back({.name = "send_text",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          kTo,
                          {.name = "text", .kind = K::text, .required = true, .max = kMaxTextBytes},
                          kClientId,
                          kQuotedId,
                          kQuotedSender},
               .summary = "send a text message; answered on the server's ack",
               .result = R"(`{"id", "devices", ...}`, answered on the server's ack for that message id)",
               .errors = message_errors(),
               .cli = "send",
               .check = quote_needs_id});
  c.push_back({.name = "send_media",
               .runs = Runs::account,
               .deadline = Deadline::transfer,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          kTo,
                          {.name = "path",
                           .kind = K::path,
                           .required = true,
                           .max = kMaxPath,
                           .help = "the file to send, under one of the config's media.allowed_roots"},
                          {.name = "type",
                           .kind = K::choice,
                           .help = "send as this kind (default: detected from the content)",
                           .cli = Cli::option,
                           .flag = "--type",
                           .choices = kMediaKinds},
                          {.name = "caption",
                           .kind = K::text,
                           .max = kMaxTextBytes,
                           .help = "text shown with an image, video or document",
                           .cli = Cli::option,
                           .flag = "--caption"},
                          {.name = "filename",
                           .kind = K::text,
                           .max = kMaxFileName,
                           .help = "the name a document is shown with (default: the file's)",
                           .cli = Cli::option,
                           .flag = "--filename"},
                          kClientId,
                          kQuotedId,
                          kQuotedSender},
               .summary = "send an image, video, audio file, voice note, document or sticker; answered on the "
                          "server's ack",
               .result = R"(`{"id", "devices", "media": {"type", "mimetype", "size", "sha256", ...}}`, answered on )"
                         R"(the server's ack for that message id)",
               .errors = {"invalid_jid", "not_connected", "path_not_allowed", "file_error", "unsupported_media",
                          "too_large", "file_changed", "upload_failed", "rejected:", "no_devices", "session_failed",
                          "iq_error:", "privacy_token_required", "unknown_contact", "timeout", "unknown_outcome",
                          "sender_crashed", "sender_failed"},
               .cli = "send-media",
               .check = quote_needs_id});
  c.push_back({.name = "download",
               .runs = Runs::account,
               .deadline = Deadline::transfer,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "id", .kind = K::text, .required = true, .max = kMaxMessageId,
                           .help = "the media message's id (its event's media.id)"},
                          {.name = "chat",
                           .kind = K::chat,
                           .help = "the chat the message is in (default: the newest message with that id)",
                           .cli = Cli::option,
                           .flag = "--chat"},
                          {.name = "path",
                           .kind = K::path,
                           .max = kMaxPath,
                           .help = "where to write the file, under one of media.allowed_roots (default: the "
                                   "profile's media directory)",
                           .cli = Cli::option,
                           .flag = "--output,-o"}},
               .summary = "fetch, verify and decrypt a received media file",
               .result = R"(`{"id", "chat", "path", "size", "mimetype", "retried"}`: the file (0600) is complete and )"
                         R"(verified; `retried` when the sender's phone had to upload it again)",
               .errors = {"not_media", "path_not_allowed", "media_expired", "media_corrupt", "download_failed",
                          "file_error", "not_connected", "timeout", "sender_crashed", "sender_failed"},
               .cli = "download"});
  c.push_back({.name = "react",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "chat",
                           .kind = K::chat,
                           .required = true,
                           .help = "the chat of the message (as its event named it), or a bare phone number"},
                          {.name = "id", .kind = K::text, .required = true, .max = kMaxMessageId,
                           .help = "the message to react to"},
                          {.name = "emoji",
                           .kind = K::text,
                           .max = 64,
                           .help = "the reaction (absent: remove ours)"},
                          {.name = "sender",
                           .kind = K::author,
                           .help = "the message's author in a group (its event's sender); not needed for "
                                   "our own messages or in a 1:1 chat",
                           .cli = Cli::option,
                           .flag = "--sender"},
                          kClientId},
               .summary = "react to a message with an emoji, or remove our reaction; answered on the server's ack",
               .result = R"(`{"id", "devices"}`: the reaction message's id)",
               .errors = message_errors(),
               .cli = "react"});
  c.push_back({.name = "revoke",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "chat",
                           .kind = K::chat,
                           .required = true,
                           .help = "the chat of the message (as its event named it), or a bare phone number"},
                          {.name = "id", .kind = K::text, .required = true, .max = kMaxMessageId,
                           .help = "the message to delete for everyone"},
                          {.name = "sender",
                           .kind = K::author,
                           .help = "the message's author when it is not ours: a group admin deletes a member's "
                                   "message",
                           .cli = Cli::option,
                           .flag = "--sender"},
                          kClientId},
               .summary = "delete a message for everyone (ours, or a member's in a group we administer); "
                          "answered on the server's ack",
               .result = R"(`{"id", "devices"}`: the revoke message's id; receivers keep the message marked )"
                         R"(`revoked`)",
               .errors = with(message_errors(), {"not_own_message"}),
               .cli = "revoke"});
  c.push_back({.name = "send_location",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          kTo,
                          {.name = "latitude", .kind = K::number, .required = true, .max = 90,
                           .help = "degrees north (negative: south)"},
                          {.name = "longitude", .kind = K::number, .required = true, .max = 180,
                           .help = "degrees east (negative: west)"},
                          {.name = "name", .kind = K::text, .max = 1024, .help = "the place's name",
                           .cli = Cli::option, .flag = "--name"},
                          {.name = "address", .kind = K::text, .max = 1024, .help = "the place's address",
                           .cli = Cli::option, .flag = "--address"},
                          {.name = "url", .kind = K::text, .max = 1024, .help = "a link about the place",
                           .cli = Cli::option, .flag = "--url"},
                          kClientId,
                          kQuotedId,
                          kQuotedSender},
               .summary = "send a location (a pin, optionally named); answered on the server's ack",
               .result = R"(`{"id", "devices"}`)",
               .errors = message_errors(),
               .cli = "send-location",
               .check = quote_needs_id});
  c.push_back({.name = "send_contact",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          kTo,
                          {.name = "name", .kind = K::text, .required = true, .max = 1024,
                           .help = "the contact's name as shown"},
                          {.name = "phone", .kind = K::text, .max = 32,
                           .help = "the contact's number (a vCard is made with it)", .cli = Cli::option,
                           .flag = "--phone"},
                          {.name = "vcard", .kind = K::text, .max = 16 * 1024,
                           .help = "a whole vCard instead of `phone`", .cli = Cli::option, .flag = "--vcard"},
                          kClientId,
                          kQuotedId,
                          kQuotedSender},
               .summary = "send a contact card; answered on the server's ack",
               .result = R"(`{"id", "devices"}`)",
               .errors = message_errors(),
               .cli = "send-contact",
               .check = contact_needs_one_source});
  // Polls and edits (docs/PROTOCOL.md §12.4): sender jobs, like react; the
  // results are read from the profile's store.
  c.push_back({.name = "poll",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "to", .kind = K::chat, .required = true},
                          {.name = "name", .kind = K::text, .required = true, .max = 255, .help = "the question"},
                          {.name = "options", .kind = K::texts, .required = true, .max = 12,
                           .help = "2-12 distinct option names (at most 100 bytes each)"},
                          {.name = "multiple",
                           .kind = K::flag,
                           .help = "voters may pick several options (default: one)",
                           .cli = Cli::option,
                           .flag = "--multiple"},
                          kClientId},
               .summary = "create a poll (single choice, or multiple with `multiple`); answered on the server's ack",
               .result = R"(`{"id", "devices"}`: the poll's message id (what `vote` and `poll_results` name))",
               .errors = message_errors(),
               .cli = "poll"});
  c.push_back({.name = "vote",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "chat", .kind = K::chat, .required = true, .help = "the poll's chat"},
                          {.name = "id", .kind = K::text, .required = true, .max = kMaxMessageId,
                           .help = "the poll's message id"},
                          {.name = "options", .kind = K::texts, .required = true, .max = 12,
                           .help = "the option names chosen"},
                          kClientId},
               .summary = "vote on a poll (ours or one we received); a new vote replaces our previous one; answered "
                          "on the server's ack",
               .result = R"(`{"id", "devices"}`: the vote message's id)",
               .errors = with(message_errors(), {"unknown_poll"}),
               .cli = "vote"});
  c.push_back({.name = "poll_results",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::read,
               .fields = {kProfile,
                          {.name = "chat", .kind = K::chat, .required = true, .help = "the poll's chat"},
                          {.name = "id", .kind = K::text, .required = true, .max = kMaxMessageId,
                           .help = "the poll's message id"}},
               .summary = "the votes on a poll, each voter's latest vote counted once",
               .result = R"(`{"id", "chat", "sender", "name", "selectable", "options": [{"name", "count", "voters"}], )"
                         R"("voters"}`: `voters` at the top counts who voted)",
               .errors = {"unknown_poll", "db_error"},
               .cli = "poll-results"});
  c.push_back({.name = "edit",
               .runs = Runs::account,
               .deadline = Deadline::send,
               .sends = true,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "chat", .kind = K::chat, .required = true, .help = "the message's chat"},
                          {.name = "id", .kind = K::text, .required = true, .max = kMaxMessageId,
                           .help = "our message to edit"},
                          {.name = "text", .kind = K::text, .required = true, .help = "the new text"},
                          kClientId},
               .summary = "replace the text of a message we sent in the last 20 minutes; answered on the server's ack",
               .result = R"(`{"id", "devices"}`: the edit message's id (receivers show it on the original))",
               .errors = with(message_errors(), {"not_editable", "edit_window_passed"}),
               .cli = "edit"});
  c.push_back({.name = "pair_code",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::admin,
               .fields = {kProfile, {.name = "phone", .kind = K::text, .required = true, .max = 20}},
               .summary = "phone-number pairing: the code to type on the phone",
               .result = R"(`{"code"}`: the 8-character pairing code)",
               .errors = {"already_paired", "not_connected"}});
  c.push_back({.name = "events",
               .runs = Runs::supervisor,
               .access = Access::read,
               .fields = {kProfile,
                          {.name = "since", .kind = K::count, .required = true, .max = uint64_t{1} << 53},
                          {.name = "limit", .kind = K::count, .max = kMaxReplayLimit}},
               .summary = "replay of the profile's event log: events with seq > since",
               .result = R"(`{"events": [...], "last_seq"}`: the profile's logged events after `since` (see the )"
                         R"(event socket; `limit` defaults to 500))",
               .errors = {"unknown_profile", "busy", "db_error"}});
  c.push_back({.name = "logs",
               .runs = Runs::supervisor,
               .access = Access::read,
               .fields = {kProfile,
                          {.name = "lines", .kind = K::count, .max = kMaxLogLines},
                          {.name = "offset", .kind = K::count, .max = uint64_t{1} << 53}},
               .summary = "the account's own log: the lines of its connection worker and senders",
               .result = R"(`{"lines": [...], "offset"}`: without `offset`, the last `lines` lines (default 100); )"
                         R"(with the `offset` of a previous reply, the lines written since (at most 256 KiB a )"
                         R"(reply; `wactl logs -f` polls this). The file is `data_dir/PROFILE/account.log`, )"
                         R"(kept to 1 MiB plus one older generation)",
               .errors = {"unknown_profile", "io_error"}});
  c.push_back({.name = "group_create",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "subject", .kind = K::text, .required = true, .max = kMaxSubject},
                          {.name = "participants",
                           .kind = K::people,
                           .required = true,
                           .max = kMaxParticipants,
                           .help = "members, e.g. 15551234567@s.whatsapp.net"}},
               .summary = "create a group with these members",
               .result = R"(`{"gid", "subject", "creator", "addressing_mode", "description"?, "announce", "locked", )"
                         R"("participants": [{"jid", "admin", "type"}]}` (`type`: `superadmin`, `admin`, `member`))",
               .errors = {"invalid_jid", "not_connected", "iq_error:"},
               .cli = "group create"});
  c.push_back({.name = "group_info",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::read,
               .fields = {kProfile, {.name = "gid", .kind = K::group, .required = true, .help = "e.g. 123-456@g.us"}},
               .summary = "a group's subject and participants",
               .result = "same shape as `group_create`",
               .errors = {"invalid_jid", "not_connected", "iq_error:", "bad_group"},
               .cli = "group info"});
  for (bool add : {true, false}) {
    c.push_back({.name = add ? "group_add" : "group_remove",
                 .runs = Runs::account,
                 .deadline = Deadline::iq,
                 .access = Access::send,
                 .fields = {kProfile,
                            {.name = "gid", .kind = K::group, .required = true},
                            {.name = "participants", .kind = K::people, .required = true, .max = kMaxParticipants}},
                 .summary = add ? "add participants to a group" : "remove participants from a group",
                 .result = R"(`{"gid", "participants": [{"jid", "status"}]}`: `status` `"200"` when changed, else )"
                           R"(the server's code (`404` unknown account or not a member, `409` already a member))",
                 .errors = {"invalid_jid", "not_connected", "iq_error:"},
                 .cli = add ? "group add" : "group remove"});
  }
  // Group administration (docs/PROTOCOL.md §9.2). The server checks rights:
  // a member who is not an admin gets iq_error:401 (iq_error:403 when not a
  // member at all, iq_error:404 for an unknown group).
  constexpr FieldSpec kGid{.name = "gid", .kind = K::group, .required = true, .help = "e.g. 123-456@g.us"};
  for (bool promote : {true, false}) {
    c.push_back({.name = promote ? "group_promote" : "group_demote",
                 .runs = Runs::account,
                 .deadline = Deadline::iq,
                 .access = Access::send,
                 .fields = {kProfile, kGid,
                            {.name = "participants", .kind = K::people, .required = true, .max = kMaxParticipants}},
                 .summary = promote ? "make members admins of a group" : "take admin rights from members of a group",
                 .result = R"(`{"gid", "participants": [{"jid", "status"}]}`: `status` `"200"` when changed, else )"
                           R"(the server's code (`404` not a member))",
                 .errors = {"invalid_jid", "not_connected", "iq_error:"},
                 .cli = promote ? "group promote" : "group demote"});
  }
  c.push_back({.name = "group_subject",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile, kGid, {.name = "subject", .kind = K::text, .required = true, .max = kMaxSubject}},
               .summary = "set a group's subject (name)",
               .result = R"(`{"gid", "subject"}`)",
               .errors = {"invalid_jid", "not_connected", "iq_error:"},
               .cli = "group subject"});
  c.push_back({.name = "group_description",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile, kGid,
                          {.name = "description",
                           .kind = K::text,
                           .max = kMaxDescription,
                           .help = "the new description; left out: the description is removed"}},
               .summary = "set or remove a group's description",
               .result = R"(`{"gid", "description"}` (`""` when removed))",
               .errors = {"invalid_jid", "not_connected", "iq_error:", "bad_group"},
               .cli = "group description"});
  c.push_back({.name = "group_settings",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile, kGid,
                          {.name = "setting",
                           .kind = K::choice,
                           .required = true,
                           .help = "announce: only admins send; locked: only admins edit the group's info",
                           .choices = kGroupSettings},
                          {.name = "state", .kind = K::choice, .required = true, .choices = kOnOff}},
               .summary = "switch a group's announce or locked setting",
               .result = R"(`{"gid", "setting", "state"}`)",
               .errors = {"invalid_jid", "not_connected", "iq_error:"},
               .cli = "group settings"});
  c.push_back({.name = "group_leave",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile, kGid},
               .summary = "leave a group",
               .result = R"(`{"gid", "left": true}`)",
               .errors = {"invalid_jid", "not_connected", "iq_error:"},
               .cli = "group leave"});
  for (bool revoke : {false, true}) {
    c.push_back({.name = revoke ? "group_revoke_invite" : "group_invite",
                 .runs = Runs::account,
                 .deadline = Deadline::iq,
                 .access = Access::send,
                 .fields = {kProfile, kGid},
                 .summary = revoke ? "revoke a group's invite link and make a new one" : "a group's invite link (admins only)",
                 .result = R"(`{"gid", "code", "link"}` (`link` = `https://chat.whatsapp.com/` + `code`))",
                 .errors = {"invalid_jid", "not_connected", "iq_error:", "bad_group"},
                 .cli = revoke ? "group revoke-invite" : "group invite"});
  }
  c.push_back({.name = "group_join",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "invite",
                           .kind = K::text,
                           .required = true,
                           .max = kMaxJid,
                           .help = "an invite code or an https://chat.whatsapp.com/CODE link"}},
               .summary = "join a group by its invite link",
               .result = R"(`{"gid"}`; an unknown code is `iq_error:406`, a revoked one `iq_error:410`)",
               .errors = {"invalid_invite", "not_connected", "iq_error:", "bad_group"},
               .cli = "group join"});
  c.push_back({.name = "read",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "chat", .kind = K::chat, .required = true, .help = "the chat: user or group JID"},
                          {.name = "ids", .kind = K::texts, .required = true, .max = kMaxReadIds, .help = "message ids"},
                          {.name = "sender",
                           .kind = K::author,
                           .help = "the messages' author (required in a group)",
                           .cli = Cli::option,
                           .flag = "--sender"}},
               .summary = "mark messages of a chat as read (read receipt)",
               .result = R"(`{"chat", "read": N}`, answered on the server's ack of the receipt)",
               .errors = {"invalid_jid", "not_connected", "rejected:"},
               .cli = "read",
               .check = group_read_needs_sender});
  c.push_back({.name = "typing",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "chat", .kind = K::chat, .required = true},
                          {.name = "state", .kind = K::choice, .required = true, .choices = kOnOff}},
               .summary = "show or stop \"typing…\" in a chat",
               .result = R"(`{"chat", "state"}` once written to the socket (the server does not acknowledge )"
                         R"(chat states))",
               .errors = {"invalid_jid", "not_connected"},
               .cli = "typing"});
  // Contacts and presence, and logging out (connection-worker/src/contacts.cpp).
  c.push_back({.name = "check_numbers",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "numbers",
                           .kind = K::texts,
                           .required = true,
                           .max = kMaxCheckNumbers,
                           .help = "phone numbers with country code, e.g. +15551234567"}},
               .summary = "which phone numbers are on WhatsApp, with their JID and LID (usync; answers cached)",
               .result = R"(`{"results": [{"number", "exists", "jid"?, "lid"?, "cached"}]}` in the order asked; )"
                         R"(`number` as asked, `jid` the phone-number JID; asked in batches of 50, an answer kept )"
                         R"(for 24 h (a number not on WhatsApp for 1 h))",
               .errors = {"not_connected", "iq_error:", "bad_usync"},
               .cli = "check-numbers"});
  c.push_back({.name = "picture_get",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::read,
               .fields = {kProfile,
                          {.name = "jid", .kind = K::chat, .required = true, .help = "a user or a group"},
                          {.name = "full",
                           .kind = K::flag,
                           .help = "the full-size image instead of the preview",
                           .cli = Cli::option,
                           .flag = "--full"}},
               .summary = "the URL of a user's or group's profile picture",
               .result = R"(`{"jid", "type", "url", "id", "direct_path"}`; `url` null when there is none (404/204))",
               .errors = {"invalid_jid", "not_connected", "iq_error:"},
               .cli = "picture get"});
  c.push_back({.name = "picture_set",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "path",
                           .kind = K::path,
                           .required = true,
                           .max = kMaxPath,
                           .help = "a JPEG file under one of the config's media.allowed_roots (at most 1 MiB)"}},
               .summary = "set our own profile picture",
               .result = R"(`{"id"}`: the new picture's id)",
               .errors = {"not_connected", "path_not_allowed", "file_error", "unsupported_media", "too_large",
                          "iq_error:"},
               .cli = "picture set"});
  c.push_back({.name = "picture_remove",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile},
               .summary = "remove our own profile picture",
               .result = R"(`{"removed": true}`)",
               .errors = {"not_connected", "iq_error:"},
               .cli = "picture remove"});
  c.push_back({.name = "presence_set",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile,
                          {.name = "state", .kind = K::choice, .required = true, .choices = kPresence},
                          {.name = "name",
                           .kind = K::text,
                           .max = 64,
                           .help = "the push name contacts see (without one they see \"-\")",
                           .cli = Cli::option,
                           .flag = "--name"}},
               .summary = "show us as online (available) or offline (unavailable), with our push name",
               .result = R"(`{"state"}` once written to the socket (the server does not answer presence))",
               .errors = {"not_connected"},
               .cli = "presence set"});
  c.push_back({.name = "presence_subscribe",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile, {.name = "jid", .kind = K::person, .required = true}},
               .summary = "ask for a contact's presence: `presence` events while we are available",
               .result = R"(`{"jid"}` once written to the socket; the contact's presence follows as events)",
               .errors = {"invalid_jid", "not_connected"},
               .cli = "presence subscribe"});
  for (bool block : {true, false}) {
    c.push_back({.name = block ? "block" : "unblock",
                 .runs = Runs::account,
                 .deadline = Deadline::iq,
                 .access = Access::send,
                 .fields = {kProfile, {.name = "jid", .kind = K::person, .required = true}},
                 .summary = block ? "block a contact" : "unblock a contact",
                 .result = R"(`{"blocked": [{"jid", "pn_jid"?}]}`: the block list afterwards)",
                 .errors = {"invalid_jid", "not_connected", "unknown_contact", "iq_error:"},
                 .cli = block ? "block" : "unblock"});
  }
  c.push_back({.name = "blocklist",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::read,
               .fields = {kProfile},
               .summary = "the contacts we block",
               .result = R"(`{"blocked": [{"jid", "pn_jid"?}]}`)",
               .errors = {"not_connected", "iq_error:"},
               .cli = "blocklist"});
  c.push_back({.name = "about_get",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::read,
               .fields = {kProfile, {.name = "jid", .kind = K::person, .required = true}},
               .summary = "a contact's about text",
               .result = R"(`{"jid", "text", "t"}`; `text` null when hidden from us or unknown)",
               .errors = {"invalid_jid", "not_connected", "iq_error:", "bad_usync"},
               .cli = "about get"});
  c.push_back({.name = "about_set",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::send,
               .fields = {kProfile, {.name = "text", .kind = K::text, .required = true, .max = kMaxAbout}},
               .summary = "set our about text",
               .result = R"(`{"text"}`)",
               .errors = {"not_connected", "iq_error:"},
               .cli = "about set"});
  c.push_back({.name = "logout",
               .runs = Runs::account,
               .deadline = Deadline::iq,
               .access = Access::admin,
               .fields = {kProfile},
               .summary = "unlink this device from the account: the server drops it, credentials and Signal state "
                          "are wiped (the event log stays), the instance stops",
               .result = R"(`{"logged_out": true}`; then events `connection` closed and `logged_out` (`reason` )"
                         R"(`user_initiated`), and the instance is `stopped`; pair again to use the profile)",
               .errors = {"not_connected", "iq_error:"},
               .cli = "logout"});
  c.push_back({.name = "check",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kProfile},
               .summary = "integrity check of a stopped or failed profile's database",
               .result = R"(`{"profile", "intact", "problems": [...]}` (`PRAGMA integrity_check`, at most 20 )"
                         R"(problems; wactl exits 2 when damaged))",
               .errors = {"unknown_profile", "instance_running", "maintenance", "no_store", "not_supported"},
               .cli = "check"});
  c.push_back({.name = "recover",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kProfile},
               .summary = "salvage a damaged database of a stopped or failed profile into a new file; the damaged "
                          "one is kept",
               .result = R"(`{"profile", "damaged_copy", "rows", "damaged_tables"}`; event `store_recovered`)",
               .errors = {"unknown_profile", "instance_running", "maintenance", "db_error", "not_supported"},
               .cli = "recover"});
  c.push_back({.name = "log_level",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {{.name = "level", .kind = K::choice, .required = true, .choices = kLevels}},
               .summary = "the log level of the supervisor and every worker, now",
               .result = R"(`{"level"}`: set now in the supervisor and every running connection worker; senders )"
                         R"(started afterwards get it)",
               .cli = "log-level"});
  c.push_back({.name = "drain",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {{.name = "host",
                           .kind = K::text,
                           .max = 128,
                           .help = "the host to drain (cluster.host_id; default: the one answering). Another "
                                   "host's name travels there over NATS",
                           .cli = Cli::option,
                           .flag = "--host"},
                          {.name = "cancel",
                           .kind = K::flag,
                           .help = "claim accounts again",
                           .cli = Cli::option,
                           .flag = "--cancel"}},
               .summary = "cluster: hand every account of a host to the others (stop it, give its lease back) "
                          "and claim none until cancelled; not kept across a restart",
               .result = R"(`{"host", "draining", "released": [profiles]}` once every account is stopped and its )"
                         R"(lease given back (the other hosts claim them on their next scan))",
               .errors = {"not_supported", "cluster_unavailable"},
               .cli = "drain"});
  c.push_back({.name = "shutdown",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {},
               .summary = "stop every instance, then the supervisor",
               .result = R"(`{"stopped": true}`, once every instance is stopped)",
               .cli = "shutdown"});
  // Webhooks (docs/CONTROL.md, "Webhooks"): definitions and the durable
  // per-(webhook, profile) cursors live in the supervisor; wa-webhooks
  // delivers through webhook_list, events, webhook_ack and webhook_pause.
  constexpr FieldSpec kWebhook{.name = "name", .kind = K::text, .required = true, .max = 64, .help = "the webhook"};
  c.push_back({.name = "webhook_create",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kWebhook,
                          {.name = "url", .kind = K::text, .required = true, .max = 2048,
                           .help = "http:// or https:// URL the batches are POSTed to"},
                          {.name = "secret", .kind = K::text, .required = true, .max = 256,
                           .help = "HMAC-SHA256 key of the X-WA-Signature header", .cli = Cli::option,
                           .flag = "--secret"},
                          {.name = "events", .kind = K::texts, .max = 64,
                           .help = "only these event types (default: all)", .cli = Cli::option, .flag = "--events"},
                          {.name = "profiles", .kind = K::texts, .max = 1024,
                           .help = "only these profiles (default: \"*\", all)", .cli = Cli::option,
                           .flag = "--profiles"}},
               .summary = "create a webhook: every event of the profiles it covers, from now on, POSTed at least once "
                          "and in order per profile",
               .result = R"(the webhook as `webhook_list` shows it; each covered profile's cursor starts at its log's )"
                         R"(head)",
               .errors = {"webhook_exists", "in_config"},
               .cli = "webhook create"});
  c.push_back({.name = "webhook_list",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {{.name = "name", .kind = K::text, .max = 64, .help = "only this webhook", .cli = Cli::option,
                           .flag = "--name"},
                          {.name = "secrets", .kind = K::flag, .help = "include the secrets", .cli = Cli::option,
                           .flag = "--secrets"}},
               .summary = "the webhooks (config and run-time) with each covered profile's cursor and state",
               .result = R"(`{"webhooks": [{"name", "url", "events", "profiles", "source": "config" | "runtime", )"
                         R"("secret"?, "deliveries": [{"profile", "cursor", "head", "lag", "state": "active" | )"
                         R"("paused", "failures", "last_error", "paused_at"}]}], "delivery": {"batch_max", )"
                         R"("timeout_ms", "backoff_min_ms", "backoff_max_ms", "pause_after_failures", )"
                         R"("pause_after_ms"}}` (`failures` and `last_error` are recorded with a pause; an ack )"
                         R"(clears them))",
               .errors = {"unknown_webhook"},
               .cli = "webhook list"});
  c.push_back({.name = "webhook_delete",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kWebhook},
               .summary = "delete a webhook created at run time, with its cursors",
               .result = R"(`{"name", "deleted": true}`)",
               .errors = {"unknown_webhook", "in_config"},
               .cli = "webhook delete"});
  c.push_back({.name = "webhook_resume",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kWebhook,
                          {.name = "profile", .kind = K::profile, .help = "only this profile (default: every paused one)",
                           .cli = Cli::option, .flag = "--profile"}},
               .summary = "resume a paused webhook from its cursor; event `webhook_resumed` in each profile's log",
               .result = R"(`{"name", "resumed": [{"profile", "cursor"}]}`)",
               .errors = {"unknown_webhook"},
               .cli = "webhook resume"});
  c.push_back({.name = "webhook_pause",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kWebhook,
                          {.name = "profile", .kind = K::profile, .required = true},
                          {.name = "error", .kind = K::text, .required = true, .max = 4096,
                           .help = "why (shown in webhook_list and the event)"},
                          {.name = "failures", .kind = K::count, .max = uint64_t{1} << 53, .cli = Cli::none}},
               .summary = "pause a webhook for one profile (wa-webhooks does it after too many failures); event "
                          "`webhook_paused` in the profile's log",
               .result = R"(`{"name", "profile", "cursor", "state": "paused", "paused_at", "already_paused"}`)",
               .errors = {"unknown_webhook"},
               .cli = "webhook pause"});
  c.push_back({.name = "webhook_ack",
               .runs = Runs::supervisor,
               .access = Access::admin,
               .fields = {kWebhook,
                          {.name = "profile", .kind = K::profile, .required = true},
                          {.name = "seq", .kind = K::count, .required = true, .max = uint64_t{1} << 53}},
               .summary = "move a webhook's cursor for a profile forward to `seq` (wa-webhooks, after a 2xx); "
                          "never backwards, never past the log's head",
               .result = R"(`{"name", "profile", "cursor", "state"}`)",
               .errors = {"unknown_webhook"}});
  return c;
}

Status bad_field(const FieldSpec& f, const std::string& what) {
  return fail("bad_request", "field '" + std::string(f.name) + "' " + what);
}

Result<binary::Jid> parse_jid(const std::string& jid) {
  auto parsed = binary::Jid::parse(jid);
  if (!parsed) return fail("invalid_jid", "JID '" + jid + "': " + parsed.error().message);
  return parsed;
}

// A person: a user JID, or (device_ok: the author of a message, as
// `message` events report it) one of their devices.
Status validate_person(const std::string& jid, bool device_ok) {
  auto j = parse_jid(jid);
  if (!j) return Unexpected<Error>{j.error()};
  if (!((j->is_pn() || j->is_lid()) && !j->user.empty()))
    return fail("invalid_jid", "JID '" + jid + "' is not a user (…@s.whatsapp.net, …@lid)");
  if (!device_ok && (j->device != 0 || j->agent != 0))
    return fail("invalid_jid", "JID '" + jid + "' names a device; give the user");
  return {};
}

Status validate_group(const std::string& jid) {
  auto j = binary::Jid::parse(jid);
  if (!j || !j->is_group() || j->user.empty()) return fail("invalid_jid", "JID '" + jid + "' is not a group (…@g.us)");
  return {};
}

Status validate_strings(const FieldSpec& f, const json& v) {
  if (!v.is_array() || v.empty()) return bad_field(f, "must be a non-empty list of strings");
  if (v.size() > f.max)
    return fail("too_large", "field '" + std::string(f.name) + "' has more than " + std::to_string(f.max) + " items");
  for (const auto& item : v) {
    if (!item.is_string() || item.get_ref<const std::string&>().empty()) return bad_field(f, "must hold non-empty strings");
    if (item.get_ref<const std::string&>().size() > kMaxJid)
      return fail("too_large", "an item of '" + std::string(f.name) + "' is longer than " + std::to_string(kMaxJid) +
                                   " bytes");
    if (f.kind == K::people) WA_TRY(validate_person(item.get<std::string>(), false));
  }
  return {};
}

Status validate_field(const FieldSpec& f, const json& v) {
  switch (f.kind) {
    case K::flag:
      if (!v.is_boolean()) return bad_field(f, "must be true or false");
      return {};
    case K::count:
      // Whole numbers only: 3.0 or "3" would be a client bug worth naming.
      if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
        return bad_field(f, "must be a whole number >= 0");
      if (v.get<uint64_t>() > f.max) return bad_field(f, "is larger than " + std::to_string(f.max));
      return {};
    case K::number:
      // JSON has no NaN or infinity; a number over ±max (a latitude of 91)
      // is a client bug worth naming.
      if (!v.is_number()) return bad_field(f, "must be a number");
      if (f.max != 0 && std::fabs(v.get<double>()) > static_cast<double>(f.max))
        return bad_field(f, "must be within ±" + std::to_string(f.max));
      return {};
    case K::people:
    case K::texts: return validate_strings(f, v);
    default: break;
  }
  // The string kinds.
  if (!v.is_string()) return bad_field(f, "must be a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) return bad_field(f, "is empty");
  const uint64_t max = f.max != 0 ? f.max : (f.kind == K::text ? 0 : kMaxJid);
  if (max != 0 && s.size() > max)
    return fail("too_large", "field '" + std::string(f.name) + "' is longer than " + std::to_string(max) + " bytes");
  switch (f.kind) {
    case K::profile: return validate_profile_name(s);
    case K::choice: {
      std::string list;
      for (auto c : f.choices) {
        if (s == c) return {};
        list += (list.empty() ? "\"" : ", \"") + std::string(c) + "\"";
      }
      return bad_field(f, "must be one of " + list);
    }
    case K::chat: return validate_chat_jid(s);
    case K::group: return validate_group(s);
    case K::person: return validate_person(s, false);
    case K::author: return validate_person(s, true);
    case K::path:
      if (s.front() != '/') return bad_field(f, "must be an absolute path");
      if (s.find('\0') != std::string::npos) return bad_field(f, "must not contain a NUL byte");
      return {};
    default: return {};
  }
}

}  // namespace

const std::vector<CommandSpec>& commands() {
  static const std::vector<CommandSpec> table = build();
  return table;
}

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

Status validate_chat_jid(const std::string& jid) {
  auto j = parse_jid(jid);
  if (!j) return Unexpected<Error>{j.error()};
  if (j->device != 0 || j->agent != 0) return fail("invalid_jid", "JID '" + jid + "' names a device; send to the user");
  if (!(j->is_group() || ((j->is_pn() || j->is_lid()) && !j->user.empty())))
    return fail("invalid_jid", "JID '" + jid + "' is not a user (…@s.whatsapp.net, …@lid) or a group (…@g.us)");
  return {};
}

std::string person_jid(const std::string& given) {
  std::string_view d = given;
  if (!d.empty() && d[0] == '+') d.remove_prefix(1);
  if (d.size() < 5 || d.size() > 20 || d[0] == '0' ||
      !std::all_of(d.begin(), d.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return given;
  return std::string(d) + "@s.whatsapp.net";
}

void normalize_request(json& req) {
  if (!req.is_object()) return;
  auto c = req.find("cmd");
  if (c == req.end() || !c->is_string()) return;
  const CommandSpec* spec = find_command(c->get_ref<const std::string&>());
  if (spec == nullptr) return;
  for (const auto& f : spec->fields) {
    if (f.kind != FieldKind::chat && f.kind != FieldKind::person && f.kind != FieldKind::people) continue;
    auto v = req.find(f.name);
    if (v == req.end()) continue;
    if (v->is_string()) {
      *v = person_jid(v->get<std::string>());
    } else if (v->is_array()) {
      for (auto& item : *v)
        if (item.is_string()) item = person_jid(item.get<std::string>());
    }
  }
}

Result<const CommandSpec*> validate_request(const json& req) {
  if (!req.is_object()) return fail("bad_request", "request must be a JSON object");
  auto c = req.find("cmd");
  if (c == req.end()) return fail("bad_request", "missing field 'cmd'");
  if (!c->is_string()) return fail("bad_request", "field 'cmd' must be a string");
  const std::string& name = c->get_ref<const std::string&>();
  const CommandSpec* spec = find_command(name);
  if (spec == nullptr) return fail("unknown_command", "unknown command '" + name.substr(0, 64) + "'");
  for (auto f = req.begin(); f != req.end(); ++f) {
    if (f.key() == "cmd") continue;
    bool known = false;
    for (const auto& d : spec->fields) known = known || f.key() == d.name;
    if (!known) return fail("bad_request", "unknown field '" + f.key().substr(0, 64) + "' for '" + name + "'");
  }
  for (const auto& d : spec->fields) {
    auto v = req.find(d.name);
    if (v == req.end()) {
      if (d.required) return fail("bad_request", "missing field '" + std::string(d.name) + "'");
      continue;
    }
    WA_TRY(validate_field(d, *v));
  }
  if (spec->check != nullptr) WA_TRY(spec->check(req));
  return spec;
}

std::vector<std::string> misplaced_handlers(Runs where, bool (*has)(std::string_view name)) {
  std::vector<std::string> out;
  for (const auto& c : commands())
    if ((c.runs == where) != has(c.name)) out.emplace_back(c.name);
  return out;
}

json routed_args(const json& req) {
  json args = req;
  for (const char* k : {"cmd", "profile", "client_id"}) args.erase(k);
  return args;
}

}  // namespace wa::contract
