// The receive path: every incoming message is decrypted and written to the
// profile's durable inbox before its delivery receipt leaves, so a crash at
// any point either loses nothing (the server redelivers what was never
// receipted) or finds the message already stored (a redelivered id is
// recognised and not stored or announced twice).
//
// Group commit: the messages that arrive in one turn of the event loop (up
// to kMaxBatch) share ONE durable transaction - one fsync instead of one per
// message. Each message runs in its own savepoint inside it, so one that
// cannot be decrypted undoes only its own changes (the Signal ratchet never
// advances without the plaintext being kept). Receipts, retry receipts and
// events leave after the commit, in arrival order; any other stanza first
// flushes the messages before it, so their relative order is kept.
//
// A failure of the STORE (store::is_store_failure: disk full, I/O error,
// corruption, busy past the deadline, a commit or savepoint that failed) is
// not any message's failure: the batch is rolled back whole, nothing of it
// gets a receipt of any kind, and the `store_failed` hook stops receiving
// (the worker closes the socket, so the server keeps every unreceipted
// message queued and delivers it again after the next login).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <uv.h>

#include <nlohmann/json.hpp>

#include "wa/binary/node.hpp"
#include "wa/ipc/timer.hpp"
#include "wa/message/receive.hpp"
#include "wa/message/self.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

// Adds the other identity of an event's `chat` / `sender` when the store
// knows it: `chat_pn` / `sender_pn` next to LIDs, `chat_lid` / `sender_lid`
// next to phone numbers (docs/CONTROL.md, "Both identities").
Status add_alternates(store::Store& st, nlohmann::json& ev);

class Receiver {
 public:
  struct Hooks {
    std::function<Status(const binary::Node&)> send;   // a receipt or an ack to the server
    std::function<void(nlohmann::json)> event;          // public event {"type": ...}
    // Runs fn with the events it raises sent on as one batch (optional).
    std::function<void(const std::function<void()>&)> batch_events;
  };
  struct StoreHooks {
    // The store failed: the connection must end before anything else is
    // answered (the batch in hand was dropped unanswered).
    std::function<void(const Error&)> failed;
    // A batch was committed: the store works.
    std::function<void()> ok;
  };
  // Most messages committed together; a larger burst is split.
  static constexpr size_t kMaxBatch = 256;

  // Queued messages are flushed by a 0 ms timer on `loop`, i.e. on the
  // loop's next turn: every message the current socket reads carried joins
  // the batch first.
  static Result<std::unique_ptr<Receiver>> open(uv_loop_t* loop, const std::string& store_path, Hooks hooks);

  void set_store_hooks(StoreHooks hooks) { store_hooks_ = std::move(hooks); }

  // The receive path's rows of the stanza table (dispatch.hpp; registered
  // by the worker). A message is queued for the batch; a receipt or a
  // notification may refer to the messages before it, so those are flushed
  // first. A receipt becomes a `receipt` event and is acked.
  void on_message(const binary::Node& stanza);
  void on_receipt(const binary::Node& stanza);
  // notification.cpp. The encrypt notification's row: takes one that says
  // a contact's identity changed (<identity/>). Then the row for every
  // other notification: acked.
  bool on_identity_change(const binary::Node& stanza);
  // <notification type="devices">: the user linked or unlinked a device, so
  // its cached device list is dropped before the ack; taken always.
  bool on_devices_changed(const binary::Node& stanza);
  // <notification type="privacy_token">: the tokens a contact issued us,
  // stored durably before the ack (notification.cpp).
  bool on_privacy_token(const binary::Node& stanza);
  // <notification type="contacts"><modify old new old_lid new_lid/>: a
  // number moved to a new account (a new LID). The new mapping replaces the
  // old one before the ack; cached device lists of both are dropped.
  bool on_contacts_changed(const binary::Node& stanza);
  // add_alternates on an event from elsewhere in the worker (best effort).
  void annotate(nlohmann::json& ev) { (void)add_alternates(*store_, ev); }
  void on_notification(const binary::Node& stanza);

  // Decrypts and stores the queued messages in one durable transaction, then
  // sends their receipts and emits their events. Safe to call at any time.
  // Messages still queued when the Receiver is destroyed were neither
  // decrypted nor receipted: the server delivers them again.
  void flush();

 private:
  // What became of one message of a batch inside the transaction.
  struct Outcome {
    Status status;             // failed: its savepoint was undone
    message::Incoming in;
    nlohmann::json event;      // the message event (with seq/ts), if it has content
    bool fresh = false;        // stored now, not a duplicate of an inbox entry
  };

  Receiver(uv_loop_t* loop, std::unique_ptr<store::Store> st, std::unique_ptr<signal::SignalSession> sig,
           Hooks hooks);
  // Decrypt + inbox put of one message, inside the caller's transaction.
  Status decrypt_and_store(const binary::Node& stanza, const message::Self& self, Outcome& out);
  // A notification's store step failed: logged; true (and the receive path
  // halted, the stanza left unacked) when it is the store's own failure.
  bool halted_by(const Status& st, const char* what);
  // After the commit: receipt and events, or the failure answer.
  void finish(const binary::Node& stanza, const message::Self& self, Outcome& out);
  void on_failed(const binary::Node& stanza, const message::Self& self, const Error& err);
  void ack(const binary::Node& stanza);
  // A message the server delivers again (no receipt reached it before a
  // crash) whose plaintext is already in the inbox: its receipt is sent
  // again and true returned; it is not decrypted (its ratchet step is taken).
  // Also true, without an answer, when the lookup itself failed with a store
  // failure (remembered in store_error_ and handled after the batch).
  bool redelivered(const binary::Node& stanza, const message::Self& self);
  // Drops everything unanswered and reports the store failure.
  void halt(const Error& e);

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<signal::SignalSession> sig_;
  Hooks hooks_;
  StoreHooks store_hooks_;
  std::map<std::string, uint32_t> retries_;  // message id -> retry receipts sent
  std::vector<binary::Node> pending_;         // messages of the batch being collected
  std::optional<Error> store_error_;          // a store failure met while answering a batch
  ipc::Timer flush_timer_;
};

}  // namespace wa::connection
