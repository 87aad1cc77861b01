// One send, end to end, with the network behind two callbacks: resolve the
// devices (cache with a TTL, else usync), make sure every device has a
// Signal session (prekey bundles, installed only if absent), encrypt the
// fan-out, cache the plaintext for retries, relay, and wait for the ack.
// The sender worker plugs its IPC link in; tests plug in a fake server.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "wa/after_ack.hpp"
#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/message/send.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/store.hpp"

namespace wa::message {

// What a send still does once the server answered its stanza: kept with the
// stanza, so that whoever holds the socket can finish the send (settle_ack).
using AfterAck = wa::AfterAck;

// The send's answer, settled: a DM refused with 463 hands the contact our
// token (issue_token) and fails privacy_token_required; another refusal is
// rejected:<code>, an ack for another id bad_ack; the transport's errors
// pass through. On a good ack: a different participant hash drops the
// stale device lists (advisory: the message went out), and a group's
// sender-key recipients are remembered. Store errors pass through; a JID in
// `after` that does not parse is bad_message.
Status settle_ack(store::Store& st, const Result<binary::Node>& ack, const AfterAck& after,
                  const std::function<void(const binary::Jid& peer)>& issue_token);

struct Transport {
  // One iq round trip; the answer may be type="error" (parsers handle it).
  // Errors: not_connected, timeout, rejected:<code>.
  std::function<Result<binary::Node>(const binary::Node& iq)> iq;
  // Sends the stanza and returns the server's <ack class="message">.
  // Errors: not_connected, timeout, rejected:<code>.
  std::function<Result<binary::Node>(const binary::Node& stanza, const std::string& id)> relay;
  // Optional: our privacy token is due to this contact (a DM, once per
  // token bucket; docs/PROTOCOL.md §12.2). Set, the issue is handed over
  // and done after the send, without holding it up; unset, send_message
  // issues it itself over `iq` before it returns.
  std::function<void(const binary::Jid& peer)> issue_token;
  // Optional: instead of relaying and waiting for the ack, hand the stanza
  // and what follows its ack to whoever holds the socket (the sender
  // worker's `done` carries both; the connection worker relays and calls
  // settle_ack). send_message then returns once the stanza is handed off,
  // and its outcome counts only if settle_ack succeeds.
  std::function<Status(const binary::Node& stanza, const AfterAck& after)> hand_off;
};

struct PipelineOptions {
  int64_t device_ttl_s = 3600;  // device lists younger than this are not re-queried
  std::function<int64_t()> now;  // unix seconds; default: the system clock
  IdentityPolicy policy = accept_identity_changes();
};

struct SendOutcome {
  std::string id;
  size_t devices = 0;  // devices the stanza carried a copy for (groups: pairwise SKDMs)
  std::vector<binary::Jid> skipped;           // devices left out (no bundle, bad keys)
  std::vector<binary::Jid> identity_changed;  // contacts whose new identity was accepted
};

// Error codes: not_paired, bad_request, no_devices, session_failed, and
// the transport's not_connected / timeout / rejected:<code>; store errors
// (busy, db_*) pass through.
Result<SendOutcome> send_message(store::Store& st, signal::SignalSession& sig, const Transport& net,
                                 const binary::Jid& to, ByteView message, const PipelineOptions& options = {});

}  // namespace wa::message
