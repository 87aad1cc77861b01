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

#include "wa/binary/jid.hpp"
#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/message/send.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/store.hpp"

namespace wa::message {

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
