#include "wa/contract/errors.hpp"

#include <array>

namespace wa::contract {

namespace {

using K = ErrorKind;

// Keep sorted by kind, then code; docs/CONTROL.md renders it in this order.
constexpr std::array kErrors{
    // The request.
    ErrorSpec{"already_paired", K::request, false, "the account is linked already (pair)"},
    ErrorSpec{"bad_request", K::request, false,
              "malformed JSON (also a number out of range such as 1e400, a NUL byte, nesting deeper than 64), "
              "a missing, unknown or mistyped field, an empty string"},
    ErrorSpec{"edit_window_passed", K::request, false, "a message can be edited for 20 minutes after it was sent"},
    ErrorSpec{"file_changed", K::request, true, "the file changed while it was being sent: nothing was sent"},
    ErrorSpec{"file_error", K::request, false,
              "the file cannot be read or written (missing, not a regular file, no permission)"},
    ErrorSpec{"forbidden", K::request, false, "HTTP: the token's scope or profiles do not cover the request"},
    ErrorSpec{"in_config", K::request, false, "the profile or webhook is listed in the config file: remove it there"},
    ErrorSpec{"invalid_invite", K::request, false, "not a group invite code or https://chat.whatsapp.com/ link"},
    ErrorSpec{"invalid_jid", K::request, false, "not a JID of the kind the field needs"},
    ErrorSpec{"invalid_profile", K::request, false, "not a valid profile name"},
    ErrorSpec{"method_not_allowed", K::request, false, "HTTP: the route exists, not with this method"},
    ErrorSpec{"not_editable", K::request, false,
              "not a message this account sent, or no longer in the sent-message cache (24 h)"},
    ErrorSpec{"not_found", K::request, false, "HTTP: no such route or resource (a QR code that expired)"},
    ErrorSpec{"not_supported", K::request, false,
              "the command does not apply to this deployment (check and recover on a PostgreSQL store: use "
              "PostgreSQL's own tools)"},
    ErrorSpec{"not_media", K::request, false, "no received media message with that id (or it was pruned)"},
    ErrorSpec{"not_own_message", K::request, false,
              "only the author deletes a message for everyone in a 1:1 chat (ours are looked up among the "
              "messages we sent; give `sender` as our own JID for an older one)"},
    ErrorSpec{"path_not_allowed", K::request, false,
              "the path is not below one of the config's media.allowed_roots (symbolic links resolved)"},
    ErrorSpec{"rate_limited", K::request, true, "HTTP: the token's request rate is over its limit (see Retry-After)"},
    ErrorSpec{"too_large", K::request, false,
              "the request (over 256 KiB) or a field is over its limit; a media file over the media host's limit"},
    ErrorSpec{"unauthorized", K::request, false, "HTTP: no bearer token, or not one of the config's"},
    ErrorSpec{"unknown_command", K::request, false, "no such command"},
    ErrorSpec{"unknown_poll", K::request, false, "no poll with that id is known (neither sent nor received here)"},
    ErrorSpec{"unknown_profile", K::request, false, "no such profile (start/pair create one only when asked)"},
    ErrorSpec{"unknown_webhook", K::request, false, "no webhook of that name"},
    ErrorSpec{"unsupported_media", K::request, false,
              "the file's content cannot be sent as that kind (e.g. a text file as an image)"},
    // The state of the supervisor or the account.
    ErrorSpec{"already_running", K::state, false, "the instance runs already"},
    ErrorSpec{"instance_down", K::state, true,
              "the account's connection worker is dead, restarting or stopped (answered at once; also a command "
              "already waiting on a worker that is then found unresponsive)"},
    ErrorSpec{"instance_running", K::state, false, "stop the instance first"},
    ErrorSpec{"maintenance", K::state, true, "the profile is being checked or recovered"},
    ErrorSpec{"no_store", K::state, false, "the profile has no database yet"},
    ErrorSpec{"not_connected", K::state, true, "the account is not logged in, or not paired"},
    ErrorSpec{"shutting_down", K::state, false, "the supervisor is shutting down"},
    ErrorSpec{"stopping", K::state, true, "the instance is stopping"},
    ErrorSpec{"store_corrupt", K::state, false,
              "the profile's database is damaged: the account is failed until checked and recovered"},
    ErrorSpec{"webhook_exists", K::state, false, "a webhook of that name exists already"},
    // The profile's store.
    ErrorSpec{"busy", K::store, true, "the database's write lock was held past its deadline"},
    ErrorSpec{"constraint", K::store, false, "the database refused a write as inconsistent (a bug: please report)"},
    ErrorSpec{"db_access", K::store, false, "the database file cannot be opened or written (permissions)"},
    ErrorSpec{"db_corrupt", K::store, false, "the database file is damaged (SQLITE_CORRUPT / NOTADB)"},
    ErrorSpec{"db_error", K::store, false, "the database failed otherwise"},
    ErrorSpec{"db_unavailable", K::store, true,
              "the database server cannot be reached (PostgreSQL down or the connection lost): nothing committed"},
    ErrorSpec{"disk_full", K::store, true, "the disk holding the database is full"},
    ErrorSpec{"fenced", K::store, false,
              "a newer owner holds the account's lease: this host may no longer write it (nothing committed)"},
    ErrorSpec{"io_error", K::store, true, "the disk failed a read or a write"},
    ErrorSpec{"savepoint_lost", K::store, true, "a failed step of a transaction could not be undone: nothing committed"},
    // The server and peers.
    ErrorSpec{"bad_group", K::remote, false, "the server's group answer could not be read"},
    ErrorSpec{"bad_usync", K::remote, false, "the server's usync answer could not be read"},
    ErrorSpec{"download_failed", K::remote, true, "no media host could be reached or answered (network, 5xx)"},
    ErrorSpec{"iq_error:", K::remote, false,
              "the server answered the request with an error of that code (groups: 403 not a member, 404 no such "
              "group)"},
    ErrorSpec{"media_corrupt", K::remote, false,
              "the downloaded file failed its checks (MAC, file hashes): nothing was kept"},
    ErrorSpec{"media_expired", K::remote, false,
              "the media host no longer has the file and the sender's phone did not upload it again"},
    ErrorSpec{"no_devices", K::remote, false, "the recipient (or the group) has no devices"},
    ErrorSpec{"privacy_token_required", K::remote, false,
              "the server refused a first message to this contact (463: no privacy token, or a reach-out "
              "limit); not delivered and not resent. Our own token was issued to the contact: it can write first"},
    ErrorSpec{"rejected:", K::remote, false, "the server refused the stanza with that code"},
    ErrorSpec{"session_failed", K::remote, false, "no Signal session could be built for the recipient"},
    ErrorSpec{"timeout", K::remote, true,
              "no answer in time; nothing was sent (a send that was sent but not acknowledged is unknown_outcome)"},
    ErrorSpec{"unknown_contact", K::remote, false,
              "a LID with no known phone number, while the account's chats are not LID-migrated (write to the "
              "phone number); block/unblock: a number with no LID (not on WhatsApp)"},
    ErrorSpec{"upload_failed", K::remote, true,
              "every media host refused or failed the upload (the message was not sent)"},
    // It may have happened.
    ErrorSpec{"unknown_outcome", K::outcome, false,
              "the message left but the server's ack did not come in time (or the connection dropped first): it "
              "may have been delivered. The error carries its `id`; a replay of the same client_id says the same. "
              "Do not resend blindly: look for the id in receipts"},
    // The tree.
    ErrorSpec{"cluster_unavailable", K::internal, true,
              "the profile runs on another host and its command could not travel there (NATS unreachable, no "
              "answer from the owner, or the account is moving between hosts): nothing was done, or for a send "
              "see unknown_outcome"},
    ErrorSpec{"sender_crashed", K::internal, true,
              "the conversation's sender process died: every send of that conversation it held or had queued "
              "fails at once (one whose message had already left is answered by the server's ack)"},
    ErrorSpec{"sender_failed", K::internal, true, "no sender process could be started"},
};

bool matches(const ErrorSpec& e, std::string_view code) {
  if (e.code.ends_with(':')) return code.starts_with(e.code) && code.size() > e.code.size();
  return code == e.code;
}

}  // namespace

std::span<const ErrorSpec> error_codes() { return kErrors; }

const ErrorSpec* find_error(std::string_view code) {
  for (const auto& e : kErrors)
    if (matches(e, code)) return &e;
  return nullptr;
}

std::string_view kind_name(ErrorKind kind) {
  switch (kind) {
    case K::request: return "request";
    case K::state: return "state";
    case K::store: return "store";
    case K::remote: return "remote";
    case K::outcome: return "outcome";
    case K::internal: return "internal";
  }
  return "?";
}

bool is_store_error(std::string_view code) {
  const ErrorSpec* e = find_error(code);
  return e != nullptr && e->kind == K::store;
}

bool is_store_corrupt(std::string_view code) { return code == err::kStoreCorrupt; }

bool is_retryable(std::string_view code) {
  const ErrorSpec* e = find_error(code);
  return e != nullptr && e->retryable;
}

}  // namespace wa::contract
